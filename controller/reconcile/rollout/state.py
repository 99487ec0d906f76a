"""A rollout's progress, kept in the service's tags so it survives any restart.

One tag holds `<externalId>/<step>/<step started, unix s>/<rollout started, unix s>`
(tag values allow letters, digits and `_ . : / = + - @`, so `/` separates). It names the
task set it belongs to, so a tag left by an older rollout is recognised as stale. The
manual gates are tags too: `promote` holds `<externalId>/<step>` (that step may go on),
`abort` holds the externalId to roll back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from controller.api.common import TAG_PREFIX

ROLLOUT_TAG = f"{TAG_PREFIX}rollout"
PROMOTE_TAG = f"{TAG_PREFIX}promote"
ABORT_TAG = f"{TAG_PREFIX}abort"
ROLLOUT_TAGS = (ROLLOUT_TAG, PROMOTE_TAG, ABORT_TAG)


@dataclass(frozen=True)
class RolloutState:
    external_id: str
    step: int
    step_started: datetime
    started: datetime

    def encode(self) -> str:
        return (
            f"{self.external_id}/{self.step}/"
            f"{int(self.step_started.timestamp())}/{int(self.started.timestamp())}"
        )

    @classmethod
    def decode(cls, value: str | None) -> RolloutState | None:
        if not value:
            return None
        try:
            external_id, step, step_started, started = value.rsplit("/", 3)
            return cls(
                external_id,
                int(step),
                datetime.fromtimestamp(int(step_started), UTC),
                datetime.fromtimestamp(int(started), UTC),
            )
        except ValueError:
            return None

    def at_step(self, step: int, now: datetime) -> RolloutState:
        return RolloutState(self.external_id, step, now, self.started)


def read_state(tags: dict[str, str], external_id: str) -> RolloutState | None:
    """The rollout state of this task set, or None (none yet, or another set's)."""
    state = RolloutState.decode(tags.get(ROLLOUT_TAG))
    return state if state is not None and state.external_id == external_id else None


def promoted(tags: dict[str, str], external_id: str, step: int) -> bool:
    return tags.get(PROMOTE_TAG) == f"{external_id}/{step}"


def aborted(tags: dict[str, str], external_id: str) -> bool:
    return tags.get(ABORT_TAG) == external_id
