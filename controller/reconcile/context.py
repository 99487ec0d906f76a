"""What a reconcile needs besides the resource: AWS access, identity, clock, mode.

One Context lives as long as the controller (or one CLI command), so the per-region
Ecs objects, and with them the task definition cache, survive across reconciles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller.api.common import ResourceKey
from controller.api.task import EcsTask
from controller.aws.autoscaling import AutoScaling
from controller.aws.client import AwsClients
from controller.aws.ecs import Ecs
from controller.reconcile.identity import IDENTITY, Identity
from controller.reconcile.taskset import Registrations
from controller.runtime.election import default_identity
from controller.runtime.writer import Writer

PREFLIGHT_MODES = ("auto", "block", "warn", "off")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    aws: AwsClients
    instance: str = "ecs-gitops"
    dry_run: bool = False
    revision: str | None = None
    """The source revision (commit) being applied, for status and tags."""
    clock: Callable[[], datetime] = utcnow
    keep_revisions: int = 10
    """Task definition revisions of ours kept per family (plus those in use)."""
    tasks: Mapping[ResourceKey, EcsTask] = field(default_factory=dict)
    """The source's EcsTask resources, which services name as hooks (hooks.task_index)."""
    preflight: str = "auto"
    """Preflight before a new task set (PREFLIGHT_MODES): block (Degraded, nothing
    launched), warn, off, or auto: block unless nothing the task definition names exists
    in the account (an emulator or an unprovisioned account), then warn."""
    origins: Mapping[ResourceKey, Any] = field(default_factory=dict)
    """Where each resource was written (loader.Loaded), for located preflight messages."""
    identity: Identity = IDENTITY
    """How ids are computed (identity.py): this release's scheme, and the older ones."""
    registrations: Registrations = field(default_factory=Registrations)
    """Task definition registrations in flight, shared by every reconcile (one per content)."""
    writer: Writer = field(default_factory=lambda: Writer(default_identity()))
    """This process as the writer of rollout steps (rollout/claim.py)."""
    source_id: str | None = None
    """The source's id (sources.base.source_id) for the source tag; None: not written."""
    claims: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """Services whose rollout this process stamped: ARN -> (region, cluster, name), to
    release them on a graceful stop. Shared by derived contexts."""
    _ecs: dict[str, Ecs] = field(default_factory=dict)
    _scaling: dict[str, AutoScaling] = field(default_factory=dict)

    @property
    def default_region(self) -> str:
        return self.aws.settings.region

    def region_of(self, region: str | None) -> str:
        return region or self.default_region

    def derive(self, *, dry_run: bool | None = None, revision: str | None = None) -> Context:
        """A context for one reconcile that shares this one's clients and caches."""
        return Context(
            aws=self.aws,
            instance=self.instance,
            dry_run=self.dry_run if dry_run is None else dry_run,
            revision=self.revision if revision is None else revision,
            clock=self.clock,
            keep_revisions=self.keep_revisions,
            tasks=self.tasks,
            origins=self.origins,
            preflight=self.preflight,
            identity=self.identity,
            registrations=self.registrations,
            writer=self.writer,
            source_id=self.source_id,
            claims=self.claims,
            _ecs=self._ecs,
            _scaling=self._scaling,
        )

    def ecs(self, region: str) -> Ecs:
        if region not in self._ecs:
            self._ecs[region] = Ecs(self.aws, region)
        return self._ecs[region]

    def autoscaling(self, region: str) -> AutoScaling:
        if region not in self._scaling:
            self._scaling[region] = AutoScaling(self.aws, region)
        return self._scaling[region]


def cluster_name(ref: str) -> str:
    """A cluster ARN or name, as the name."""
    return ref.rsplit("/", 1)[-1]
