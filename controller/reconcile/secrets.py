"""Secrets a task definition references, their current versions, and rollout on rotation.

Tasks read `secrets` only when they start, so a rotated secret leaves old values running.
For every valueFrom (container `secrets` and log `secretOptions`) this module reads the
current version, never the value: Secrets Manager's DescribeSecret (the version id that
holds the AWSCURRENT label, or the label valueFrom names) and SSM's DescribeParameters (the
parameter's Version, up to 50 names a call). Pinned references (a Secrets Manager
version-id, an SSM `name:3` or `name:label`) cannot rotate and are left out.

The versions join the task set's identity (DesiredTaskSet.from_spec), so a new version
names a new task set and the service rolls out through its normal strategy; nothing is
kept in memory but a short cache, so several services sharing a secret, and the quick
requeues of a rollout, cost one read per secret. A secret that does not exist is left
out of the versions (preflight reports it); any other failure to read raises, so a
throttled read can never look like a rotation.

Each task set the rollout creates records a digest per secret name (SECRETS_TAG, never a
version or value), so when the next task set differs only because a version moved, the
rollout steps name the secrets (rotated_secrets) in its status, log and events. On ECS's
own controller there is no task set: the service carries SECRETS_TAG for the deployment it
asked for, and a rotation is one UpdateService with forceNewDeployment (deployers/ecs.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from dataclasses import dataclass, field
from typing import Literal

from controller.api.common import TAG_PREFIX
from controller.api.ecs_shapes import TaskDefinitionInput
from controller.api.service import EcsServiceSpec
from controller.aws.client import AwsClients
from controller.aws.lookups import Lookups
from controller.aws.models import LiveService
from controller.reconcile.context import Context
from controller.reconcile.taskset import DesiredTaskSet

SECRETS_TAG = f"{TAG_PREFIX}secret-versions"
"""Task set (or, type ECS, service) tag: `name=digest` per secret, so a later rollout can
say which one rotated."""
CACHE_SECONDS = 15.0
DocPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SecretRef:
    """One valueFrom, taken apart."""

    value_from: str
    store: Literal["secretsmanager", "ssm"]
    region: str
    lookup: str
    """Secrets Manager: the secret's ARN (without the json-key/stage/id suffix) or name;
    SSM: the parameter name."""
    name: str
    """What a person calls it: the secret name (without ARN's random suffix) or parameter name."""
    json_key: str | None = None
    version_stage: str | None = None
    version_id: str | None = None
    pinned: bool = False
    candidates: tuple[str, ...] = ()
    """SSM: the names the parameter may have (an ARN loses a leading '/')."""


def parse_value_from(value_from: str, region: str) -> SecretRef:
    """valueFrom as ECS reads it: a Secrets Manager ARN (optionally
    `:json-key:version-stage:version-id`), an SSM parameter ARN, or a parameter name."""
    parts = value_from.split(":")
    if value_from.startswith("arn:") and len(parts) >= 7 and parts[2] == "secretsmanager":
        arn = ":".join(parts[:7])
        extra = [*parts[7:], "", "", ""]
        secret = parts[6]
        name = secret[:-7] if len(secret) > 7 and secret[-7] == "-" else secret
        return SecretRef(
            value_from,
            "secretsmanager",
            parts[3] or region,
            arn,
            name,
            json_key=extra[0] or None,
            version_stage=extra[1] or None,
            version_id=extra[2] or None,
            pinned=bool(extra[2]),
        )
    ref_region = region
    rest = value_from
    if value_from.startswith("arn:") and len(parts) >= 6 and parts[2] == "ssm":
        ref_region = parts[3] or region
        rest = ":".join(parts[5:]).removeprefix("parameter")
    rest, _, selector = rest.partition(":")
    if value_from.startswith("arn:"):
        bare = rest.lstrip("/")
        candidates = (f"/{bare}",) if "/" in bare else (bare, f"/{bare}")
    else:
        candidates = (rest,)
    return SecretRef(
        value_from,
        "ssm",
        ref_region,
        candidates[0],
        candidates[0],
        pinned=bool(selector),
        candidates=candidates,
    )


def referenced_secrets(td: TaskDefinitionInput) -> list[tuple[DocPath, str]]:
    """(path into the task definition, valueFrom) of every secret its containers read."""
    found: list[tuple[DocPath, str]] = []
    for i, c in enumerate(td.container_definitions):
        for j, s in enumerate(c.secrets or []):
            found.append((("containerDefinitions", i, "secrets", j, "valueFrom"), s.value_from))
        options = c.log_configuration.secret_options if c.log_configuration else None
        for j, s in enumerate(options or []):
            path: DocPath = ("containerDefinitions", i, "logConfiguration", "secretOptions", j)
            found.append(((*path, "valueFrom"), s.value_from))
    return found


def tracks_rotation(spec: EcsServiceSpec) -> bool:
    return spec.sync_policy.rollout_on_secret_rotation and bool(
        referenced_secrets(spec.task_definition_input)
    )


@dataclass
class _Cache:
    versions: dict[tuple[str, str], tuple[float, str | None]] = field(default_factory=dict)
    """(region, valueFrom) -> (when read, version or None when missing)."""


_caches: weakref.WeakKeyDictionary[AwsClients, _Cache] = weakref.WeakKeyDictionary()


def _cache(aws: AwsClients) -> _Cache:
    cache = _caches.get(aws)
    if cache is None:
        cache = _caches[aws] = _Cache()
    return cache


async def secret_versions(ctx: Context, region: str, td: TaskDefinitionInput) -> dict[str, str]:
    """valueFrom -> current version, for every rotatable secret td references that exists."""
    refs = {v: parse_value_from(v, region) for _, v in referenced_secrets(td)}
    refs = {v: r for v, r in refs.items() if not r.pinned}
    cache = _cache(ctx.aws)
    now = time.monotonic()
    out: dict[str, str] = {}
    stale: list[SecretRef] = []
    for value_from, ref in refs.items():
        hit = cache.versions.get((region, value_from))
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            if hit[1] is not None:
                out[value_from] = hit[1]
        else:
            stale.append(ref)
    fresh = await _read_versions(Lookups(ctx.aws, region), stale)
    for ref in stale:
        version = fresh.get(ref.value_from)
        key = (region, ref.value_from)
        cache.versions[key] = (now, version)
        if version is None:
            continue
        out[ref.value_from] = version
    return out


async def _read_versions(lookups: Lookups, refs: list[SecretRef]) -> dict[str, str]:
    manager = {(r.region, r.lookup) for r in refs if r.store == "secretsmanager"}
    infos = await asyncio.gather(*(lookups.secret(lookup, reg) for reg, lookup in manager))
    secrets = dict(zip(manager, infos, strict=True))
    by_region: dict[str, list[str]] = {}
    for r in refs:
        if r.store == "ssm":
            by_region.setdefault(r.region, []).extend(r.candidates)
    found = await asyncio.gather(
        *(lookups.parameters(names, reg) for reg, names in by_region.items())
    )
    params = dict(zip(by_region, found, strict=True))
    out: dict[str, str] = {}
    for r in refs:
        if r.store == "secretsmanager":
            info = secrets[(r.region, r.lookup)]
            version = info.version_with_stage(r.version_stage or "AWSCURRENT") if info else None
        else:
            param = next((params[r.region][n] for n in r.candidates if n in params[r.region]), None)
            version = str(param.version) if param else None
        if version is not None:
            out[r.value_from] = version
    return out


async def desired_task_set(
    ctx: Context, region: str, spec: EcsServiceSpec, live: LiveService | None
) -> DesiredTaskSet:
    """The task set the spec asks for, with its secrets' versions folded in when tracked.

    Versions are read only when they can matter: the service exists (a new service gets
    its task set on the next reconcile) and its PRIMARY set does not carry the
    content-only id (such a set is adopted whatever the versions are)."""
    want = DesiredTaskSet.from_spec(spec, identity=ctx.identity)
    if live is None:
        return want
    primary = live.primary_task_set
    content_only = primary is not None and want.adopting([primary]).matches(primary)
    if tracks_rotation(spec) and not content_only:
        versions = await secret_versions(ctx, region, spec.task_definition_input)
        want = DesiredTaskSet.from_spec(spec, versions, ctx.identity)
    return want.adopting(live.task_sets)


def _digests(versions: dict[str, str], region: str) -> dict[str, str]:
    per_name: dict[str, list[str]] = {}
    for value_from, version in sorted(versions.items()):
        name = parse_value_from(value_from, region).name
        per_name.setdefault(name, []).append(f"{value_from}@{version}")
    return {
        name: hashlib.sha256("\n".join(items).encode()).hexdigest()[:8]
        for name, items in per_name.items()
    }


def secret_versions_tag(versions: dict[str, str], region: str) -> dict[str, str]:
    """The SECRETS_TAG for a task set created with these versions ({} when none).
    Names whose entry would pass the 256-character tag limit are left out."""
    value = ""
    for name, digest in sorted(_digests(versions, region).items()):
        entry = f"{name}={digest}"
        if len(value) + len(entry) + 1 > 256:
            break
        value = f"{value} {entry}" if value else entry
    return {SECRETS_TAG: value} if value else {}


def rotated_secrets(old_tags: dict[str, str], versions: dict[str, str], region: str) -> list[str]:
    """The names of the secrets recorded on the old task set (its SECRETS_TAG) that now
    have another version, sorted; [] when none did or nothing was recorded."""
    recorded = old_tags.get(SECRETS_TAG)
    if not recorded:
        return []
    old = dict(entry.rpartition("=")[::2] for entry in recorded.split())
    new = _digests(versions, region)
    return sorted(n for n, d in new.items() if n in old and old[n] != d)


def rotation_reason(old_tags: dict[str, str], versions: dict[str, str], region: str) -> str | None:
    """ "secret rotated: <names>" when a secret recorded on the old task set (its
    SECRETS_TAG) now has another version; None otherwise (never a value)."""
    rotated = rotated_secrets(old_tags, versions, region)
    return f"secret rotated: {', '.join(rotated)}" if rotated else None
