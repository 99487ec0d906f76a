"""The writer of a rollout step: its stamp in the rollout tag, the conflict rule on an
injected clock, and the source id on the services a source manages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.reconcile.rollout.state import TAG_VALUE_LIMIT, RolloutState
from controller.runtime.election import default_identity
from controller.runtime.writer import Stamp, Writer
from controller.sources.base import source_id

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
TAG_VALUE = re.compile(r"^[\w .:/=+\-@]*$")
"""What ECS accepts in a tag value."""


def state(stamp: Stamp | None) -> RolloutState:
    return RolloutState("ecs-gitops:0123456789abcdef0123", 2, T0, T0 - timedelta(minutes=3), stamp)


@pytest.mark.parametrize(
    "instance",
    ["ecs-gitops", "team/prod@eu", "", "a b+c=d:e"],
    ids=["plain", "slash-and-at", "empty", "other-allowed"],
)
def test_stamp_reads_back_exactly_and_is_tag_safe(instance: str) -> None:
    written = state(Stamp(default_identity(), T0 + timedelta(seconds=7), instance))
    value = written.encode()
    assert TAG_VALUE.match(value), value
    assert RolloutState.decode(value) == written


def test_a_long_instance_name_is_cut_but_the_writer_survives() -> None:
    identity = default_identity()
    value = state(Stamp(identity, T0, "x" * 300)).encode()
    assert len(value) == TAG_VALUE_LIMIT
    decoded = RolloutState.decode(value)
    assert decoded is not None
    assert decoded.stamp is not None
    assert decoded.stamp.writer == identity
    assert decoded.stamp.written == T0


def test_a_tag_of_an_older_version_decodes_with_no_writer() -> None:
    legacy = f"ecs-gitops:abc/1/{int(T0.timestamp())}/{int(T0.timestamp()) - 60}"
    decoded = RolloutState.decode(legacy)
    assert decoded is not None
    assert decoded.step == 1
    assert decoded.stamp is None
    assert decoded.encode() == legacy  # a released claim is written in the same form


@pytest.mark.parametrize("value", ["", "a/b", "x/1/2/3/4", "x/1/2/3/notatime/w@i", "x/y/1/2"])
def test_malformed_values_decode_to_none(value: str) -> None:
    assert RolloutState.decode(value) is None


def test_another_writer_holds_the_rollout_for_the_lease_then_lapses() -> None:
    me, other = Writer("me", lease=30.0), Stamp("other", T0, "ecs-gitops")
    assert me.claim_left(other, T0 + timedelta(seconds=1)) == pytest.approx(29.0)
    assert me.claim_left(other, T0 + timedelta(seconds=29.5)) == pytest.approx(0.5)
    assert me.claim_left(other, T0 + timedelta(seconds=30)) is None  # dead: take over
    assert me.claim_left(Stamp("me", T0), T0) is None  # our own
    assert me.claim_left(None, T0) is None  # released, or an older version's tag
    assert me.claim_left(Stamp("", T0), T0) is None


def test_a_holder_renews_after_a_third_of_the_lease_only() -> None:
    me = Writer("me", lease=30.0)
    assert not me.renewal_due(Stamp("me", T0), T0 + timedelta(seconds=9))
    assert me.renewal_due(Stamp("me", T0), T0 + timedelta(seconds=10))
    assert me.renewal_due(Stamp("other", T0), T0)  # lapsed (checked first): ours now
    assert me.renewal_due(None, T0)


def test_the_writer_lease_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Writer("me", lease=0)


def test_source_id_is_stable_short_and_shows_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repo").mkdir()
    assert source_id("repo") == source_id(str(tmp_path / "repo"))
    with_token = source_id("git+https://x-access-token:s3cret@github.com/o/r#path=deploy")
    assert with_token == source_id("git+https://github.com/o/r#path=deploy")
    assert with_token != source_id("git+https://github.com/o/r#path=other")
    assert TAG_VALUE.match(with_token)
    assert len(with_token) <= 24
    assert "github" not in with_token
