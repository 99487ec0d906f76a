"""Read-only lookups for preflight checks and secret versions, as typed values.

Design: each method answers "does it exist, and what is it" with as few reads as the
API allows (DescribeParameters takes 50 names, DescribeSubnets and
DescribeSecurityGroups one filtered call for all ids) and returns None, False or a
smaller dict for what does not exist: every service spells "not found" its own way
(ImageNotFoundException, NoSuchEntity, TargetGroupNotFound, ...) and that knowledge stays
here. Other failures raise the AwsError tree, so callers can tell "missing" from "could
not look". Secret and parameter values are never read: DescribeSecret and
DescribeParameters return metadata only (version ids and numbers).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Literal

from controller.aws.client import AwsClients
from controller.errors import AwsError, AwsNotFound

NOT_FOUND_CODES = frozenset(
    {
        "ImageNotFoundException",
        "RepositoryNotFoundException",
        "NoSuchEntity",
        "TargetGroupNotFound",
        "ResourceNotFoundException",
        "ParameterNotFound",
        "InvalidSubnetID.NotFound",
        "InvalidGroup.NotFound",
    }
)
ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"
)
ImageState = Literal["present", "no-repository", "no-image"]


def _missing(exc: AwsError) -> bool:
    return isinstance(exc, AwsNotFound) or exc.code in NOT_FOUND_CODES


@dataclass(frozen=True)
class EcrImage:
    """An image reference that names an ECR registry."""

    account: str
    region: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def image_id(self) -> dict[str, str]:
        return {"imageDigest": self.digest} if self.digest else {"imageTag": self.tag or "latest"}

    @property
    def version(self) -> str:
        return self.digest or f"tag {self.tag or 'latest'}"


def parse_ecr_image(image: str) -> EcrImage | None:
    """The registry, repository and tag (or digest) of an ECR image; None for others."""
    host, _, rest = image.partition("/")
    match = ECR_HOST.match(host)
    if match is None or not rest:
        return None
    digest: str | None = None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
    tag: str | None = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, _, tag = rest.rpartition(":")
    return EcrImage(match["account"], match["region"], rest, tag, digest)


@dataclass(frozen=True)
class RoleInfo:
    name: str
    arn: str
    trusted_services: frozenset[str]
    """Service principals an Allow statement of the trust policy lets assume the role."""


@dataclass(frozen=True)
class SecretInfo:
    arn: str
    name: str
    versions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Version id -> its staging labels (AWSCURRENT, AWSPREVIOUS, ...)."""
    scheduled_for_deletion: bool = False

    def version_with_stage(self, stage: str) -> str | None:
        return next((v for v, stages in self.versions.items() if stage in stages), None)


@dataclass(frozen=True)
class ParameterInfo:
    name: str
    version: int
    type: str


@dataclass(frozen=True)
class TargetGroupInfo:
    arn: str
    name: str
    target_type: str
    protocol: str | None
    port: int | None
    vpc_id: str | None
    health_check_port: str | None


def trusted_services(document: Any) -> frozenset[str]:
    """Service principals allowed sts:AssumeRole by a trust policy (a dict, or the
    URL-encoded JSON text IAM returns when the SDK does not decode it)."""
    if isinstance(document, str):
        try:
            document = json.loads(urllib.parse.unquote(document))
        except ValueError:
            return frozenset()
    if not isinstance(document, dict):
        return frozenset()
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    found: set[str] = set()
    for st in statements:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a.lower() in ("sts:assumerole", "sts:*", "*") for a in actions):
            continue
        principal = st.get("Principal", {})
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        found.update([services] if isinstance(services, str) else services)
    return frozenset(found)


class Lookups:
    """Read-only lookups; `region` is the default for those that are regional."""

    def __init__(self, aws: AwsClients, region: str | None = None) -> None:
        self.aws = aws
        self.region = region or aws.settings.region

    async def image(self, ref: EcrImage) -> ImageState:
        try:
            await self.aws.call(
                "ecr",
                "DescribeImages",
                ref.region,
                registryId=ref.account,
                repositoryName=ref.repository,
                imageIds=[ref.image_id],
            )
        except AwsError as exc:
            if exc.code == "RepositoryNotFoundException":
                return "no-repository"
            if _missing(exc):
                return "no-image"
            raise
        return "present"

    async def role(self, name: str) -> RoleInfo | None:
        try:
            resp = await self.aws.call("iam", "GetRole", self.region, RoleName=name)
        except AwsError as exc:
            if _missing(exc):
                return None
            raise
        role = resp["Role"]
        return RoleInfo(
            str(role["RoleName"]),
            str(role["Arn"]),
            trusted_services(role.get("AssumeRolePolicyDocument")),
        )

    async def role_policies(self, name: str) -> list[tuple[str, Any]]:
        """(policy ARN or inline name, its document) for the role's identity policies.
        An attached policy that cannot be read is returned with the document None."""
        out: list[tuple[str, Any]] = []
        attached = await self._pages("ListAttachedRolePolicies", "AttachedPolicies", RoleName=name)
        for item in attached:
            arn = str(item["PolicyArn"])
            try:
                policy = (await self.aws.call("iam", "GetPolicy", self.region, PolicyArn=arn))[
                    "Policy"
                ]
                version = await self.aws.call(
                    "iam",
                    "GetPolicyVersion",
                    self.region,
                    PolicyArn=arn,
                    VersionId=policy["DefaultVersionId"],
                )
                out.append((arn, _document(version["PolicyVersion"].get("Document"))))
            except AwsError as exc:
                if not _missing(exc) and exc.code != "AccessDenied":
                    raise
                out.append((arn, None))
        for inline in await self._pages("ListRolePolicies", "PolicyNames", RoleName=name):
            resp = await self.aws.call(
                "iam", "GetRolePolicy", self.region, RoleName=name, PolicyName=str(inline)
            )
            out.append((str(inline), _document(resp.get("PolicyDocument"))))
        return out

    async def _pages(self, operation: str, key: str, **params: Any) -> list[Any]:
        items: list[Any] = []
        while True:
            resp = await self.aws.call("iam", operation, self.region, **params)
            items += resp.get(key, [])
            if not resp.get("IsTruncated"):
                return items
            params["Marker"] = resp["Marker"]

    async def secret(self, secret_id: str, region: str | None = None) -> SecretInfo | None:
        try:
            resp = await self.aws.call(
                "secretsmanager", "DescribeSecret", region or self.region, SecretId=secret_id
            )
        except AwsError as exc:
            if _missing(exc):
                return None
            raise
        versions = {
            str(v): tuple(str(s) for s in stages)
            for v, stages in (resp.get("VersionIdsToStages") or {}).items()
        }
        return SecretInfo(
            str(resp["ARN"]),
            str(resp["Name"]),
            versions,
            scheduled_for_deletion=resp.get("DeletedDate") is not None,
        )

    async def parameters(
        self, names: list[str], region: str | None = None
    ) -> dict[str, ParameterInfo]:
        """The parameters of those names that exist (DescribeParameters, 50 names a call)."""
        found: dict[str, ParameterInfo] = {}
        unique = sorted(set(names))
        for i in range(0, len(unique), 50):
            params: dict[str, Any] = {
                "ParameterFilters": [
                    {"Key": "Name", "Option": "Equals", "Values": unique[i : i + 50]}
                ],
                "MaxResults": 50,
            }
            while True:
                resp = await self.aws.call(
                    "ssm", "DescribeParameters", region or self.region, **params
                )
                for raw in resp.get("Parameters", []):
                    info = ParameterInfo(
                        str(raw["Name"]), int(raw.get("Version", 0)), str(raw.get("Type", ""))
                    )
                    found[info.name] = info
                token = resp.get("NextToken")
                if not token:
                    break
                params["NextToken"] = token
        return found

    async def log_group_exists(self, name: str, region: str | None = None) -> bool:
        params: dict[str, Any] = {"logGroupNamePrefix": name}
        while True:
            resp = await self.aws.call("logs", "DescribeLogGroups", region or self.region, **params)
            if any(g.get("logGroupName") == name for g in resp.get("logGroups", [])):
                return True
            token = resp.get("nextToken")
            if not token:
                return False
            params["nextToken"] = token

    async def target_group(self, arn: str, region: str | None = None) -> TargetGroupInfo | None:
        try:
            resp = await self.aws.call(
                "elbv2", "DescribeTargetGroups", region or self.region, TargetGroupArns=[arn]
            )
        except AwsError as exc:
            if _missing(exc) or exc.code == "ValidationError":
                return None
            raise
        groups = resp.get("TargetGroups", [])
        if not groups:
            return None
        tg = groups[0]
        return TargetGroupInfo(
            str(tg["TargetGroupArn"]),
            str(tg.get("TargetGroupName", "")),
            str(tg.get("TargetType", "instance")),
            tg.get("Protocol"),
            tg.get("Port"),
            tg.get("VpcId"),
            tg.get("HealthCheckPort"),
        )

    async def subnets(self, ids: list[str], region: str | None = None) -> dict[str, str]:
        """Subnet id -> VPC id, for the ids that exist."""
        if not ids:
            return {}
        resp = await self.aws.call(
            "ec2",
            "DescribeSubnets",
            region or self.region,
            Filters=[{"Name": "subnet-id", "Values": sorted(set(ids))}],
        )
        return {str(s["SubnetId"]): str(s["VpcId"]) for s in resp.get("Subnets", [])}

    async def security_groups(self, ids: list[str], region: str | None = None) -> dict[str, str]:
        """Security group id -> VPC id, for the ids that exist."""
        if not ids:
            return {}
        resp = await self.aws.call(
            "ec2",
            "DescribeSecurityGroups",
            region or self.region,
            Filters=[{"Name": "group-id", "Values": sorted(set(ids))}],
        )
        return {str(g["GroupId"]): str(g.get("VpcId", "")) for g in resp.get("SecurityGroups", [])}


def _document(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(urllib.parse.unquote(value))
        except ValueError:
            return None
    return value
