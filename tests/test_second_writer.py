"""A second writer on one service. In process on the emulated AWS: another controller's
live rollout step leaves the service alone (WriterConflict) until its claim lapses, and a
new task set someone scaled down is scaled back up, never promoted at 0%. Then two
`ecs-gitops run` processes, on two sources under one instance name and on one source,
watched from ECS: never a PRIMARY set at scale 0, a deleted in-progress set or a pruned
foreign service."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from controller.api import EcsService
from controller.api.status import ResourceStatus
from controller.aws.client import AwsClients, AwsSettings
from controller.reconcile.context import Context
from controller.reconcile.rollout.state import ROLLOUT_TAG, RolloutState
from controller.reconcile.sync import reconcile_once
from controller.runtime.writer import Stamp, Writer
from tests.conftest import REGION
from tests.controller_process import Running, commit, git
from tests.emulated_ecs import (
    describe,
    ecs,
    load,
    nginx_service,
    service_status,
    sync,
    write_web,
)

BLUE_GREEN = "{strategy: blueGreen, blueGreen: {bakeSeconds: 0}}"


def web(root: Path) -> EcsService:
    return next(r for r in load(root) if isinstance(r, EcsService))


def rollout_state(endpoint: str) -> RolloutState | None:
    tags = {t["key"]: t["value"] for t in describe(endpoint).get("tags", [])}
    return RolloutState.decode(tags.get(ROLLOUT_TAG))


def sets(endpoint: str) -> list[dict[str, Any]]:
    return [ts for ts in describe(endpoint)["taskSets"] if ts["status"] != "DRAINING"]


async def reconcile_until_created(ctx: Context, svc: EcsService) -> ResourceStatus:
    """Reconcile svc (one step at a time) until its new task set exists."""
    for _ in range(10):
        status = (await reconcile_once(svc, ctx)).status
        if status.rollout is not None and status.rollout.phase == "Creating":
            return status
    raise AssertionError(f"no task set created: {status}")


async def test_a_live_writers_rollout_is_left_alone_until_its_claim_lapses(
    emulated: Any, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    root = write_web(tmp_path / "src", "v1", BLUE_GREEN)
    assert (await sync(endpoint, root)).ok
    write_web(root, "v2", BLUE_GREEN)
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        other = Context(aws, writer=Writer("other-host-1-aaaaaaaa"))
        await reconcile_until_created(other, web(root))
        claimed = rollout_state(endpoint)
        assert claimed is not None
        assert claimed.stamp is not None
        assert claimed.stamp.writer == "other-host-1-aaaaaaaa"
        before = sorted((ts["id"], ts["scale"]["value"]) for ts in sets(endpoint))

        me = Context(aws, writer=Writer("me-host-2-bbbbbbbb", lease=30.0))
        for _ in range(3):
            result = await reconcile_once(web(root), me)
        status = result.status
        assert status.rollout is not None
        assert status.rollout.phase == "WriterConflict"
        ready = next(c for c in status.conditions if c.type == "Ready")
        assert ready.status == "False"
        assert ready.reason == "WriterConflict"
        assert "other-host-1-aaaaaaaa" in status.message
        assert result.requeue_after is not None
        assert 25 < result.requeue_after <= 30
        assert sorted((ts["id"], ts["scale"]["value"]) for ts in sets(endpoint)) == before
        assert rollout_state(endpoint) == claimed  # not even renewed

    # the other writer dies: its last stamp grows older than the lease
    old = claimed.stamped(Stamp(claimed.stamp.writer, datetime.now(UTC) - timedelta(seconds=31)))
    arn = describe(endpoint)["serviceArn"]
    ecs(endpoint).tag_resource(resourceArn=arn, tags=[{"key": ROLLOUT_TAG, "value": old.encode()}])
    outcome = await sync(endpoint, root)
    assert outcome.ok, service_status(outcome)
    assert [(ts["status"], ts["externalId"]) for ts in sets(endpoint)] == [
        ("PRIMARY", claimed.external_id)
    ]  # the same task set, taken over: none created twice


async def test_a_new_set_scaled_to_zero_is_scaled_back_not_promoted(
    emulated: Any, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    root = write_web(tmp_path / "src", "v1", BLUE_GREEN)
    assert (await sync(endpoint, root)).ok
    write_web(root, "v2", BLUE_GREEN)
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        ctx = Context(aws)
        created = await reconcile_until_created(ctx, web(root))
        new_id = created.rollout.new_task_set if created.rollout else None
        new = next(ts for ts in sets(endpoint) if ts["id"] == new_id)
        # what a second writer's cleanup did before writers were stamped
        ecs(endpoint).update_task_set(
            cluster="prod-cluster",
            service="web",
            taskSet=new["taskSetArn"],
            scale={"value": 0.0, "unit": "PERCENT"},
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = next(ts for ts in sets(endpoint) if ts["id"] == new_id)
            if now["runningCount"] == 0 and now["pendingCount"] == 0:
                break
            await asyncio.sleep(0.1)
        messages = []
        for _ in range(5):  # a step may come first (a read of the service from before)
            status = (await reconcile_once(web(root), ctx)).status
            messages.append(status.message)
            live = {ts["id"]: ts for ts in sets(endpoint)}
            assert live[new_id]["status"] == "ACTIVE", status  # never promoted at 0%
            if live[new_id]["scale"]["value"] == 100.0:
                break
        assert live[new_id]["scale"]["value"] == 100.0, messages
        assert any("not 100%" in m for m in messages), messages
    outcome = await sync(endpoint, root)
    assert outcome.ok, service_status(outcome)
    (primary,) = sets(endpoint)
    assert primary["id"] == new_id
    assert primary["runningCount"] == 2


# -- two `ecs-gitops run` processes ---------------------------------------------------

WORKER = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: {name}}}
spec:
  cluster: duo
  desiredCount: 1
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {{subnets: [subnet-aaa], securityGroups: [sg-xxx]}}
  syncPolicy: {{prune: true}}
  taskDefinition:
    family: duo-{name}
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    containerDefinitions:
      - {{name: {name}, image: "public.ecr.aws/docker/library/busybox:1.36"}}
"""
BAKED_BLUE_GREEN = "{strategy: blueGreen, blueGreen: {bakeSeconds: 1}}"


def duo_repo(root: Path, tag: str, worker: str) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "web.yaml").write_text(nginx_service("duo", tag, BAKED_BLUE_GREEN))
    (root / f"{worker}.yaml").write_text(WORKER.format(name=worker))
    commit(root, tag)
    return root


class Watch:
    """Polls the live cluster `duo` from a thread and records every breach of what a
    second writer must never cause: a PRIMARY task set at scale 0, the task set a rollout
    tag names gone while the tag still names it, a service of `keep` deleted."""

    def __init__(self, endpoint: str, keep: list[str]) -> None:
        self.client = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)
        self.keep = keep
        self.breaches: list[str] = []
        self.samples = 0
        self.rollouts: set[str] = set()
        self.latest_tag: str | None = None
        """The image tag of the last commit, when the test makes commits: a set of
        another tag is superseded by it."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        in_progress: str | None = None  # the externalId a rollout tag named, once seen live
        seen: set[str] = set()
        revision_of: dict[str, int] = {}  # externalId -> its task definition's revision
        image_of: dict[str, str] = {}  # externalId -> its first container's image
        while not self._stop.is_set():
            try:
                found = self.client.describe_services(
                    cluster="duo", services=["web", *self.keep], include=["TAGS"]
                )["services"]
            except ClientError:
                time.sleep(0.1)
                continue
            live = {s["serviceName"]: s for s in found if s["status"] == "ACTIVE"}
            self.samples += 1
            for name in self.keep:
                if name in live:
                    seen.add(name)
                elif name in seen:
                    self.breaches.append(f"{name} deleted")
            web = live.get("web")
            if web is not None:
                sets = [ts for ts in web.get("taskSets", []) if ts["status"] != "DRAINING"]
                ids = {ts.get("externalId") for ts in sets}
                for ts in web.get("taskSets", []):
                    number = int(str(ts["taskDefinition"]).rsplit(":", 1)[-1])
                    revision_of[str(ts.get("externalId"))] = number
                    if str(ts.get("externalId")) not in image_of:
                        image_of[str(ts.get("externalId"))] = self._image(ts["taskDefinition"])
                for ts in sets:
                    if ts["status"] == "PRIMARY" and ts["scale"]["value"] == 0:
                        self.breaches.append(f"PRIMARY {ts['id']} at scale 0")
                tags = {t["key"]: t["value"] for t in web.get("tags", [])}
                state = RolloutState.decode(tags.get(ROLLOUT_TAG))
                named = state.external_id if state else None
                newest = max(revision_of.values(), default=0)
                superseded = revision_of.get(str(named), newest) < newest or (
                    self.latest_tag is not None
                    and not image_of.get(str(named), "").endswith(f":{self.latest_tag}")
                )
                # removing a rollout that a newer commit superseded is the writer's own
                # job (it deletes the old set before it registers the newer revision);
                # deleting the set of the newest revision or commit mid-rollout is a breach
                gone = named is not None and named == in_progress and named not in ids
                if gone and not superseded:
                    self.breaches.append(f"in-progress task set {named} deleted")
                in_progress = named if named in ids else None
                if state is not None:  # one rollout: its task set and start time
                    self.rollouts.add(f"{named}/{state.started.isoformat()}")
            time.sleep(0.1)

    def _image(self, task_definition: str) -> str:
        td = self.client.describe_task_definition(taskDefinition=task_definition)
        return str(td["taskDefinition"]["containerDefinitions"][0]["image"])


def web_sets(endpoint: str) -> list[str]:
    """ "STATUS:family:revision" of web's task sets in `duo`; [] before it exists."""
    client = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)
    try:
        web = client.describe_services(cluster="duo", services=["web"])["services"][0]
    except (ClientError, IndexError):
        return []
    return sorted(
        f"{ts['status']}:{ts['taskDefinition'].rsplit('/', 1)[-1]}"
        for ts in web["taskSets"]
        if ts["status"] != "DRAINING"
    )


def test_two_runs_on_two_sources_never_undo_each_other(
    emulated: Any, tmp_path: Path, run_controller: Callable[..., Running]
) -> None:
    """Two sources under one instance name both name `web`, each with its own image, and
    each has a worker with prune on: they take turns rolling `web` out, each waiting for
    the other's rollout to end, and neither prunes the other's worker."""
    endpoint = emulated.endpoint_url
    first = run_controller(endpoint, duo_repo(tmp_path / "a", "1.25", "worker-a"))
    first.wait("web", lambda: web_sets(endpoint) == ["PRIMARY:duo-web:1"], timeout=40)
    with Watch(endpoint, ["worker-a", "worker-b"]) as watch:
        second = run_controller(endpoint, duo_repo(tmp_path / "b", "1.26", "worker-b"))
        second.wait(
            "both to have rolled web out",
            lambda: len(watch.rollouts) >= 3 and watch.samples > 50,
            timeout=90,
        )
    assert not watch.breaches, watch.breaches[:10]
    logs = first.log.read_text() + second.log.read_text()
    assert '"writer_conflict"' in logs
    assert '"prune_refused"' in logs
    assert '"service_pruned"' not in logs


def test_two_runs_on_one_source_one_rollout(
    emulated: Any, tmp_path: Path, run_controller: Callable[..., Running]
) -> None:
    """Two controllers on one repository (the old and the new task of a controller's own
    rolling update), with commits landing mid-rollout: one rollout at a time, and the
    service ends on the last commit."""
    endpoint = emulated.endpoint_url
    repo = duo_repo(tmp_path / "repo", "1.25", "worker")
    first = run_controller(endpoint, repo)
    first.wait("web", lambda: web_sets(endpoint) == ["PRIMARY:duo-web:1"], timeout=40)
    second = run_controller(endpoint, repo)
    with Watch(endpoint, ["worker"]) as watch:
        for tag in ("1.26", "1.27"):
            (repo / "web.yaml").write_text(nginx_service("duo", tag, BAKED_BLUE_GREEN))
            watch.latest_tag = tag  # before the commit: the controller may act at once
            commit(repo, tag)
            time.sleep(1.5)

        def converged() -> bool:
            tags = {t["key"] for t in describe_duo(endpoint).get("tags", [])}
            return web_sets(endpoint) == ["PRIMARY:duo-web:3"] and ROLLOUT_TAG not in tags

        second.wait("the last commit", converged, timeout=90)
    assert not watch.breaches, watch.breaches[:10]
    assert watch.samples > 20


def describe_duo(endpoint: str) -> dict[str, Any]:
    client = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)
    service: dict[str, Any] = client.describe_services(
        cluster="duo", services=["web"], include=["TAGS"]
    )["services"][0]
    return service
