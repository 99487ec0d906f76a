"""How a reconcile ends: a status, and when to look again.

controller-runtime's contract: a reconcile returns (done, or requeue after N seconds
while ECS works) or raises (retryable: backoff; terminal: Stalled until the input
changes). `changed` says whether this call mutated anything, for counting and tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.api.status import ResourceStatus


@dataclass(frozen=True)
class Result:
    status: ResourceStatus
    requeue_after: float | None = None
    changed: bool = False

    @property
    def done(self) -> bool:
        return self.requeue_after is None
