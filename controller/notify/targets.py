"""What each kind of target receives: the HTTP request for one event, secrets included.

Design: pure functions from (target, event) to a Request, so formats are tested without
a network and the notifier only moves bytes. Secrets are read here, at delivery time
(a rotated secret is picked up by the next delivery), from the environment variable or
the file under $ECS_GITOPS_NOTIFY_SECRETS_DIR that the target names; never from the
repository.

  webhook  POST the event's JSON; X-Ecs-Gitops-Signature-256: sha256=HMAC-SHA256(key, body)
           (the same scheme as GitHub's X-Hub-Signature-256), X-Ecs-Gitops-Event and
           X-Ecs-Gitops-Delivery (the event id, equal across retries)
  slack    an incoming-webhook message: `text` (the notification fallback) and `blocks`
  github   POST /repos/{owner}/{repo}/statuses/{sha}: state pending (rollout started),
           success (succeeded) or failure (rolled back, failed, hook failed), context
           ecs-gitops/<service>, target_url the status page; only for revisions that
           are Git commits (40 hex digits) and only for services
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from controller import __version__
from controller.api.notifications import (
    SECRETS_DIR_ENV,
    GithubTarget,
    SecretRef,
    SlackTarget,
    Target,
    WebhookTarget,
)
from controller.errors import SecretUnavailable
from controller.notify.events import Event
from controller.runtime import secrets
from controller.runtime.signature import sign

SIGNATURE_HEADER = "X-Ecs-Gitops-Signature-256"
EVENT_HEADER = "X-Ecs-Gitops-Event"
DELIVERY_HEADER = "X-Ecs-Gitops-Delivery"
USER_AGENT = f"ecs-gitops/{__version__}"
COMMIT = re.compile(r"^[0-9a-f]{40}$")
GITHUB_STATES: dict[str, str] = {
    "rollout_started": "pending",
    "rollout_succeeded": "success",
    "rollout_rolled_back": "failure",
    "rollout_failed": "failure",
    "hook_failed": "failure",
}
ICONS = {
    "rollout_started": ":arrows_counterclockwise:",
    "rollout_succeeded": ":white_check_mark:",
    "rollout_rolled_back": ":rewind:",
    "rollout_failed": ":x:",
    "drift_detected": ":warning:",
    "hook_failed": ":x:",
}


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def read_secret(ref: SecretRef, env: Mapping[str, str] | None = None) -> str:
    """The secret a target names, read now through the one secret reader;
    SecretUnavailable when there is none."""
    env = os.environ if env is None else env
    if ref.env is not None:
        value = secrets.read_secret(ref.env, env)
        if value is None:
            raise SecretUnavailable(f"environment variable {ref.env} is not set")
        return value.decode()
    assert ref.file is not None
    root = env.get(SECRETS_DIR_ENV)
    if not root:
        raise SecretUnavailable(f"{SECRETS_DIR_ENV} is not set: file secrets are disabled")
    base = Path(root).resolve()
    path = (base / ref.file).resolve()
    if not path.is_relative_to(base):
        raise SecretUnavailable(f"secret file {ref.file!r} leaves {SECRETS_DIR_ENV}")
    return secrets.read_secret_file(path, f"secret file {ref.file!r}").decode()


def wants(target: Target, event: Event) -> bool:
    """Whether the target takes this event at all (its filters, and what it can show)."""
    if target.events is not None and event.type not in target.events:
        return False
    if target.services and event.resource.name not in target.services:
        return False
    if isinstance(target, GithubTarget):
        return (
            event.type in GITHUB_STATES
            and event.resource.kind == "EcsService"
            and COMMIT.match(event.revision or "") is not None
        )
    return True


def build_request(
    target: Target,
    event: Event,
    *,
    status_page_url: str | None = None,
    instance: str = "ecs-gitops",
    env: Mapping[str, str] | None = None,
) -> Request:
    """The request delivering `event` to `target`; SecretUnavailable when a secret is missing."""
    if isinstance(target, WebhookTarget):
        return _webhook(target, event, status_page_url, instance, env)
    if isinstance(target, SlackTarget):
        return _slack(target, event, status_page_url, instance, env)
    return _github(target, event, status_page_url, env)


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _webhook(
    target: WebhookTarget,
    event: Event,
    status_page_url: str | None,
    instance: str,
    env: Mapping[str, str] | None,
) -> Request:
    url = target.url if target.url is not None else read_secret(_ref(target.url_from), env)
    payload = {**event.to_json(), "instance": instance}
    if status_page_url:
        payload["statusPageUrl"] = status_page_url
    body = _json(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event.type,
        DELIVERY_HEADER: event.id,
        SIGNATURE_HEADER: sign(read_secret(target.secret_from, env), body),
    }
    return Request("POST", url, body, headers)


def _ref(ref: SecretRef | None) -> SecretRef:
    assert ref is not None  # the model requires url or urlFrom
    return ref


def _escape(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def describe(key_kind: str, cluster: str, name: str) -> str:
    return f"{key_kind} {cluster}/{name}" if cluster else f"{key_kind} {name}"


def _slack(
    target: SlackTarget,
    event: Event,
    status_page_url: str | None,
    instance: str,
    env: Mapping[str, str] | None,
) -> Request:
    url = read_secret(target.url_from, env)
    key = event.resource
    what = describe(key.kind, key.cluster, key.name)
    text = f"{what}: {event.title} at {event.short_revision}: {event.message}"
    head = _escape(what)
    if status_page_url:
        head = f"<{status_page_url}|{head}>"
    details = [f"revision `{_escape(event.short_revision)}`"]
    if event.strategy:
        details.append(f"strategy {_escape(event.strategy)}")
    if event.task_arn:
        details.append(f"task `{_escape(event.task_arn.rsplit('/', 1)[-1])}`")
    details.append(f"ecs-gitops {_escape(instance)}")
    blocks = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{ICONS[event.type]} *{head}*: {event.title}\n{_escape(event.message)}",
            },
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(details)}]},
    ]
    body = _json({"text": text, "blocks": blocks})
    return Request(
        "POST", url, body, {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    )


def github_context(event: Event) -> str:
    return f"ecs-gitops/{event.resource.name}"


def _github(
    target: GithubTarget, event: Event, status_page_url: str | None, env: Mapping[str, str] | None
) -> Request:
    token = read_secret(target.token_from, env)
    url = f"{target.api_url.rstrip('/')}/repos/{target.repository}/statuses/{event.revision}"
    description = f"{event.title}: {event.message}"
    payload: dict[str, str] = {
        "state": GITHUB_STATES[event.type],
        "context": github_context(event),
        "description": description if len(description) <= 140 else description[:139] + "…",
    }
    if status_page_url:
        payload["target_url"] = status_page_url
    headers = {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-GitHub-Api-Version": "2022-11-28",
    }
    return Request("POST", url, _json(payload), headers)
