"""What a check reports, and the helpers every check shares.

A Finding is a message at a path into the document: the resource, or (in_task_definition)
the task definition file it references, so the loader can report file:line:col. parse_size
turns a cpu or memory value that does not parse into a Finding instead of an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]
DocPath = tuple[str | int, ...]
Parser = Callable[[str | int], int]


@dataclass(frozen=True, slots=True)
class Finding:
    path: DocPath
    message: str
    severity: Severity = "error"
    in_task_definition: bool = False


def td_finding(path: DocPath, message: str, severity: Severity = "error") -> Finding:
    return Finding(path, message, severity, in_task_definition=True)


def parse_size(
    out: list[Finding],
    value: str | int | None,
    path: DocPath,
    parse: Parser,
    *,
    in_td: bool = True,
) -> int | None:
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        out.append(Finding(path, str(exc), in_task_definition=in_td))
        return None
