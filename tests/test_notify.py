"""Notifications end to end: a local HTTP server on 127.0.0.1 stands in for the webhook
receiver, Slack's incoming webhook and GitHub's commit-status API; the Notifier delivers
over real HTTP. The GitHub sequence of a good and of a rolled-back commit is driven by the
events an actual rollout on the emulated AWS produces."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web

from controller.api import ResourceKey
from controller.api.notifications import EcsGitopsNotifications
from controller.aws.client import AwsClients, AwsSettings
from controller.loader import load_tree
from controller.notify import (
    Event,
    HttpTransport,
    Notifier,
    Request,
    RetryPolicy,
    from_rollout,
    verify,
)
from controller.notify.destinations import DestinationRefused, allowed_hosts, check_address
from controller.notify.targets import SIGNATURE_HEADER, build_request
from controller.reconcile.context import Context
from controller.reconcile.result import RolloutEvent
from controller.reconcile.sync import sync_all
from controller.sources.directory import DirectoryTree
from tests.emulated_ecs import write_web

SHA = "0123456789abcdef0123456789abcdef01234567"
SHA2 = "fedcba9876543210fedcba9876543210fedcba98"
KEY = ResourceKey("EcsService", "", "prod-cluster", "web")
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ENV = {
    "ECS_GITOPS_NOTIFY_HOOK_SECRET": "s3cret",
    "ECS_GITOPS_NOTIFY_GITHUB_TOKEN": "ghp_test",
}


@dataclass
class Stand:
    """The stand-in endpoints: every request kept; scripted statuses per path."""

    url: str = ""
    requests: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)
    script: dict[str, list[int]] = field(default_factory=dict)
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    def got(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return self.requests.get(path, [])

    def bodies(self, path: str) -> list[Any]:
        return [json.loads(body) for _, body in self.got(path)]


@pytest.fixture
async def stand() -> AsyncIterator[Stand]:
    stand = Stand()
    stand.gate.set()

    async def handle(request: web.Request) -> web.Response:
        await stand.gate.wait()
        body = await request.read()
        stand.requests.setdefault(request.path, []).append((dict(request.headers), body))
        statuses = stand.script.get(request.path)
        status = statuses.pop(0) if statuses else 201
        return web.json_response({}, status=status)

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    stand.url = f"http://127.0.0.1:{port}"
    try:
        yield stand
    finally:
        stand.gate.set()  # release handlers a test left waiting
        await runner.cleanup()


def config(stand: Stand, **webhook: Any) -> EcsGitopsNotifications:
    return EcsGitopsNotifications.model_validate(
        {
            "apiVersion": "ecs-gitops.dev/v1alpha1",
            "kind": "EcsGitopsNotifications",
            "metadata": {"name": "deploys"},
            "spec": {
                "statusPageUrl": "https://ecs-gitops.example.com/",
                "targets": [
                    {
                        "type": "webhook",
                        "name": "audit",
                        "url": f"{stand.url}/hook",
                        "secretFrom": {"env": "ECS_GITOPS_NOTIFY_HOOK_SECRET"},
                        **webhook,
                    },
                    {"type": "slack", "name": "team", "urlFrom": {"file": "slack-url"}},
                    {
                        "type": "github",
                        "name": "commits",
                        "repository": "acme/deploy",
                        "apiUrl": f"{stand.url}/gh",
                        "tokenFrom": {"env": "ECS_GITOPS_NOTIFY_GITHUB_TOKEN"},
                    },
                ],
            },
        }
    )


def secrets_env(stand: Stand, tmp_path: Path) -> dict[str, str]:
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "slack-url").write_text(f"{stand.url}/slack/T000/B000/XXXX\n")
    return {
        **ENV,
        "ECS_GITOPS_NOTIFY_SECRETS_DIR": str(secrets),
        "ECS_GITOPS_NOTIFY_ALLOWED_HOSTS": stand.url,  # http://127.0.0.1:PORT: an internal receiver
    }


class Counted:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, target_type: str, event: str, result: str) -> None:
        self.calls.append((target_type, event, result))


def every_event() -> list[Event]:
    base = {"resource": KEY, "revision": SHA, "at": NOW}
    return [
        Event("rollout_started", message="created task set ecs-svc/1", strategy="canary", **base),
        Event("rollout_succeeded", message="web:2 is PRIMARY", strategy="canary", **base),
        Event("rollout_rolled_back", message="Essential container in task exited", **base),
        Event("rollout_failed", message="progress deadline exceeded", **base),
        Event("drift_detected", message="desiredCount differs", **base),
        Event(
            "hook_failed",
            message="preSync hook migrate failed: exit codes: migrate=1",
            hook="migrate",
            task_arn="arn:aws:ecs:ap-northeast-2:123456789012:task/prod-cluster/abc",
            **base,
        ),
    ]


async def test_each_event_reaches_each_target(stand: Stand, tmp_path: Path) -> None:
    counted = Counted()
    notifier = Notifier(
        config(stand), env=secrets_env(stand, tmp_path), on_delivery=counted, instance="prod"
    )
    events = every_event()
    for event in events:
        await notifier.notify(event)
    await asyncio.wait_for(notifier.drain(), 10)
    await notifier.aclose()

    # webhook: every event, in order, each body signed with the key from the environment
    hooks = stand.got("/hook")
    assert [h["X-Ecs-Gitops-Event"] for h, _ in hooks] == [e.type for e in events]
    for (headers, body), event in zip(hooks, events, strict=True):
        assert verify("s3cret", body, headers[SIGNATURE_HEADER])
        assert headers[SIGNATURE_HEADER].startswith("sha256=")
        assert not verify("wrong", body, headers[SIGNATURE_HEADER])
        assert headers["X-Ecs-Gitops-Delivery"] == event.id
        payload = json.loads(body)
        assert payload["event"] == event.type
        assert payload["resource"] == {
            "kind": "EcsService",
            "cluster": "prod-cluster",
            "name": "web",
            "region": "",
        }
        assert payload["revision"] == SHA
        assert payload["instance"] == "prod"
        assert payload["statusPageUrl"] == "https://ecs-gitops.example.com/"
    assert json.loads(hooks[-1][1])["taskArn"].endswith("task/prod-cluster/abc")

    # slack: the URL came from the secret file; a text fallback and blocks
    slack = stand.bodies("/slack/T000/B000/XXXX")
    assert len(slack) == len(events)
    for message, event in zip(slack, events, strict=True):
        assert event.title in message["text"]
        assert message["blocks"][0]["type"] == "section"
        assert (
            "<https://ecs-gitops.example.com/|EcsService prod-cluster/web>"
            in (message["blocks"][0]["text"]["text"])
        )
        assert message["blocks"][1]["type"] == "context"

    # github: a status per deploy event (not for drift), on the commit, with the token
    path = f"/gh/repos/acme/deploy/statuses/{SHA}"
    statuses = stand.bodies(path)
    assert [s["state"] for s in statuses] == ["pending", "success", "failure", "failure", "failure"]
    assert {s["context"] for s in statuses} == {"ecs-gitops/web"}
    assert {s["target_url"] for s in statuses} == {"https://ecs-gitops.example.com/"}
    assert all(len(s["description"]) <= 140 for s in statuses)
    for headers, _ in stand.got(path):
        assert headers["Authorization"] == "Bearer ghp_test"
        assert headers["Accept"] == "application/vnd.github+json"

    assert len(counted.calls) == 6 + 6 + 5
    assert {r for _, _, r in counted.calls} == {"success"}
    assert ("github", "drift_detected", "success") not in counted.calls
    assert ("slack", "hook_failed", "success") in counted.calls


async def test_notify_returns_at_once_and_keeps_order_per_target(
    stand: Stand, tmp_path: Path
) -> None:
    stand.gate.clear()  # every endpoint hangs until released
    notifier = Notifier(config(stand), env=secrets_env(stand, tmp_path))
    started = asyncio.get_running_loop().time()
    for event in every_event():
        await notifier.notify(event)
    assert asyncio.get_running_loop().time() - started < 0.1
    assert stand.requests == {}
    stand.gate.set()
    await asyncio.wait_for(notifier.drain(), 10)
    await notifier.aclose()
    assert [s["state"] for s in stand.bodies(f"/gh/repos/acme/deploy/statuses/{SHA}")][:2] == [
        "pending",
        "success",
    ]


async def test_retries_with_backoff_then_gives_up(stand: Stand, tmp_path: Path) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    counted = Counted()
    stand.script["/hook"] = [503, 500, 429, 200]
    notifier = Notifier(
        config(stand, events=["rollout_started", "rollout_succeeded"]),
        env=secrets_env(stand, tmp_path),
        sleep=sleep,
        jitter=lambda: 1.0,
        retry=RetryPolicy(attempts=4, base=1.0, cap=3.0),
        on_delivery=counted,
    )
    started, succeeded = every_event()[:2]
    await notifier.notify(started)
    await asyncio.wait_for(notifier.drain(), 10)
    assert slept == [1.0, 2.0, 3.0]  # 1, 2, 4 capped at 3
    assert len(stand.got("/hook")) == 4
    assert ("webhook", "rollout_started", "success") in counted.calls
    # the same delivery id on every try, so a receiver can drop duplicates
    assert {h["X-Ecs-Gitops-Delivery"] for h, _ in stand.got("/hook")} == {started.id}

    stand.script["/hook"] = [400]  # a client error is not retried
    await notifier.notify(succeeded)
    await asyncio.wait_for(notifier.drain(), 10)
    assert ("webhook", "rollout_succeeded", "error") in counted.calls
    assert len(stand.got("/hook")) == 5
    await notifier.aclose()


async def test_unreachable_target_and_missing_secret_fail_without_blocking(
    stand: Stand, tmp_path: Path
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    counted = Counted()
    cfg = config(stand)
    dead = cfg.model_copy(
        update={
            "spec": cfg.spec.model_copy(
                update={
                    "targets": [
                        cfg.spec.targets[0].model_copy(update={"url": "http://127.0.0.1:9/x"}),
                        *cfg.spec.targets[1:],
                    ]
                }
            )
        }
    )
    env = secrets_env(stand, tmp_path)
    env["ECS_GITOPS_NOTIFY_ALLOWED_HOSTS"] += ",http://127.0.0.1:9"
    del env["ECS_GITOPS_NOTIFY_GITHUB_TOKEN"]
    notifier = Notifier(
        dead,
        env=env,
        sleep=sleep,
        on_delivery=counted,
        retry=RetryPolicy(attempts=3),
    )
    await notifier.notify(every_event()[0])
    await asyncio.wait_for(notifier.drain(), 20)
    await notifier.aclose()
    assert ("webhook", "rollout_started", "error") in counted.calls  # connection refused x3
    assert len(slept) == 2
    assert ("github", "rollout_started", "error") in counted.calls  # no token: not sent
    assert ("slack", "rollout_started", "success") in counted.calls  # the others still go
    assert stand.got(f"/gh/repos/acme/deploy/statuses/{SHA}") == []


async def test_queue_limit_drops_oldest_and_close_drops_the_rest(
    stand: Stand, tmp_path: Path
) -> None:
    stand.gate.clear()
    counted = Counted()
    notifier = Notifier(
        config(stand, events=["drift_detected"]),
        env=secrets_env(stand, tmp_path),
        on_delivery=counted,
        queue_limit=2,
    )
    drift = every_event()[4]
    for _ in range(4):
        await notifier.notify(drift)
    await notifier.aclose(grace=0.2)
    webhook = [r for t, _, r in counted.calls if t == "webhook"]
    assert webhook == ["dropped"] * 4  # two pushed out of the queue, two at shutdown
    await notifier.notify(drift)  # closed: ignored
    assert notifier.notify_nowait(drift) == 0


def test_github_only_for_commits_and_services(stand: Stand) -> None:
    target = config(stand).spec.targets[2]
    from controller.notify.targets import wants

    good = every_event()[0]
    assert wants(target, good)
    assert not wants(target, Event("rollout_started", KEY, "sha256:abcdef", "m", NOW))
    assert not wants(target, Event("drift_detected", KEY, SHA, "m", NOW))
    cluster = ResourceKey("EcsCluster", "", "", "prod")
    assert not wants(target, Event("rollout_started", cluster, SHA, "m", NOW))
    request = build_request(target, good, env=ENV, status_page_url=None)
    assert "target_url" not in json.loads(request.body)


def test_from_rollout_maps_results() -> None:
    def rollout(result: Any, reason: str = "") -> RolloutEvent:
        return RolloutEvent(
            "canary", result, NOW, NOW, SHA, "arn:...:task-definition/web:2", reason
        )

    assert from_rollout(KEY, rollout("succeeded")).type == "rollout_succeeded"
    assert from_rollout(KEY, rollout("succeeded")).message == "web:2 is PRIMARY (canary)"
    back = from_rollout(KEY, rollout("rolled_back", "Essential container in task exited"))
    assert (back.type, back.message) == (
        "rollout_rolled_back",
        "Essential container in task exited",
    )
    assert from_rollout(KEY, rollout("aborted", "by hand")).type == "rollout_rolled_back"
    assert from_rollout(KEY, rollout("failed")).type == "rollout_failed"


NOTIFY_DOC = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsGitopsNotifications
metadata: {{name: deploys}}
spec:
  targets:
    - type: slack
      name: team
      urlFrom: {{{secret}}}
"""


@pytest.mark.parametrize(
    ("secret", "error"),
    [
        ("env: ECS_GITOPS_NOTIFY_SLACK_URL", None),
        ("file: slack/url", None),
        ("env: AWS_SECRET_ACCESS_KEY", "n.yaml:8:22: error: spec.targets[0].urlFrom.env: not a variable the controller lends"),
        ("file: ../../etc/passwd", "n.yaml:8:23: error: spec.targets[0].urlFrom.file: a secret file is a path inside $ECS_GITOPS_NOTIFY_SECRETS_DIR"),
        ("file: /etc/passwd", "n.yaml:8:23: error: spec.targets[0].urlFrom.file: a secret file is a path inside"),
        ("env: ECS_GITOPS_NOTIFY_A, file: a", "n.yaml:8:16: error: spec.targets[0].urlFrom: give exactly one of env and file"),
    ],
)  # fmt: skip
def test_notifications_document_is_validated(
    tmp_path: Path, secret: str, error: str | None
) -> None:
    (tmp_path / "n.yaml").write_text(NOTIFY_DOC.format(secret=secret))
    result = load_tree(DirectoryTree(tmp_path))
    shown = [str(d).removeprefix(f"{tmp_path}/") for d in result.diagnostics]
    if error is None:
        assert shown == []
        assert result.notifications is not None
        assert not result.notifications_invalid
    else:
        assert len(shown) == 1, shown
        assert shown[0].startswith(error), shown
        assert result.notifications is None
        assert result.notifications_invalid


def test_a_second_notifications_document_is_an_error(tmp_path: Path) -> None:
    doc = NOTIFY_DOC.format(secret="env: ECS_GITOPS_NOTIFY_SLACK_URL")
    (tmp_path / "a.yaml").write_text(doc)
    (tmp_path / "b.yaml").write_text(doc.replace("deploys", "more"))
    result = load_tree(DirectoryTree(tmp_path))
    assert [d.message for d in result.errors] == [
        f"a second EcsGitopsNotifications document: a source holds at most one (the other is in {tmp_path}/a.yaml); neither is used"
    ]
    assert result.notifications is None
    assert result.notifications_invalid


SERVICE_DEPLOYMENT = "{strategy: blueGreen, blueGreen: {bakeSeconds: 0}}"


@pytest.mark.slow
async def test_github_sees_pending_then_success_or_failure(
    emulated: Any, stand: Stand, tmp_path: Path
) -> None:
    """The events of a real rollout, fed to the Notifier as the controller does."""
    root = write_web(tmp_path / "src", "v1", SERVICE_DEPLOYMENT)
    notifier = Notifier(config(stand), env=secrets_env(stand, tmp_path))
    async with AwsClients(AwsSettings("ap-northeast-2", emulated.endpoint_url)) as aws:
        for tag, revision in (("v2", SHA), ("v3-crashloop", SHA2)):
            write_web(root, tag, SERVICE_DEPLOYMENT)
            resources = load_tree(DirectoryTree(root)).resources
            outcome = await sync_all(resources, Context(aws, revision=revision), within=60)
            for event in outcome.notices:
                await notifier.notify(event)
    await asyncio.wait_for(notifier.drain(), 20)
    await notifier.aclose()

    def states(sha: str) -> list[str]:
        return [s["state"] for s in stand.bodies(f"/gh/repos/acme/deploy/statuses/{sha}")]

    assert states(SHA) == ["pending", "success"]
    assert states(SHA2) == ["pending", "failure"]
    failure = stand.bodies(f"/gh/repos/acme/deploy/statuses/{SHA2}")[-1]
    assert "Essential container in task exited" in failure["description"]
    events = [h["X-Ecs-Gitops-Event"] for h, _ in stand.got("/hook")]
    assert events == [
        "rollout_started",
        "rollout_succeeded",
        "rollout_started",
        "rollout_rolled_back",
    ]


def only(cfg: EcsGitopsNotifications, target_type: str, **update: Any) -> EcsGitopsNotifications:
    """cfg with its target of this type alone, changed by update."""
    target = next(t for t in cfg.spec.targets if t.type == target_type)
    spec = cfg.spec.model_copy(update={"targets": [target.model_copy(update=update)]})
    return cfg.model_copy(update={"spec": spec})


async def deliver_once(cfg: EcsGitopsNotifications, env: dict[str, str]) -> list[str]:
    counted = Counted()
    async with Notifier(cfg, env=env, on_delivery=counted, retry=RetryPolicy(attempts=1)) as n:
        await n.notify(every_event()[0])
        await asyncio.wait_for(n.drain(), 20)
    return [result for _, _, result in counted.calls]


@pytest.mark.parametrize(
    ("listed", "result"),
    [
        (None, "refused"),  # not listed: no credential goes there
        ("127.0.0.1:{port}", "refused"),  # listed for https only: a credential needs https
        ("http://127.0.0.1:{port}", "success"),  # the operator's internal receiver
    ],
    ids=["unlisted", "https-only", "listed-plain-http"],
)
async def test_a_receiver_on_loopback_is_refused_unless_the_operator_lists_it(
    stand: Stand, tmp_path: Path, listed: str | None, result: str
) -> None:
    env = secrets_env(stand, tmp_path)
    del env["ECS_GITOPS_NOTIFY_ALLOWED_HOSTS"]
    if listed is not None:
        env["ECS_GITOPS_NOTIFY_ALLOWED_HOSTS"] = listed.format(port=stand.url.rsplit(":", 1)[1])
    with structlog.testing.capture_logs() as logs:
        assert await deliver_once(only(config(stand), "webhook"), env) == [result]
    assert len(stand.got("/hook")) == (result == "success")
    refused = [e for e in logs if e["event"] == "notification_refused"]
    assert [e["target"] for e in refused] == (["audit"] if result == "refused" else [])


@pytest.mark.parametrize(
    "api_url",
    ["{stand}/gh", "http://localhost:{port}/gh", "https://api.github.com.{port}.example/gh"],
    ids=["unlisted-loopback", "another-name-for-a-listed-host", "lookalike-of-the-default"],
)
async def test_the_github_token_never_reaches_an_api_url_host_that_is_not_allowed(
    stand: Stand, tmp_path: Path, api_url: str
) -> None:
    env = secrets_env(stand, tmp_path)
    env["ECS_GITOPS_NOTIFY_ALLOWED_HOSTS"] = f"{stand.url}/hook"  # the webhook's host only
    port = stand.url.rsplit(":", 1)[1]
    url = api_url.format(stand=stand.url.replace("127.0.0.1", "127.0.0.2"), port=port)
    cfg = only(config(stand), "github", api_url=url)
    assert await deliver_once(cfg, env) == ["refused"]
    assert stand.requests == {}


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "169.254.169.254",
        "169.254.170.2",
        "fe80::1",
        "10.0.0.8",
        "172.16.0.1",
        "192.168.1.1",
        "fd00::2",
        "0.0.0.0",
        "224.0.0.1",
        "::ffff:127.0.0.1",
    ],
)
def test_inside_addresses_are_refused(address: str) -> None:
    with pytest.raises(DestinationRefused):
        check_address(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "140.82.112.6", "2606:4700:4700::1111", "api.github.com"]
)
def test_outside_addresses_pass(address: str) -> None:
    check_address(address)


async def test_the_transport_checks_every_address_a_name_resolves_to(stand: Stand) -> None:
    """localhost is a name: only its resolved address (127.0.0.1) shows it is inside.
    The operator's listing is what exempts it, checked at connect time."""
    port = int(stand.url.rsplit(":", 1)[1])
    request = Request("POST", f"http://localhost:{port}/hook", b"{}", {})
    listed: dict[str, str] = {}
    transport = HttpTransport(allowed=lambda: allowed_hosts(listed))
    try:
        with pytest.raises(
            DestinationRefused, match=r"localhost resolves to 127\.0\.0\.1 is a loopback"
        ):
            await transport(request)
        with pytest.raises(DestinationRefused, match="link-local"):
            await transport(Request("POST", "http://169.254.169.254/latest/", b"", {}))
        assert stand.requests == {}
        listed["ECS_GITOPS_NOTIFY_ALLOWED_HOSTS"] = f"http://localhost:{port}"
        assert await transport(request) == 201
    finally:
        await transport.aclose()
