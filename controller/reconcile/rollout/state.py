"""A rollout's progress, kept in the service's tags so it survives any restart.

One tag holds `<externalId>/<step>/<step started, unix s>/<rollout started, unix s>`
(tag values allow letters, digits and `_ . : / = + - @`, so `/` separates). It names the
task set it belongs to, so a tag left by an older rollout is recognised as stale. The
manual gates are tags too: `promote` holds `<externalId>/<step>` (that step may go on),
`abort` holds the externalId to roll back. `secret-rotated` holds `<externalId>/<names>`
(space-separated; secret and parameter names have no spaces) when the rollout exists
because those secrets rotated, so every step, and the record of its end, can say why
after the old task set, whose tags told, is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from controller.api.common import TAG_PREFIX

ROLLOUT_TAG = f"{TAG_PREFIX}rollout"
PROMOTE_TAG = f"{TAG_PREFIX}promote"
ABORT_TAG = f"{TAG_PREFIX}abort"
ROTATED_TAG = f"{TAG_PREFIX}secret-rotated"
ROLLOUT_TAGS = (ROLLOUT_TAG, PROMOTE_TAG, ABORT_TAG, ROTATED_TAG)
TAG_VALUE_LIMIT = 256


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


def encode_rotated(external_id: str, names: list[str]) -> str:
    """The ROTATED_TAG value; names that would pass the tag value limit are left out."""
    value = external_id + "/"
    for i, name in enumerate(names):
        entry = name if i == 0 else f" {name}"
        if len(value) + len(entry) > TAG_VALUE_LIMIT:
            break
        value += entry
    return value


def rotation_reason(tags: dict[str, str], external_id: str) -> str:
    """ "secret rotated: <names>" when this task set's rollout is for rotated secrets."""
    owner, _, names = tags.get(ROTATED_TAG, "").partition("/")
    if owner != external_id or not names.strip():
        return ""
    return "secret rotated: " + ", ".join(names.split())
