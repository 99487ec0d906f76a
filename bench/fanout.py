"""An image bump across N services, by ecs-gitops and by fabfuel's ecs-deploy, side by side.

Both run against the same emulated AWS in this process, each through its own fresh
bench/awsproxy.py that enforces AWS's published ECS token buckets server side (so an
API budget exists, and running into it is answered with ThrottlingException as AWS
does) and counts every call the way AWS would see it.

- ecs-gitops: N EXTERNAL-controller services of its own, in sync on v1; every service's
  image goes to v2 in the source and the controller (app.Controller, as `ecs-gitops run`
  runs it, with its default published-rate client buckets) runs in a child process until
  every service is Synced on the new revision (task set created, healthy, PRIMARY, old
  set removed). Five seconds in, one more service ("urgent") gets its own bump: the time
  from that edit to its new task set shows whether one urgent change waits behind the
  fan-out.
- ecs-deploy: N plain ECS-controller services; `ecs deploy CLUSTER SERVICE --image web
  IMAGE --timeout -1` per service, `--jobs` at a time, from a venv of its own made at
  run time (pip install ecs-deploy); if that cannot be done the JSON says so.

Reported for each: wall time, calls by operation (as the proxy saw them), throttles
(refused by the proxy's buckets), task definition revisions registered, failures, and
mutating calls per service. For ecs-gitops also the API floor: the least time AWS's
published buckets (burst, then rate) allow for the calls no task-set rollout can do
without (per service one RegisterTaskDefinition; CreateTaskSet, UpdateServicePrimaryTaskSet
and DeleteTaskSet, 3 service changes; its describes, batched by ten), and the wall time's
ratio to it (target 1.3). Prints JSON. `--rate-scale 10` multiplies both sides' buckets
for a quicker, less realistic run.

    .venv/bin/python bench/fanout.py --services 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from awsproxy import AwsProxy, ProxyThread  # bench/ is the script's directory
from noop_resync import make_in_sync, until

REGION = "ap-northeast-2"
OURS, THEIRS = "fanout", "plain"
URGENT = "urgent"
"""One more service of ours, bumped on its own a few seconds into the fan-out."""
URGENT_AFTER = 5.0
IMAGE = "public.ecr.aws/nginx/nginx"
VENV = Path.home() / ".cache" / "ecs-gitops-bench" / "ecs-deploy-venv"
SERVICE = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: {name}}}
spec:
  cluster: fanout
  desiredCount: 1
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {{subnets: [subnet-aaa, subnet-bbb], securityGroups: [sg-xxx]}}
  taskDefinition:
    family: {family}
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    containerDefinitions:
      - {{name: web, image: "{image}:{tag}", essential: true}}
"""


def write_source(root: Path, names: list[str], tag: str) -> None:
    (root / "cluster.yaml").write_text(
        f"apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata: {{name: {OURS}}}\n"
    )
    for name in names:
        write_service(root, name, tag)


def write_service(root: Path, name: str, tag: str) -> None:
    text = SERVICE.format(name=name, family=f"{OURS}-{name}", image=IMAGE, tag=tag)
    (root / f"{name}.yaml").write_text(text)


def make_plain_services(endpoint: str, cluster: str, names: list[str]) -> None:
    """ECS-controller services as a team deploying with ecs-deploy has them, on v1."""
    import boto3

    ecs = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)
    ecs.create_cluster(clusterName=cluster)
    for name in names:
        td = ecs.register_task_definition(
            family=f"{cluster}-{name}",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "web", "image": f"{IMAGE}:v1", "essential": True}],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster=cluster,
            serviceName=name,
            taskDefinition=td,
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": ["subnet-aaa"], "securityGroups": ["sg-xxx"]}
            },
        )


FLOOR_CALLS_PER_SERVICE = {
    "ecs:task-definition-modify": 1.0,  # RegisterTaskDefinition
    "ecs:service-modify": 3.0,  # CreateTaskSet, UpdateServicePrimaryTaskSet, DeleteTaskSet
    "ecs:service-read": 0.3,  # before the create, to see it healthy, after PRIMARY: by ten
}
"""The calls a task-set rollout cannot do without, per service, by throttle category."""


def api_floor(services: int, scale: float) -> dict[str, Any]:
    """The least wall time the buckets allow for `services` rollouts: per category, the
    calls beyond its burst at its rate; the floor is the slowest category."""
    limits = server_limits(scale)
    seconds = {
        name: round(max(0.0, (per * services - limits[name].burst) / limits[name].rate), 1)
        for name, per in FLOOR_CALLS_PER_SERVICE.items()
    }
    return {"seconds": max(seconds.values()), "by_category": seconds}


def mutating_per_service(proxy: AwsProxy, services: int) -> dict[str, Any]:
    from controller.aws.client import is_mutating

    calls = {
        op: n
        for op, n in proxy.by_operation("forwarded").items()
        if is_mutating(op.split(":", 1)[1])
    }
    return {
        "mutating_calls_per_service": round(sum(calls.values()) / services, 2),
        "mutating_calls_by_operation_per_service": {
            op: round(n / services, 2) for op, n in calls.items()
        },
    }


def server_limits(scale: float) -> dict[str, Any]:
    from controller.aws.ratelimit import DEFAULT_LIMITS

    return {name: limit.scaled(scale) for name, limit in DEFAULT_LIMITS.items()}


def proxy_report(proxy: AwsProxy) -> dict[str, Any]:
    return {
        "calls": proxy.total(),
        "calls_by_operation": proxy.by_operation(),
        "throttled_by_aws": proxy.total("throttled"),
        "revisions_registered": proxy.counts[("ecs", "RegisterTaskDefinition", "forwarded")],
        "revisions_deregistered": proxy.counts[("ecs", "DeregisterTaskDefinition", "forwarded")],
    }


# -- ecs-gitops ----------------------------------------------------------------------


async def child(endpoint: str, root: Path, within: float, workers: int) -> dict[str, Any]:
    """The controller as `ecs-gitops run` runs it (Controller: source loop, work queue,
    `workers` workers, HTTP), on the bumped source; URGENT gets its own bump a few
    seconds into the fan-out, and the time from that edit to its new task set is the
    figure for fairness: it must not wait behind the 200."""
    import structlog

    from controller.api import ResourceKey
    from controller.app import Controller, RunSettings
    from controller.aws.client import AwsClients, AwsSettings
    from controller.observability import logging as obs_logging
    from controller.sources.base import DirectorySource

    obs_logging.configure("error", "json")
    settings = RunSettings(
        workers=workers, poll_interval=0.2, resync_interval=3600.0, http_addr="127.0.0.1:0"
    )
    urgent = ResourceKey("EcsService", "", OURS, URGENT)
    stop = asyncio.Event()
    out: dict[str, Any] = {"driver": f"Controller (as `run`), {workers} workers"}
    started = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
            ctl = Controller(settings, aws, DirectorySource(root, poll_interval=0.2))
            running = asyncio.create_task(ctl.run(stop))

            def done() -> bool:
                revision = ctl.artifact.revision if ctl.artifact else None
                return len(ctl.statuses) == len(ctl.desired) > 0 and all(
                    s.ready and s.last_applied_revision == revision for s in ctl.statuses.values()
                )

            async with asyncio.timeout(within):
                await asyncio.sleep(URGENT_AFTER)
                edited = time.monotonic()
                write_service(root, URGENT, "v2")
                await until(lambda: _rolling(ctl.statuses.get(urgent)), 0.05)
                out["urgent_commit_to_new_task_set_seconds"] = round(time.monotonic() - edited, 2)
                out["urgent_edited_after_seconds"] = URGENT_AFTER
                revision = ctl.artifact.revision if ctl.artifact else None
                out["others_not_yet_synced_then"] = sum(
                    not (s := ctl.statuses.get(k))
                    or not s.ready
                    or s.last_applied_revision != revision
                    for k in ctl.desired
                    if k.kind == "EcsService" and k != urgent
                )
                await until(done, 0.2)
            stop.set()
            await running
    failed = [e for e in logs if e.get("event") == "reconcile_failed"]
    return {
        **out,
        "wall_seconds": round(time.monotonic() - started, 1),
        "all_synced": done(),
        "client_calls": aws.stats.total(),
        "client_throttled": sum(aws.stats.outcomes("throttled").values()),
        "rate_limit_waits": sum(aws.stats.waits.values()),
        "rate_limit_wait_seconds": round(sum(aws.stats.wait_seconds.values()), 1),
        "failed_reconciles": len(failed),
        "failed_reconciles_by_throttling": sum("Throttl" in str(e.get("error")) for e in failed),
        "not_synced": [str(k) for k, s in ctl.statuses.items() if not s.ready][:10],
    }


def _rolling(status: Any) -> bool:
    """A rollout of this status has its new task set (or it finished already)."""
    if status is None:
        return False
    rollout = status.rollout
    return bool(rollout is not None and rollout.new_task_set) or bool(
        status.history and status.history[0].revision == status.last_attempted_revision
    )


def run_ours(
    endpoint: str, root: Path, names: list[str], scale: float, workers: int
) -> dict[str, Any]:
    write_source(root, names, "v2")
    write_service(root, URGENT, "v1")
    with ProxyThread(AwsProxy(endpoint, limits=server_limits(scale))) as proxy:
        env = {**os.environ, "ECS_GITOPS_AWS_RATE_SCALE": str(scale)}
        args = [sys.executable, __file__, "--child", proxy.url, "--source", str(root)]
        args += ["--workers", str(workers)]
        proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"controller process failed:\n{proc.stderr[-4000:]}")
        result: dict[str, Any] = json.loads(proc.stdout)
        result.update(proxy_report(proxy))
        result.update(mutating_per_service(proxy, len(names) + 1))
    result["on_new_image"] = on_new_image(endpoint, OURS, names)
    floor = api_floor(len(names) + 1, scale)  # the urgent service rolls out too
    result["api_floor_seconds"] = floor["seconds"]
    result["api_floor_by_category"] = floor["by_category"]
    result["wall_vs_api_floor"] = round(result["wall_seconds"] / floor["seconds"], 2)
    return result


# -- ecs-deploy ----------------------------------------------------------------------


def ecs_deploy() -> tuple[Path | None, str]:
    """The `ecs` command of ecs-deploy in a venv of its own, installed on first use."""
    ecs = VENV / "bin" / "ecs"
    if not ecs.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
            subprocess.run(
                [str(VENV / "bin" / "pip"), "install", "-q", "ecs-deploy"],
                check=True,
                capture_output=True,
                timeout=600,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"ecs-deploy could not be installed: {exc}"
    version = subprocess.run([str(ecs), "--version"], capture_output=True, text=True, check=False)
    return ecs, version.stdout.strip()


def run_theirs(endpoint: str, names: list[str], jobs: int, scale: float) -> dict[str, Any]:
    ecs, version = ecs_deploy()
    if ecs is None:
        return {"skipped": version}
    cluster = f"{THEIRS}-{jobs}"
    make_plain_services(endpoint, cluster, names)
    time.sleep(2)  # the emulator starts every v1 task
    with ProxyThread(AwsProxy(endpoint, limits=server_limits(scale))) as proxy:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": proxy.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
        }

        def deploy(name: str) -> tuple[int, str]:
            argv = [str(ecs), "deploy", cluster, name, "--image", "web", f"{IMAGE}:v2"]
            proc = subprocess.run(
                [*argv, "--timeout", "-1"], capture_output=True, text=True, env=env, check=False
            )
            return proc.returncode, (proc.stdout + proc.stderr)[-300:]

        started = time.monotonic()
        with ThreadPoolExecutor(jobs) as pool:
            results = list(pool.map(deploy, names))
        wall = time.monotonic() - started
        report = {**proxy_report(proxy), **mutating_per_service(proxy, len(names))}
    failures = [(name, out) for name, (code, out) in zip(names, results, strict=True) if code]
    throttled = [name for name, out in failures if "Throttl" in out or "Rate exceeded" in out]
    return {
        "version": version,
        "jobs": jobs,
        "wall_seconds": round(wall, 1),
        **report,
        "failed_deploys": len(failures),
        "failed_deploys_by_throttling": len(throttled),
        "failure_sample": failures[0][1] if failures else None,
        "on_new_image": on_new_image(endpoint, cluster, names),
    }


def on_new_image(endpoint: str, cluster: str, names: list[str]) -> int:
    """How many services run the v2 image now: their PRIMARY task set, or the service's
    own task definition for the ECS controller."""
    import boto3

    ecs = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)
    count = 0
    for i in range(0, len(names), 10):
        for svc in ecs.describe_services(cluster=cluster, services=names[i : i + 10])["services"]:
            primary = [ts for ts in svc.get("taskSets", []) if ts["status"] == "PRIMARY"]
            arn = primary[0]["taskDefinition"] if primary else svc.get("taskDefinition", "")
            td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            count += td["containerDefinitions"][0]["image"].endswith(":v2")
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument(
        "--jobs",
        default="1,8",
        help="ecs-deploy processes at a time: a run for each, on services of its own (0: none)",
    )
    parser.add_argument("--rate-scale", type=float, default=1.0)
    parser.add_argument(
        "--workers",
        type=int,
        default=16,
        help="ecs-gitops: the controller's workers (`run --workers`)",
    )
    parser.add_argument("--within", type=float, default=1800.0)
    parser.add_argument("--child", metavar="ENDPOINT", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    if args.child:
        result = asyncio.run(child(args.child, args.source, args.within, args.workers))
        print(json.dumps(result))
        return 0

    from controller.local import EmulatedAws
    from controller.observability import logging as obs_logging

    obs_logging.configure("error", "console")
    names = [f"svc-{i:03}" for i in range(args.services)]
    with tempfile.TemporaryDirectory() as tmp, EmulatedAws(task_start_delay=0.3) as aws:
        root = Path(tmp) / "src"
        root.mkdir()
        write_source(root, names, "v1")
        write_service(root, URGENT, "v1")
        setup = asyncio.run(make_in_sync(aws.endpoint_url, root))
        time.sleep(2)  # the emulator starts every v1 task
        ours = run_ours(aws.endpoint_url, root, names, args.rate_scale, args.workers)
        theirs = [
            run_theirs(aws.endpoint_url, names, int(jobs), args.rate_scale)
            for jobs in args.jobs.split(",")
            if int(jobs) > 0
        ]
    print(
        json.dumps(
            {
                "benchmark": "fanout",
                "services": args.services,
                "rate_scale": args.rate_scale,
                "server_side_limits": "AWS's published ECS buckets"
                + (f" x {args.rate_scale}" if args.rate_scale != 1 else ""),
                "setup_seconds": round(setup, 1),
                "ecs_gitops": ours,
                "ecs_deploy": theirs,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
