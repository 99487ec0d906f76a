"""Does a role's identity policy allow an action on a resource? A deliberately small IAM
evaluator for two preflight checks of the usual first-deploy failures: an execution role that
cannot pull the image (CannotPullContainerError) or read a secret (secrets not injected).

Design: statements of the role's attached and inline policies are matched the way IAM
matches them (Action/NotAction case-insensitive with * and ? wildcards, Resource/
NotResource case-sensitive); an explicit Deny without a Condition wins over any Allow.
What it cannot see it does not judge: a statement with a Condition counts as allowing
(the condition may hold), and a policy that could not be read makes the answer
"unknown" instead of "denied". Permission boundaries, SCPs and resource policies are not
evaluated, which errs on the side of allowing, except that a grant made only in a
resource policy (a repository or secret policy naming the role) is not seen.
The AWS managed policies an execution role usually carries are known by ARN, so the
common case costs no GetPolicyVersion call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

Verdict = Literal["allowed", "denied", "unknown"]
EXECUTION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
KNOWN_POLICIES: dict[str, dict[str, Any]] = {
    EXECUTION_POLICY_ARN: {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "ecr:GetAuthorizationToken",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                ],
                "Resource": "*",
            }
        ],
    },
    "arn:aws:iam::aws:policy/AdministratorAccess": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    },
}


@cache
def _pattern(glob: str, case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", 0 if case else re.IGNORECASE)


def _list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _matches(statement: dict[str, Any], key: str, value: str, case: bool) -> bool:
    if key in statement:
        return any(_pattern(g, case).match(value) for g in _list(statement[key]))
    negated = f"Not{key}"
    if negated in statement:
        return not any(_pattern(g, case).match(value) for g in _list(statement[negated]))
    return key == "Resource"  # no Resource element: not valid in identity policies; lenient


def _statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if isinstance(s, dict)]


@dataclass(frozen=True)
class RolePolicies:
    """A role's identity policies: documents, and whether any could not be read."""

    role: str
    documents: tuple[Any, ...]
    incomplete: bool = False

    @classmethod
    def from_lookup(cls, role: str, policies: list[tuple[str, Any]]) -> RolePolicies:
        docs: list[Any] = []
        incomplete = False
        for name, document in policies:
            document = KNOWN_POLICIES.get(name, document)
            if document is None:
                incomplete = True
            else:
                docs.append(document)
        return cls(role, tuple(docs), incomplete)

    def verdict(self, action: str, resource: str) -> Verdict:
        allowed = False
        for document in self.documents:
            for st in _statements(document):
                if not (
                    _matches(st, "Action", action, False)
                    and _matches(st, "Resource", resource, True)
                ):
                    continue
                if st.get("Effect") == "Deny" and not st.get("Condition"):
                    return "denied"
                if st.get("Effect") == "Allow":
                    allowed = True
        if allowed:
            return "allowed"
        return "unknown" if self.incomplete else "denied"

    def missing(self, actions: list[str], resource: str) -> tuple[list[str], bool]:
        """The actions not allowed on resource, and whether that is certain."""
        verdicts = {a: self.verdict(a, resource) for a in actions}
        missing = [a for a, v in verdicts.items() if v != "allowed"]
        return missing, all(verdicts[a] == "denied" for a in missing)


def repository_arn(account: str, region: str, repository: str, partition: str = "aws") -> str:
    return f"arn:{partition}:ecr:{region}:{account}:repository/{repository}"


def log_group_arn(account: str, region: str, group: str, partition: str = "aws") -> str:
    return f"arn:{partition}:logs:{region}:{account}:log-group:{group}:*"


def parameter_arn(account: str, region: str, name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def arn_parts(arn: str) -> tuple[str, str] | None:
    """(partition, account) of an ARN."""
    parts = arn.split(":")
    return (parts[1], parts[4]) if len(parts) >= 6 and parts[0] == "arn" else None
