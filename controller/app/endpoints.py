"""What the controller shows and accepts over HTTP (observability.http serves it).

The status snapshot (/api/v1/status and the page), readiness (/readyz), the push
webhook (HMAC-checked, then an immediate fetch) and the promote / abort actions of a
running canary (leader only; the key is queued at ACTION_PRIORITY so the next step
comes at once). Functions of the Controller, kept apart from its reconcile loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import structlog

from controller.api import EcsService, ResourceKey
from controller.api.status import ResourceStatus
from controller.app.queueing import ACTION_PRIORITY
from controller.app.settings import RunSettings
from controller.errors import AwsError, ReconcileError, SecretUnavailable
from controller.loader import Loaded, LoadResult
from controller.observability.http import HttpHooks
from controller.reconcile.actions import abort, promote
from controller.reconcile.context import Context
from controller.runtime import WorkQueue
from controller.runtime.election import LeaderElector
from controller.sources.base import Artifact, Source
from controller.sources.push import load_webhook_secret, verify_signature

log = structlog.get_logger(__name__)


class ControllerView(Protocol):
    """What the HTTP layer sees of the running controller: read-only state, and the two
    things a request may cause (wake the source; queue a key after promote or abort).
    The manager satisfies it; nothing here imports the manager."""

    @property
    def settings(self) -> RunSettings: ...
    @property
    def elector(self) -> LeaderElector | None: ...
    @property
    def local_api_token(self) -> bytes | None: ...
    @property
    def source(self) -> Source: ...
    @property
    def ctx(self) -> Context: ...
    @property
    def queue(self) -> WorkQueue[ResourceKey]: ...
    @property
    def artifact(self) -> Artifact | None: ...
    @property
    def load(self) -> LoadResult | None: ...
    @property
    def desired(self) -> Mapping[ResourceKey, Loaded]: ...
    @property
    def statuses(self) -> Mapping[ResourceKey, ResourceStatus]: ...
    @property
    def commits(self) -> Mapping[str, Mapping[str, str | None]]: ...
    @property
    def prune_blocked(self) -> str | None: ...
    @property
    def source_error(self) -> str | None: ...
    @property
    def fetched_at(self) -> datetime | None: ...
    @property
    def aws_error(self) -> str | None: ...
    def render_metrics(self, accept: str) -> tuple[bytes, str]: ...


def snapshot(ctl: ControllerView) -> dict[str, Any]:
    artifact = ctl.artifact
    load = ctl.load
    return {
        "instance": ctl.settings.instance,
        "banner": ctl.settings.banner,
        # an endpoint of its own (an emulator, LocalStack): no link to the real console
        "endpoint": ctl.ctx.aws.settings.endpoint_url,
        "commits": dict(ctl.commits),
        "source": {
            "source": ctl.source.display,
            "revision": artifact.revision if artifact else None,
            "commitTime": artifact.time.isoformat() if artifact and artifact.time else None,
            "commitSubject": artifact.subject if artifact else None,
            "commitAuthor": artifact.author if artifact else None,
            "fetchedAt": ctl.fetched_at.isoformat() if ctl.fetched_at else None,
            "error": ctl.source_error,
            "pruneBlocked": ctl.prune_blocked,
            "diagnostics": [str(d) for d in load.diagnostics] if load else [],
        },
        "resources": [
            ctl.statuses[k].to_api()
            for k in sorted(ctl.statuses, key=lambda k: (k.kind != "EcsCluster", k))
        ],
    }


def readiness(ctl: ControllerView) -> tuple[bool, str]:
    if ctl.artifact is None:
        return False, f"source not loaded yet: {ctl.source_error or 'fetching'}"
    if ctl.aws_error is not None:
        return False, f"AWS not reachable: {ctl.aws_error}"
    return True, "ok"


async def webhook(ctl: ControllerView, body: bytes, headers: dict[str, str]) -> int:
    """A push webhook; the secret is read for each request, so a rotation needs no restart."""
    try:
        secret = load_webhook_secret()
    except SecretUnavailable as exc:
        log.error("webhook_refused", reason=f"webhook secret unreadable: {exc}")
        return 503
    if secret is None:
        log.warning("webhook_refused", reason="no webhook secret configured")
        return 403
    if not verify_signature(secret, body, headers.get("x-hub-signature-256")):
        log.warning("webhook_refused", reason="missing or bad signature")
        return 401
    log.info("webhook_accepted", github_event=headers.get("x-github-event"))
    ctl.source.trigger()
    return 202


async def action(
    ctl: ControllerView, name: str, verb: str, cluster: str | None
) -> tuple[int, dict[str, Any]]:
    """promote / abort a rollout of the EcsService `name` (from the HTTP API)."""
    if ctl.elector is not None and not ctl.elector.is_leader:
        return 503, {"error": f"not the leader; ask {ctl.elector.leader or 'the leader'}"}
    matches = [
        item
        for key, item in ctl.desired.items()
        if key.kind == "EcsService"
        and key.name == name
        and (cluster is None or key.cluster == cluster)
    ]
    if not matches:
        return 404, {"error": f"no EcsService {name!r} in the source"}
    if len(matches) > 1:
        return 409, {"error": f"{name!r} is in several clusters: pass --cluster"}
    service = matches[0].resource
    assert isinstance(service, EcsService)
    try:
        message = await (promote if verb == "promote" else abort)(service, ctl.ctx)
    except ReconcileError as exc:
        return 409, {"error": str(exc)}
    except AwsError as exc:
        return 502, {"error": str(exc)}
    log.info("rollout_action", action=verb, service=name)
    ctl.queue.add(matches[0].key, priority=ACTION_PRIORITY)
    return 202, {"message": message}


def hooks_for(ctl: ControllerView) -> HttpHooks:
    return HttpHooks(
        status=lambda: snapshot(ctl),
        ready=lambda: readiness(ctl),
        webhook=lambda body, headers: webhook(ctl, body, headers),
        metrics=ctl.render_metrics,
        action=lambda name, verb, cluster: action(ctl, name, verb, cluster),
        local_token=ctl.local_api_token,
    )
