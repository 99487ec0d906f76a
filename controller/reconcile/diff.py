"""Human-readable differences between canonical live and desired documents.

render_diff prints a unified diff of two stable YAML renderings (sorted keys, block
style), masked first so a secret's value never reaches a terminal, a CI log or the
status page; changes() lists the changed field paths for plans and status messages.
Both take the dicts normalize.py builds: equality there is equality here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from controller.observability.mask import mask_document

RED = "\x1b[31m"
GREEN = "\x1b[32m"
CYAN = "\x1b[36m"
BOLD = "\x1b[1m"
RESET = "\x1b[0m"

CONTEXT_LINES = 3
_YAML_WIDTH = 4096
"""Wide enough that long values (ARNs, commands) are never folded across lines."""


def render_yaml(doc: Any) -> str:
    """doc as block-style YAML with sorted keys: the same text for the same data."""
    if doc is None:
        return ""
    text: str = yaml.safe_dump(
        doc,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=_YAML_WIDTH,
    )
    return text


def render_diff(
    title: str,
    live: Mapping[str, Any] | None,
    desired: Mapping[str, Any],
    color: bool = False,
) -> str:
    """A unified diff from live to desired, or "" when they are equal.

    live None means the resource does not exist: every line is an addition. ANSI colours
    (red removals, green additions, cyan hunk headers) only with color=True.
    """
    if live is not None and dict(live) == dict(desired):
        return ""
    before = render_yaml(mask_document(live)).splitlines()
    after = render_yaml(mask_document(desired)).splitlines()
    lines = list(
        difflib.unified_diff(
            before,
            after,
            fromfile=f"live: {title}" + (" (absent)" if live is None else ""),
            tofile=f"desired: {title}",
            n=CONTEXT_LINES,
            lineterm="",
        )
    )
    if not lines:
        return ""  # equal once masked and rendered (e.g. int 1 vs float 1.0)
    if color:
        lines = [_paint(i, line) for i, line in enumerate(lines)]
    return "\n".join(lines) + "\n"


def _paint(index: int, line: str) -> str:
    if index < 2:  # the ---/+++ file headers
        return f"{BOLD}{line}{RESET}"
    if line.startswith("@@"):
        return f"{CYAN}{line}{RESET}"
    if line.startswith("-"):
        return f"{RED}{line}{RESET}"
    if line.startswith("+"):
        return f"{GREEN}{line}{RESET}"
    return line


@dataclass(frozen=True, slots=True)
class Change:
    """One changed field: its path, and both values (masked)."""

    path: str
    live: Any
    desired: Any

    @property
    def kind(self) -> Literal["added", "removed", "changed"]:
        if self.live is None:
            return "added"
        if self.desired is None:
            return "removed"
        return "changed"

    def __str__(self) -> str:
        return f"{self.path} ({self.kind})"


def changes(live: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> list[Change]:
    """The changed leaves, e.g. taskDefinition.containerDefinitions[web].image.

    Mappings are walked key by key; lists whose items all carry a unique `name` are matched
    by name (containers, environment, volumes); any other list is one value.
    """
    return list(_walk("", mask_document(live or {}), mask_document(desired)))


def changed_paths(live: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> list[str]:
    """Just the paths of changes(live, desired)."""
    return [change.path for change in changes(live, desired)]


def _walk(path: str, live: Any, desired: Any) -> Iterator[Change]:
    if live == desired:
        return
    if isinstance(live, Mapping) and isinstance(desired, Mapping):
        for key in sorted(set(live) | set(desired), key=str):
            yield from _walk(_join(path, str(key)), live.get(key), desired.get(key))
        return
    live_named, desired_named = _by_name(live), _by_name(desired)
    if live_named is not None and desired_named is not None:
        names = list(live_named) + [n for n in desired_named if n not in live_named]
        for name in sorted(names):
            yield from _walk(f"{path}[{name}]", live_named.get(name), desired_named.get(name))
        return
    yield Change(path or ".", live, desired)


def _by_name(items: Any) -> dict[str, Any] | None:
    """{name: item} for a list of mappings with unique string names; else None."""
    if not isinstance(items, list) or not items:
        return None
    named = {
        item["name"]: item
        for item in items
        if isinstance(item, Mapping) and isinstance(item.get("name"), str)
    }
    return named if len(named) == len(items) else None


def _join(path: str, key: str) -> str:
    segment = f'["{key}"]' if any(c in key for c in '.[]" ') else key
    if not path:
        return segment
    return f"{path}{segment}" if segment.startswith("[") else f"{path}.{segment}"
