"""Text kept in tags comes back exactly as written (api/tagtext.py), within ECS's rules."""

from __future__ import annotations

import re

import pytest

from controller.api import tagtext
from controller.reconcile.hooks import Record

# what ECS takes in a tag value (the ASCII part of it: the codec writes nothing else)
ECS_TAG_VALUE = re.compile(r"^[A-Za-z0-9 +\-=._:/@]{0,256}$")

MESSAGES = [
    "task 1f2e stopped (Essential container in task exited); exit codes: web=1",
    'a "quoted", comma; separated (list) [with] {braces} & ampersands 100% #1',
    "unicode: café — ñ 日本語 ✓",
    "",
    "@q:looks like the marker=41",
]


@pytest.mark.parametrize("text", MESSAGES)
def test_text_round_trips_and_is_a_valid_tag_value(text: str) -> None:
    value = tagtext.encode(text)
    assert ECS_TAG_VALUE.match(value), value
    assert tagtext.decode(value) == text


def test_text_that_does_not_fit_is_cut_at_a_character_with_an_ellipsis() -> None:
    text = "(é) " * 200
    value = tagtext.encode(text)
    assert len(value) <= 256
    assert ECS_TAG_VALUE.match(value)
    back = tagtext.decode(value)
    assert back.endswith("…")
    assert text.startswith(back[:-1])


def test_a_value_written_before_the_codec_comes_back_as_it_is() -> None:
    assert tagtext.decode("a task stopped: exit code=1") == "a task stopped: exit code=1"


def test_a_failed_hook_record_keeps_its_reason_exactly() -> None:
    reason = (
        "task 0123456789abcdef0123456789abcdef stopped (Essential container in task "
        "exited); exit codes: web=1"
    )
    record = Record("d" * 24, "failed", "0123456789abcdef0123456789abcdef", reason)
    value = record.encode()
    assert len(value) <= 256
    assert ECS_TAG_VALUE.match(value), value
    assert Record.parse(value) == record
