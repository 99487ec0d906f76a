"""The manager's queueing: what a new revision changed goes before what it did not, a
resync goes below rollouts in progress, and every pass names its services to the aws
layer so the first DescribeServices of a fresh process reads ten at once.

The controller runs in this process against a plain moto server; the queue is read
directly (no workers), so the order asserted is the order workers would take keys in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import boto3

from controller.api import EcsService, ResourceKey
from controller.app import Controller, RunSettings, changed_keys
from controller.aws.client import AwsClients, AwsSettings
from controller.loader import Loaded, load_tree
from controller.reconcile.taskset import DesiredTaskSet
from controller.runtime.workqueue import FOLLOW_UP_PRIORITY
from controller.sources.base import DirectorySource
from controller.sources.directory import DirectoryTree

REGION = "ap-northeast-2"
CLUSTER = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsCluster
metadata: {name: prod}
"""
SERVICE = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: {name}}}
spec:
  cluster: prod
  desiredCount: {count}
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {{subnets: [subnet-aaa], securityGroups: [sg-xxx]}}
  taskDefinition:
    family: {name}
    requiresCompatibilities: [FARGATE]
    networkMode: awsvpc
    cpu: "256"
    memory: "512"
    containerDefinitions:
      - {{name: web, image: "nginx:1", memory: 512, essential: true}}
"""
NAMES = [f"svc{i:02d}" for i in range(12)]


def tree(write_tree: Callable[[dict[str, str]], Path], counts: dict[str, int]) -> Path:
    files = {"cluster.yaml": CLUSTER}
    files |= {f"{n}.yaml": SERVICE.format(name=n, count=counts.get(n, 1)) for n in NAMES}
    return write_tree(files)


def service(name: str) -> ResourceKey:
    return ResourceKey("EcsService", "", "prod", name)


async def take_all(ctl: Controller) -> list[ResourceKey]:
    """Every ready key, in the order workers would get them (each given back at once)."""
    keys = []
    while ctl.queue.depth:
        key = await ctl.queue.get()
        ctl.queue.done(key)
        keys.append(key)
    return keys


async def test_changed_resources_first_and_resync_below_rollouts(
    aws_endpoint: str, write_tree: Callable[[dict[str, str]], Path]
) -> None:
    root = tree(write_tree, {})
    async with AwsClients(AwsSettings(REGION, aws_endpoint)) as aws:
        ctl = Controller(RunSettings(), aws, DirectorySource(root, poll_interval=1))

        await ctl.applier.apply(await ctl.source.fetch())
        first = await take_all(ctl)
        assert first[0].kind == "EcsCluster"
        assert sorted(k.name for k in first[1:]) == NAMES  # the first load: all of it is new

        # a commit that changes two services: those two right after the cluster
        tree(write_tree, {"svc07": 3, "svc10": 2})
        await ctl.applier.apply(await ctl.source.fetch())
        second = await take_all(ctl)
        assert second[0].kind == "EcsCluster"
        assert {k.name for k in second[1:3]} == {"svc07", "svc10"}
        assert len(second) == 13

        # a rollout's follow-up goes before a resync's polls; the cluster leads the resync
        ctl.queue.add(service("svc03"), priority=FOLLOW_UP_PRIORITY)
        ctl.applier.enqueue_all(None)
        resync = await take_all(ctl)
        assert resync[0] == service("svc03")
        assert resync[1].kind == "EcsCluster"
        assert len(resync) == 13

        # a fan-out commit, then a hot fix while the fan-out is still queued: the fix first
        tree(write_tree, dict.fromkeys(NAMES[:10], 4) | {"svc10": 2})
        await ctl.applier.apply(await ctl.source.fetch())
        tree(write_tree, dict.fromkeys(NAMES[:10], 4) | {"svc10": 2, "svc11": 9})
        await ctl.applier.apply(await ctl.source.fetch())
        hot_fix = await take_all(ctl)
        assert hot_fix[0].kind == "EcsCluster"
        assert hot_fix[1] == service("svc11")
        assert {k.name for k in hot_fix[2:12]} == set(NAMES[:10])

        # an urgent commit lands while a resync is queued: it jumps the queue
        ctl.applier.enqueue_all(None)
        tree(write_tree, {"svc07": 3, "svc10": 2, "svc11": 5, "svc00": 7})
        await ctl.applier.apply(await ctl.source.fetch())
        urgent = await take_all(ctl)
        assert urgent[0].kind == "EcsCluster"
        assert urgent[1] == service("svc00")


async def test_a_pass_names_its_services_so_describes_are_batched(
    aws_endpoint: str, write_tree: Callable[[dict[str, str]], Path]
) -> None:
    boto3.client("ecs", region_name=REGION, endpoint_url=aws_endpoint).create_cluster(
        clusterName="prod"
    )
    root = tree(write_tree, {})
    async with AwsClients(AwsSettings(REGION, aws_endpoint)) as aws:
        ctl = Controller(RunSettings(), aws, DirectorySource(root, poll_interval=1))
        await ctl.applier.apply(await ctl.source.fetch())
        aws.stats.reset()
        # one reconcile's describe of one service: nine more of the cluster ride along
        ecs = ctl.ctx.ecs(REGION)
        await ecs.describe_services("prod", ["svc00"])
        for name in NAMES[1:10]:
            await ecs.describe_services("prod", [name])
        assert aws.stats.by_operation() == {"ecs:DescribeServices": 1}


def test_changed_keys_compares_content(write_tree: Callable[[dict[str, str]], Path]) -> None:
    def load(counts: dict[str, int]) -> dict[ResourceKey, Loaded]:
        result = load_tree(DirectoryTree(tree(write_tree, counts)))
        return {item.key: item for item in result.loaded}

    before, after = load({}), load({"svc02": 4})
    assert changed_keys(before, after) == {service("svc02")}
    assert changed_keys({}, after) == set(after)
    assert changed_keys(after, load({"svc02": 4})) == set()


def test_what_was_derived_from_a_spec_is_not_a_change(
    write_tree: Callable[[dict[str, str]], Path],
) -> None:
    def load() -> dict[ResourceKey, Loaded]:
        result = load_tree(DirectoryTree(tree(write_tree, {})))
        return {item.key: item for item in result.loaded}

    before, after = load(), load()
    for item in before.values():
        if isinstance(item.resource, EcsService):
            DesiredTaskSet.from_spec(item.resource.spec)  # memoizes its hashes on the spec
    assert changed_keys(before, after) == set()
