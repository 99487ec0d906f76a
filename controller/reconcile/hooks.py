"""preSync and postSync hooks: EcsTasks a service runs around a rollout, once per revision.

Design: level-triggered, like the rollout driver. Each call reads the service's tags and
the hook's tasks and takes at most the next step; nothing lives in memory. A hook run is
keyed by (phase, hook name, digest of the EcsTask's spec, the service's desired task-set
externalId); its digest is

  - the RunTask `startedBy` (and clientToken): before starting, ListTasks(startedBy)
    looks for a run an earlier, killed controller started, so a SIGKILL between RunTask
    and the tag write never runs a hook twice;
  - the service tag ecs-gitops.dev/hook-<phase>-<name> = <digest>:<state>:<task id>[:why],
    state started | succeeded | failed: the record that outlives ECS's hour of STOPPED
    tasks and every restart.

preSync hooks run, in order, when the desired task set does not exist yet (and its
revision has not already been rolled back); each must stop with every essential
container exited 0 before the next starts and before the task set is created. A failed
or timed-out hook blocks the rollout (Degraded, with stoppedReason, exit codes and the
task's ARN and console link) until the spec changes. postSync hooks run the same way
once the desired set is PRIMARY and alone (the rollout succeeded). Hook tasks run in the
service's cluster with the EcsTask's network and capacity settings, or the service's
where the task leaves them out. Their task definitions are found or registered by the
services' rule (taskset.ensure_task_definition).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import structlog

from controller.api import EcsService, EcsTask, Resource, ResourceKey, resource_key, tagtext
from controller.api.common import MANAGED_BY_TAG, TAG_PREFIX
from controller.api.ecs_shapes import TaskDefinitionInput
from controller.api.refs import hook_task_key
from controller.api.status import HookStatus
from controller.aws.ecs import Ecs
from controller.aws.models import LiveService
from controller.aws.tasks import RunTaskFailed, StandaloneTask, Tasks, console_url
from controller.notify.events import Event
from controller.reconcile.context import Context, cluster_name
from controller.reconcile.deployers import deployer_for
from controller.reconcile.rollout.base import FAILED_TAG, tag_safe
from controller.reconcile.taskset import DesiredTaskSet, ensure_task_definition

log = structlog.get_logger(__name__)

Phase = Literal["preSync", "postSync"]
StepState = Literal["pending", "started", "waiting", "failed"]
HOOK_TAG_PREFIX = f"{TAG_PREFIX}hook-"
HOOK_TASK_TAG = f"{TAG_PREFIX}hook"
"""On hook tasks: <phase>/<service>/<hook name>."""
POLL_SECONDS = 3.0


@dataclass
class HookStep:
    """What a hook phase did or found: not done yet (started, waiting) or failed."""

    phase: Phase
    hook: str
    state: StepState
    message: str
    requeue_after: float | None = POLL_SECONDS
    changed: bool = False
    hooks: list[HookStatus] = field(default_factory=list)
    stopped_reasons: list[str] = field(default_factory=list)
    notices: list[Event] = field(default_factory=list)

    @property
    def health(self) -> Literal["Degraded", "Progressing"]:
        return "Degraded" if self.state == "failed" else "Progressing"


@dataclass(frozen=True)
class Record:
    """The tag value of one hook: which run, how it went."""

    digest: str
    state: str
    task_id: str = ""
    reason: str = ""

    def encode(self) -> str:
        text = f"{self.digest}:{self.state}:{self.task_id}"
        if not self.reason:
            return text
        return f"{text}:{tag_safe(self.reason, tagtext.LIMIT - len(text) - 1)}"

    @classmethod
    def parse(cls, value: str | None) -> Record | None:
        parts = (value or "").split(":", 3)
        if len(parts) < 3:
            return None
        reason = tagtext.decode(parts[3]) if len(parts) > 3 else ""
        return cls(parts[0], parts[1], parts[2], reason)


def task_index(resources: Iterable[Resource]) -> dict[ResourceKey, EcsTask]:
    """The EcsTasks of a source by key: what Context.tasks holds."""
    return {resource_key(r): r for r in resources if isinstance(r, EcsTask)}


def tasks_for(svc: EcsService, ctx: Context) -> dict[str, EcsTask]:
    """The service's hook tasks by name (those the source has, valid)."""
    key = resource_key(svc)
    hooks = svc.spec.hooks
    found = {name: ctx.tasks.get(hook_task_key(key, name)) for name in hooks.pre_sync}
    found |= {name: ctx.tasks.get(hook_task_key(key, name)) for name in hooks.post_sync}
    return {name: task for name, task in found.items() if task is not None}


def hook_tag(phase: Phase, name: str) -> str:
    short = "pre" if phase == "preSync" else "post"
    tag = f"{HOOK_TAG_PREFIX}{short}-{name}"
    if len(tag) <= 128:
        return tag
    return f"{tag[:110]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def hook_digest(phase: Phase, name: str, task: EcsTask, external_id: str) -> str:
    body = json.dumps(
        {"phase": phase, "hook": name, "spec": task.spec.to_api(), "set": external_id},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()[:24]


def _live_sets(live: LiveService) -> list[str]:
    return [ts.external_id or "" for ts in live.task_sets if ts.status != "DRAINING"]


async def reconcile_pre_sync(
    ctx: Context,
    svc: EcsService,
    tasks: Mapping[str, EcsTask],
    live: LiveService,
    want: DesiredTaskSet | None = None,
) -> HookStep | None:
    """Call before creating a task set; None when every preSync hook of this revision
    succeeded (or there is nothing to run before): go ahead and create it."""
    want = want or DesiredTaskSet.from_spec(svc.spec, identity=ctx.identity)
    names = svc.spec.hooks.pre_sync
    if not names or any(want.matches(ts) for ts in live.task_sets if ts.status != "DRAINING"):
        return None
    if live.tags.get(FAILED_TAG) == want.external_id:
        return None  # this revision was rolled back: the rollout driver says so
    return await _run_phase(ctx, svc, tasks, live, want.external_id, "preSync", names)


async def reconcile_post_sync(
    ctx: Context,
    svc: EcsService,
    tasks: Mapping[str, EcsTask],
    live: LiveService,
    want: DesiredTaskSet | None = None,
    rolled_out: bool | None = None,
) -> HookStep | None:
    """Call once the rollout has nothing left to do; None when every postSync hook of the
    PRIMARY revision succeeded (or the rollout has not finished: nothing to run yet).
    rolled_out: the deployer's word that the desired revision is all that runs (by
    default: the desired task set is PRIMARY and alone)."""
    want = want or DesiredTaskSet.from_spec(svc.spec, identity=ctx.identity)
    names = svc.spec.hooks.post_sync
    if rolled_out is None:
        primary = live.primary_task_set
        rolled_out = primary is not None and want.matches(primary) and len(_live_sets(live)) <= 1
    if not names or not rolled_out:
        return None
    return await _run_phase(ctx, svc, tasks, live, want.external_id, "postSync", names)


@dataclass
class _Run:
    ctx: Context
    svc: EcsService
    live: LiveService
    phase: Phase
    region: str
    cluster: str
    ecs: Ecs
    statuses: list[HookStatus] = field(default_factory=list)

    def step(
        self,
        hook: str,
        state: StepState,
        message: str,
        *,
        requeue_after: float | None = POLL_SECONDS,
        changed: bool = False,
        stopped_reasons: list[str] | None = None,
        notices: list[Event] | None = None,
    ) -> HookStep:
        return HookStep(
            self.phase,
            hook,
            state,
            message,
            requeue_after,
            changed,
            self.statuses,
            stopped_reasons or [],
            notices or [],
        )

    def arn(self, task_id: str) -> str:
        """A task's ARN from its id (the service ARN names partition, region, account)."""
        prefix = self.live.service_arn.split(":service/", 1)[0]
        return f"{prefix}:task/{self.cluster}/{task_id}"

    def event(self, hook: str, message: str, task_arn: str | None) -> Event:
        key = resource_key(self.svc)
        return Event(
            "hook_failed",
            key,
            self.ctx.revision,
            message,
            self.ctx.clock(),
            hook=hook,
            task_arn=task_arn,
        )


async def _run_phase(
    ctx: Context,
    svc: EcsService,
    tasks: Mapping[str, EcsTask],
    live: LiveService,
    external_id: str,
    phase: Phase,
    names: list[str],
) -> HookStep | None:
    region = ctx.region_of(svc.spec.region)
    run = _Run(ctx, svc, live, phase, region, cluster_name(svc.spec.cluster), ctx.ecs(region))
    for index, name in enumerate(names):
        task = tasks.get(name)
        if task is None:
            return run.step(
                name,
                "failed",
                f"{phase} hook {name}: no valid EcsTask {name!r} in cluster {run.cluster}; "
                "the rollout waits for it",
                requeue_after=None,
            )
        step = await _one_hook(run, name, task, hook_digest(phase, name, task, external_id))
        if step is not None:
            if step.state == "started" and phase == "preSync" and index == 0:
                message = f"running preSync hook {name} before the new task set"
                step.notices.insert(0, rollout_started(ctx, svc, message))
            return step
    return None


def rollout_started(ctx: Context, svc: EcsService, message: str) -> Event:
    """The notice of a rollout's first step (a preSync hook, or the new task set)."""
    return Event(
        "rollout_started",
        resource_key(svc),
        ctx.revision,
        message,
        ctx.clock(),
        strategy=deployer_for(svc.spec).strategy(svc.spec),
    )


async def _one_hook(run: _Run, name: str, task: EcsTask, digest: str) -> HookStep | None:
    """The next step of one hook; None once it has succeeded (recorded in the tags)."""
    phase, ctx = run.phase, run.ctx
    tag = hook_tag(phase, name)
    record = Record.parse(run.live.tags.get(tag))
    current = record if record is not None and record.digest == digest else None
    if current is not None and current.state == "succeeded":
        run.statuses.append(_status(run, name, "Succeeded", current.task_id))
        return None
    if current is not None and current.state == "failed":
        message = f"{phase} hook {name} failed: {current.reason or 'see the task'}"
        # its exit codes and stoppedReason, while ECS still shows the stopped task (one
        # DescribeTasks at each resync of a service held by a failed hook)
        found = (
            await Tasks(run.ecs).describe(run.cluster, [run.arn(current.task_id)])
            if current.task_id
            else []
        )
        run.statuses.append(_status(run, name, "Failed", current.task_id, found, message=message))
        return run.step(
            name,
            "failed",
            _with_arn(message, run, current.task_id),
            requeue_after=None,
            stopped_reasons=[t.stopped_reason for t in found if t.stopped_reason][:5],
        )
    started_by = f"ecs-gitops-{digest}"
    if ctx.dry_run:
        what = "is running" if current is not None else "would run"
        return run.step(name, "pending", f"{phase} hook {name} {what}", requeue_after=None)
    tasks_api = Tasks(run.ecs)
    found = await tasks_api.find(run.cluster, started_by)
    if not found:
        if current is not None:  # started, yet ECS no longer lists it: outcome unknown
            return await _fail(
                run,
                name,
                tag,
                digest,
                current.task_id,
                "its tasks are no longer listed by ECS; the outcome is unknown",
                [],
            )
        return await _start(run, name, task, tag, digest, started_by, tasks_api)
    first = found[0]
    changed = False
    if current is None or current.state != "started":
        await run.ecs.tag(run.live.service_arn, {tag: Record(digest, "started", first.id).encode()})
        changed = True
    running = [t for t in found if not t.stopped]
    if running:
        begun = min((t.created_at for t in found if t.created_at), default=None)
        timeout = task.spec.timeout_seconds
        if begun is not None and (ctx.clock() - begun).total_seconds() > timeout:
            reason = f"timed out after {timeout} s"
            for t in running:
                await tasks_api.stop(
                    run.cluster, t.task_arn, f"ecs-gitops: {phase} hook {name} {reason}"
                )
            return await _fail(run, name, tag, digest, first.id, reason, found)
        run.statuses.append(_status(run, name, "Started", first.id, found))
        return run.step(
            name,
            "waiting",
            f"{phase} hook {name} is running (task {first.id})",
            changed=changed,
        )
    problem = _judge(found, _essential(task.spec.task_definition_input))
    if problem is not None:
        return await _fail(run, name, tag, digest, first.id, problem, found)
    await run.ecs.tag(run.live.service_arn, {tag: Record(digest, "succeeded", first.id).encode()})
    log.info("hook_succeeded", phase=phase, hook=name, task=first.id)
    run.statuses.append(_status(run, name, "Succeeded", first.id, found))
    return None


async def _start(
    run: _Run, name: str, task: EcsTask, tag: str, digest: str, started_by: str, api: Tasks
) -> HookStep:
    spec, svc = task.spec, run.svc.spec
    own_placement = spec.launch_type is not None or bool(spec.capacity_provider_strategy)
    td, identity = spec.task_definition_input, run.ctx.identity
    arn, _ = await ensure_task_definition(
        run.ecs,
        td,
        identity.current.spec_hash(td),
        [],
        instance=run.ctx.instance,
        registrations=run.ctx.registrations,
        identity=identity,
    )
    try:
        started = await api.run(
            run.cluster,
            task_definition=arn,
            started_by=started_by,
            count=spec.count,
            launch_type=spec.launch_type if own_placement else svc.launch_type,
            capacity_provider_strategy=(
                spec.capacity_provider_strategy if own_placement else svc.capacity_provider_strategy
            ),
            platform_version=spec.platform_version or svc.platform_version,
            network_configuration=spec.network_configuration or svc.network_configuration,
            overrides=spec.overrides,
            group=spec.group,
            placement_constraints=spec.placement_constraints,
            placement_strategy=spec.placement_strategy,
            enable_execute_command=spec.enable_execute_command,
            propagate_tags=spec.propagate_tags,
            tags={
                **spec.tags,
                MANAGED_BY_TAG: run.ctx.instance,
                HOOK_TASK_TAG: f"{run.phase}/{run.svc.metadata.name}/{name}",
            },
        )
    except RunTaskFailed as exc:  # nothing started: try again later
        log.warning("hook_not_started", phase=run.phase, hook=name, reason=str(exc))
        return run.step(
            name, "waiting", f"{run.phase} hook {name} could not start: {exc}", requeue_after=10.0
        )
    first = started[0]
    await run.ecs.tag(run.live.service_arn, {tag: Record(digest, "started", first.id).encode()})
    log.info("hook_started", phase=run.phase, hook=name, task=first.id, task_definition=arn)
    run.statuses.append(_status(run, name, "Started", first.id, started))
    return run.step(
        name, "started", f"started {run.phase} hook {name} (task {first.id})", changed=True
    )


async def _fail(
    run: _Run,
    name: str,
    tag: str,
    digest: str,
    task_id: str,
    reason: str,
    found: list[StandaloneTask],
) -> HookStep:
    await run.ecs.tag(
        run.live.service_arn, {tag: Record(digest, "failed", task_id, reason).encode()}
    )
    message = f"{run.phase} hook {name} failed: {reason}"
    log.warning("hook_failed", phase=run.phase, hook=name, task=task_id, reason=reason)
    run.statuses.append(_status(run, name, "Failed", task_id, found, message))
    arn = run.arn(task_id) if task_id else None
    return run.step(
        name,
        "failed",
        _with_arn(message, run, task_id),
        requeue_after=None,
        changed=True,
        stopped_reasons=[t.stopped_reason for t in found if t.stopped_reason][:5],
        notices=[run.event(name, message, arn)],
    )


def _with_arn(message: str, run: _Run, task_id: str) -> str:
    return f"{message} ({run.arn(task_id)})" if task_id else message


def _essential(td: TaskDefinitionInput) -> set[str]:
    return {c.name or "" for c in td.container_definitions if c.essential is not False}


def _judge(found: list[StandaloneTask], essential: set[str]) -> str | None:
    """None when every essential container of every task exited 0; else what went wrong."""
    for t in found:
        codes = {c.name: c.exit_code for c in t.containers if c.name in essential}
        if codes and all(code == 0 for code in codes.values()):
            continue
        shown = ", ".join(f"{n}={'none' if c is None else c}" for n, c in sorted(codes.items()))
        return (
            f"task {t.id} stopped ({t.stopped_reason or t.stop_code or 'no reason given'}); "
            f"exit codes: {shown or 'none'}"
        )
    return None


def _status(
    run: _Run,
    name: str,
    state: str,
    task_id: str,
    found: list[StandaloneTask] | None = None,
    message: str = "",
) -> HookStatus:
    arn = run.arn(task_id) if task_id else None
    first = next((t for t in found or [] if t.id == task_id), None)
    return HookStatus(
        name=name,
        phase=run.phase,
        state=state,
        task_arn=arn,
        task_url=console_url(run.region, run.cluster, arn) if arn else None,
        exit_codes={c.name: c.exit_code for c in first.containers} if first else {},
        stopped_reason=first.stopped_reason if first else None,
        message=message,
        started_at=(first.created_at or first.started_at) if first else None,
        stopped_at=first.stopped_at if first else None,
    )
