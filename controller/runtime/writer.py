"""Who writes a rollout step, and when another writer's claim on it must be respected.

Without leader election two controllers can act on one service: the old and the new task
of a rolling update of the controller itself, or two sources under one instance name.
Each process is one Writer (its lease.default_identity, made once at start), and every
rollout step it writes carries a Stamp: that identity and the wall-clock time of the
write. Another writer's stamp younger than the writer lease is a live claim: leave the
service alone. Older, that writer is taken for dead and anyone may take over; this is how
a controller started after a crash resumes the rollout, one lease later. A stamp with no
writer (a graceful stop released it, or an older version wrote it) claims nothing.

The holder renews its stamp once it is older than a third of the lease, so a rollout that
waits long (a canary pause, a bake) stays claimed for about three writes per lease, and a
holder that misses two renewals in a row (a queue backed up) still keeps it. Like the
leader lease, safety needs the writers' clocks to agree to well within the lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEFAULT_WRITER_LEASE = 30.0
"""Seconds a rollout step's writer keeps its claim without writing again. Longer than the
leader lease (15 s): each renewal is a TagResource call, not a cheap DynamoDB write."""
RENEW_FRACTION = 3


@dataclass(frozen=True)
class Stamp:
    """Who wrote a rollout step, and when."""

    writer: str
    """The writing process's identity (host-pid-random)."""
    written: datetime
    instance: str = ""
    """Its --instance-name, to say who in messages; never compared."""


@dataclass(frozen=True)
class Writer:
    """This process as a writer of rollout steps."""

    identity: str
    lease: float = DEFAULT_WRITER_LEASE

    def __post_init__(self) -> None:
        if self.lease <= 0:
            raise ValueError(f"the writer lease must be positive, got {self.lease}")

    def stamp(self, now: datetime, instance: str = "") -> Stamp:
        return Stamp(self.identity, now, instance)

    def claim_left(self, stamp: Stamp | None, now: datetime) -> float | None:
        """Seconds another live writer's claim has left; None when we may write."""
        if stamp is None or not stamp.writer or stamp.writer == self.identity:
            return None
        left = self.lease - (now - stamp.written).total_seconds()
        return left if left > 0 else None

    def renewal_due(self, stamp: Stamp | None, now: datetime) -> bool:
        """Whether we should (re)write the stamp while we hold the rollout: there is none,
        it is another (lapsed) writer's, or ours is older than a third of the lease."""
        if stamp is None or stamp.writer != self.identity:
            return True
        return (now - stamp.written).total_seconds() >= self.lease / RENEW_FRACTION
