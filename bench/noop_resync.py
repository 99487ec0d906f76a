"""AWS calls, CPU and memory of one no-op resync of N services that are already in sync.

Targets (issue 9): at most 1.05x the DescribeServices floor (ceil(N/10) per cluster),
under 1 s of controller CPU, under 200 MB peak RSS, for 1,000 services.

The emulated AWS runs in this process. The N services are made in sync first, through
the controller's own aws layer (CreateService, CreateTaskSet with the externalId the
controller derives, UpdateServicePrimaryTaskSet: about 3N calls, no rollouts), so the
set-up takes seconds, not a rollout per service. The controller then runs in a child
process, as it would in production, with AWS's published rate limits: it loads the
source and runs sync_all (the one-shot reconcile of `ecs-gitops sync`) twice. The first
pass is a fresh process's start (sync_all names every service of the source to the
aws layer first, so its describes are batched by ten from the start); the second is a resync of a running
controller, the figure the targets are about. Prints JSON.

--staggered adds the long-running controller's own resyncs after real rollouts (issue
17): the controller (app.Controller, as `ecs-gitops run`, --resync-interval 3 s by
default) creates the services of another cluster itself, each through its own rollout,
so each one's reconciles fall at their own times; once all are Synced and Healthy it
runs `--resyncs` more resyncs and reports DescribeServices per resync (per N service
reconciles) against the same floor, target 1.1x.

    .venv/bin/python bench/noop_resync.py --services 1000
    .venv/bin/python bench/noop_resync.py --services 100 --staggered
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REGION = "ap-northeast-2"
CLUSTER = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsCluster
metadata: {{name: {cluster}}}
"""
SERVICE = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: {name}}}
spec:
  cluster: {cluster}
  desiredCount: {count}
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {{subnets: [subnet-aaa, subnet-bbb], securityGroups: [sg-xxx]}}
  tags: {{team: bench}}
  taskDefinition:
    family: web
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    containerDefinitions:
      - {{name: web, image: "public.ecr.aws/nginx/nginx:1.27", essential: true}}
"""


def write_source(
    root: Path, services: int, clusters: int, count: int, prefix: str = "bench"
) -> list[str]:
    names = [f"svc-{i:04}" for i in range(services)]
    for c in range(clusters):
        (root / f"cluster-{c}.yaml").write_text(CLUSTER.format(cluster=f"{prefix}-{c}"))
    for i, name in enumerate(names):
        cluster = f"{prefix}-{i % clusters}"
        text = SERVICE.format(name=name, cluster=cluster, count=count)
        (root / f"{name}.yaml").write_text(text)
    return names


async def make_in_sync(endpoint: str, root: Path, concurrency: int = 32) -> float:
    """Create every cluster and service as the controller would leave them after a rollout:
    its task definition revision (one per distinct content), its task set PRIMARY."""
    from controller.api import EcsCluster, EcsService
    from controller.api.common import MANAGED_BY_TAG, SPEC_HASH_TAG
    from controller.aws.client import AwsClients, AwsSettings
    from controller.loader import load_tree
    from controller.reconcile.cluster import reconcile_cluster
    from controller.reconcile.context import Context
    from controller.reconcile.deployers.base import create_params
    from controller.reconcile.taskset import DesiredTaskSet, ensure_task_definition
    from controller.sources.directory import DirectoryTree

    started = time.monotonic()
    resources = load_tree(DirectoryTree(root)).resources
    async with AwsClients(AwsSettings(REGION, endpoint, rate_limiting=False)) as aws:
        ctx = Context(aws)
        ecs = ctx.ecs(REGION)
        for cluster in (r for r in resources if isinstance(r, EcsCluster)):
            await reconcile_cluster(cluster, ctx)
        services = [r for r in resources if isinstance(r, EcsService)]
        gate = asyncio.Semaphore(concurrency)

        async def one(svc: EcsService) -> None:
            spec, name = svc.spec, svc.metadata.name
            want = DesiredTaskSet.from_spec(spec)
            async with gate:
                arn, _ = await ensure_task_definition(  # one registration per content
                    ecs,
                    want.task_definition,
                    want.spec_hash,
                    [],
                    instance=ctx.instance,
                    registrations=ctx.registrations,
                )
                await ecs.create_service(spec.cluster, name, "EXTERNAL", **create_params(svc, ctx))
                created = await ecs.create_task_set(
                    spec.cluster,
                    name,
                    task_definition=arn,
                    external_id=want.external_id,
                    scale_percent=100.0,
                    launch_type=spec.launch_type,
                    capacity_provider_strategy=spec.capacity_provider_strategy,
                    platform_version=spec.platform_version,
                    network_configuration=spec.network_configuration,
                    load_balancers=spec.load_balancers,
                    service_registries=spec.service_registries,
                    tags={MANAGED_BY_TAG: ctx.instance, SPEC_HASH_TAG: want.spec_hash},
                )
                await ecs.set_primary_task_set(spec.cluster, name, created.task_set_arn)

        await asyncio.gather(*(one(s) for s in services))
    return time.monotonic() - started


# -- the controller, in its own process ----------------------------------------------


def rss_mb() -> float:
    """Peak RSS of this process. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from
    the parent across fork and exec, so a child would report the emulator's memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def child(endpoint: str, root: Path, passes: int, freeze: bool) -> dict[str, Any]:
    from controller.aws.client import AwsClients, AwsSettings
    from controller.loader import load_tree
    from controller.observability import logging as obs_logging
    from controller.reconcile.context import Context
    from controller.reconcile.sync import sync_all
    from controller.sources.directory import DirectoryTree

    obs_logging.configure("error", "json")
    resources = load_tree(DirectoryTree(root)).resources
    if freeze:  # what `run` does after each load: the loaded state leaves the GC's scans
        gc.freeze()
    out: dict[str, Any] = {"rss_mb_after_load": round(rss_mb(), 1), "passes": []}
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        ctx = Context(aws)
        for n in range(passes):
            if n:  # a resync comes a --resync-interval later: nothing read ahead is left
                await asyncio.sleep(aws.settings.read_ahead_ttl + 0.5)
            aws.stats.reset()
            batch = aws.coalescers[("ecs", "DescribeServices")].stats
            hits_before = batch.cache_hits
            cpu, wall = time.process_time(), time.monotonic()
            outcome = await sync_all(resources, ctx, within=600)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            out["passes"].append(
                {
                    "wall_seconds": round(wall, 3),
                    "cpu_seconds": round(cpu, 3),
                    "calls": aws.stats.total(),
                    "mutating_calls": aws.stats.total(mutating=True),
                    "calls_by_operation": aws.stats.by_operation(),
                    "throttled": sum(aws.stats.outcomes("throttled").values()),
                    "rate_limit_waits": sum(aws.stats.waits.values()),
                    "describe_cache_hits": batch.cache_hits - hits_before,
                    "all_synced": outcome.ok
                    and all(s.sync_status == "Synced" for s in outcome.statuses.values()),
                }
            )
    out["peak_rss_mb"] = round(rss_mb(), 1)
    return out


async def until(check: Callable[[], bool], every: float) -> None:
    """Poll: the controller's state is read, not signalled, as a user's script would."""
    while True:
        if check():
            return
        await asyncio.sleep(every)


async def staggered_child(
    endpoint: str, root: Path, resync_interval: float, resyncs: int
) -> dict[str, Any]:
    """The controller as `run` runs it, from nothing to every service rolled out, then
    `resyncs` resyncs of the converged services (see the module docstring)."""
    from controller.api import EcsService
    from controller.app import Controller, RunSettings
    from controller.aws.client import AwsClients, AwsSettings
    from controller.observability import logging as obs_logging
    from controller.sources.base import DirectorySource

    obs_logging.configure("error", "json")
    settings = RunSettings(
        poll_interval=1.0, resync_interval=resync_interval, http_addr="127.0.0.1:0"
    )
    stop = asyncio.Event()
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        ctl = Controller(settings, aws, DirectorySource(root, poll_interval=1.0))
        running = asyncio.create_task(ctl.run(stop))
        started = time.monotonic()
        await until(
            lambda: (
                len(ctl.statuses) == len(ctl.desired) > 0
                and all(s.ready for s in ctl.statuses.values())
            ),
            0.2,
        )
        converged = time.monotonic() - started
        services = sum(isinstance(item.resource, EcsService) for item in ctl.desired.values())
        registry = ctl.metrics.registry

        def polls() -> float:
            labels = {"kind": "EcsService", "result": "success"}
            return registry.get_sample_value("ecs_gitops_reconcile_total", labels) or 0.0

        await asyncio.sleep(resync_interval)  # the last rollouts' follow-ups are over
        before_calls, before_polls = aws.stats.by_operation(), polls()
        await until(lambda: polls() - before_polls >= resyncs * services, 0.05)
        after_calls, looked = aws.stats.by_operation(), polls() - before_polls
        stop.set()
        await running
    calls = {op: n - before_calls.get(op, 0) for op, n in after_calls.items()}
    calls = {op: n for op, n in calls.items() if n}
    per_resync = services / looked
    return {
        "services": services,
        "resync_interval": resync_interval,
        "converged_after_seconds": round(converged, 1),
        "resyncs": round(looked / services, 2),
        "describe_services_per_resync": round(calls.get("ecs:DescribeServices", 0) * per_resync, 2),
        "calls_per_resync": {op: round(n * per_resync, 2) for op, n in sorted(calls.items())},
    }


def run_staggered(
    endpoint: str, root: Path, resync_interval: float, resyncs: int
) -> dict[str, Any]:
    args = [sys.executable, __file__, "--staggered-child", endpoint, "--source", str(root)]
    args += ["--resync-interval", str(resync_interval), "--resyncs", str(resyncs)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"controller process failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def run_child(endpoint: str, root: Path, passes: int, freeze: bool = False) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", endpoint, "--source", str(root)]
    args += ["--passes", str(passes)]
    args += ["--gc-freeze"] if freeze else []
    proc = subprocess.run(args, capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"controller process failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=1)
    parser.add_argument("--desired-count", type=int, default=0)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument(
        "--staggered",
        action="store_true",
        help="also: the running controller's resyncs after real rollouts",
    )
    parser.add_argument("--resync-interval", type=float, default=3.0)
    parser.add_argument("--resyncs", type=int, default=5)
    parser.add_argument("--child", metavar="ENDPOINT", help=argparse.SUPPRESS)
    parser.add_argument("--staggered-child", metavar="ENDPOINT", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--gc-freeze", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    if args.child:
        result = asyncio.run(child(args.child, args.source, args.passes, args.gc_freeze))
        print(json.dumps(result))
        return 0
    if args.staggered_child:
        result = asyncio.run(
            staggered_child(args.staggered_child, args.source, args.resync_interval, args.resyncs)
        )
        print(json.dumps(result))
        return 0

    from controller.local import EmulatedAws
    from controller.observability import logging as obs_logging

    obs_logging.configure("error", "console")
    with tempfile.TemporaryDirectory() as tmp, EmulatedAws(tick_interval=1.0) as aws:
        root = Path(tmp) / "src"
        root.mkdir()
        write_source(root, args.services, args.clusters, args.desired_count)
        setup = asyncio.run(make_in_sync(aws.endpoint_url, root))
        time.sleep(2.5)  # two emulator ticks: every task set reports STEADY_STATE
        plain = run_child(aws.endpoint_url, root, args.passes)
        frozen = run_child(aws.endpoint_url, root, 2, freeze=True)
        staggered = None
        if args.staggered:  # services of their own, in a cluster of their own
            rolled = Path(tmp) / "rolled"
            rolled.mkdir()
            write_source(rolled, args.services, 1, args.desired_count or 1, prefix="rolled")
            staggered = run_staggered(aws.endpoint_url, rolled, args.resync_interval, args.resyncs)
    per_cluster = math.ceil(args.services / args.clusters)
    floor = args.clusters * math.ceil(per_cluster / 10)
    resync = plain["passes"][-1]
    describes = resync["calls_by_operation"].get("ecs:DescribeServices", 0)
    result = {
        "benchmark": "noop_resync",
        "services": args.services,
        "clusters": args.clusters,
        "setup_seconds": round(setup, 1),
        "describe_services_floor": floor,
        "resync": {
            **resync,
            "describe_services": describes,
            "describe_services_vs_floor": round(describes / floor, 3),
            "all_calls_vs_floor": round(resync["calls"] / floor, 3),
        },
        "first_pass_of_a_fresh_process": plain["passes"][0],
        "resync_with_gc_frozen_after_load": {
            k: frozen["passes"][-1][k] for k in ("cpu_seconds", "wall_seconds", "calls")
        },
        "peak_rss_mb": plain["peak_rss_mb"],
        "rss_mb_after_load": plain["rss_mb_after_load"],
        "targets": {"describe_services_vs_floor": 1.05, "cpu_seconds": 1.0, "peak_rss_mb": 200},
    }
    result["meets_targets"] = (
        result["resync"]["describe_services_vs_floor"] <= 1.05
        and resync["cpu_seconds"] < 1.0
        and plain["peak_rss_mb"] < 200
        and resync["mutating_calls"] == 0
        and resync["all_synced"]
    )
    if staggered is not None:
        floor_one = math.ceil(args.services / 10)  # one cluster
        ratio = staggered["describe_services_per_resync"] / floor_one
        result["staggered_resync"] = {
            **staggered,
            "describe_services_floor": floor_one,
            "describe_services_vs_floor": round(ratio, 3),
            "target_vs_floor": 1.1,
            "meets_target": ratio <= 1.1,
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
