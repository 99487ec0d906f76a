"""The EcsGitopsNotifications kind: where deploy events go (webhook, Slack, GitHub).

Design: notifications are configured in the source, like everything else a team
changes by commit, as one document of this kind (at most one per source). It is not a
resource: nothing in AWS is created for it, so it has no status of its own and is never
pruned; the loader hands it to the controller beside the resources. Secrets never live
in the repository: a target names an environment variable (only ECS_GITOPS_NOTIFY_*, so
a commit cannot point a target at the controller's own AWS or Git credentials) or a file
relative to the directory in ECS_GITOPS_NOTIFY_SECRETS_DIR, read at delivery time.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import Discriminator, Field, StringConstraints, field_validator, model_validator

from controller.api.base import Model
from controller.api.common import ApiVersion, EcsName, ObjectMeta

NOTIFICATIONS_KIND = "EcsGitopsNotifications"
SECRET_ENV_PREFIX = "ECS_GITOPS_NOTIFY_"
SECRETS_DIR_ENV = "ECS_GITOPS_NOTIFY_SECRETS_DIR"
_ENV_NAME = re.compile(rf"^{SECRET_ENV_PREFIX}[A-Z0-9_]+$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")

EventName = Literal[
    "rollout_started",
    "rollout_succeeded",
    "rollout_rolled_back",
    "rollout_failed",
    "drift_detected",
    "hook_failed",
]
EVENT_NAMES: tuple[str, ...] = get_args(EventName)

Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/?#]+[^\s]*$", max_length=2048)]
TargetName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class SecretRef(Model):
    """Where a target's secret comes from: exactly one of env and file."""

    env: str | None = None
    """An environment variable of the controller whose name starts with ECS_GITOPS_NOTIFY_."""
    file: Annotated[str, StringConstraints(max_length=255)] | None = None
    """A file relative to $ECS_GITOPS_NOTIFY_SECRETS_DIR (a mounted secret, say)."""

    @field_validator("env")
    @classmethod
    def _lent_variable(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                "not a variable the controller lends to targets: use a name "
                f"starting with {SECRET_ENV_PREFIX} (upper case, digits, _)"
            )
        return value

    @field_validator("file")
    @classmethod
    def _relative_file(cls, value: str | None) -> str | None:
        if value is not None and (
            not _FILE_NAME.match(value) or any(p in (".", "..") for p in value.split("/"))
        ):
            raise ValueError(
                f"a secret file is a path inside ${SECRETS_DIR_ENV}: relative, without . or .. "
                "(letters, digits, _ . - and /)"
            )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env and file")
        return self


class _Target(Model):
    name: TargetName
    """Names the target in logs."""
    events: list[EventName] | None = None
    """The events sent to this target; all when unset."""
    services: list[EcsName] = Field(default_factory=list)
    """Only events of these services (by name); all when empty."""


class WebhookTarget(_Target):
    """A JSON POST of the event, signed: X-Ecs-Gitops-Signature-256: sha256=HMAC(body)."""

    type: Literal["webhook"]
    url: Url | None = None
    url_from: SecretRef | None = None
    """The URL itself from a secret, when it carries a credential."""
    secret_from: SecretRef
    """The HMAC-SHA256 key the receiver checks the signature with."""

    @model_validator(mode="after")
    def _one_url(self) -> WebhookTarget:
        if (self.url is None) == (self.url_from is None):
            raise ValueError("give exactly one of url and urlFrom")
        return self


class SlackTarget(_Target):
    """A Slack incoming webhook (the message has a text fallback and blocks)."""

    type: Literal["slack"]
    url_from: SecretRef
    """The incoming-webhook URL: it is the credential, so it never sits in the repository."""


class GithubTarget(_Target):
    """Commit statuses on the deployed commit: pending, then success or failure."""

    type: Literal["github"]
    repository: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    """owner/repo of the commits the source revisions name."""
    token_from: SecretRef
    """A token allowed to write commit statuses (repo:status, or statuses: write)."""
    api_url: Url = "https://api.github.com"
    """GitHub Enterprise: https://HOST/api/v3."""


Target = Annotated[WebhookTarget | SlackTarget | GithubTarget, Discriminator("type")]


class NotificationsSpec(Model):
    status_page_url: Url | None = None
    """The controller's status page as people reach it: the link in every message and
    GitHub's target_url."""
    targets: Annotated[list[Target], Field(min_length=1, max_length=20)]


class EcsGitopsNotifications(Model):
    api_version: ApiVersion
    kind: Literal["EcsGitopsNotifications"]
    metadata: ObjectMeta
    spec: NotificationsSpec

    @model_validator(mode="after")
    def _unique_names(self) -> EcsGitopsNotifications:
        names = [t.name for t in self.spec.targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"target names must be unique: {', '.join(dupes)}")
        return self
