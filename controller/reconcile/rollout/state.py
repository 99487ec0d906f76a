"""A rollout's progress, kept in the service's tags so it survives any restart.

One tag holds `<externalId>/<step>/<step started, unix s>/<rollout started, unix s>`
`/<written, unix s>/<writer>@<instance>` (tag values allow letters, digits and
`_ . : / = + - @`, so `/` separates; externalIds and writer identities hold neither `/`
nor `@`, and the instance name, last, may). It names the task set it belongs to, so a
tag left by an older rollout is recognised as stale, and who wrote it when (the writer's
claim, runtime/writer.py); a value of the first four fields alone (an older version, or
a claim released) claims nothing. The
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
from controller.runtime.writer import Stamp

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
    stamp: Stamp | None = None
    """Who wrote this state and when; None: nobody holds the rollout."""

    def encode(self) -> str:
        value = (
            f"{self.external_id}/{self.step}/"
            f"{int(self.step_started.timestamp())}/{int(self.started.timestamp())}"
        )
        if self.stamp is not None:
            stamp = self.stamp
            value += f"/{int(stamp.written.timestamp())}/{stamp.writer}@{stamp.instance}"
        return value[:TAG_VALUE_LIMIT]  # only a long instance name, shown not compared, is cut

    @classmethod
    def decode(cls, value: str | None) -> RolloutState | None:
        if not value:
            return None
        parts = value.split("/", 5)
        try:
            if len(parts) not in (4, 6):
                return None
            stamp = None
            if len(parts) == 6:
                writer, _, instance = parts[5].partition("@")
                stamp = Stamp(writer, _time(parts[4]), instance)
            return cls(parts[0], int(parts[1]), _time(parts[2]), _time(parts[3]), stamp)
        except ValueError:
            return None

    def at_step(self, step: int, now: datetime) -> RolloutState:
        return RolloutState(self.external_id, step, now, self.started)

    def stamped(self, stamp: Stamp | None) -> RolloutState:
        return RolloutState(self.external_id, self.step, self.step_started, self.started, stamp)


def _time(seconds: str) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


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
