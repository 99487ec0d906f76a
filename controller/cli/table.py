"""Tables that fit the terminal: the one layout rule of every table the CLI prints
(`status`, and `sync`'s live progress).

No word is ever split. A column other than the message is as wide as its widest cell or
not shown (the optional ones give way, the last first, while the message would get less
than MIN_MESSAGE). The message wraps at words, and a word longer than its column is cut
with "…" (`status -o json` has the whole text). When the essential columns leave the
message too little room it goes on its own line under its row; when they do not fit at
all, each row is printed as words that wrap. The width is the console's: the terminal's,
or 80 (or $COLUMNS) when piped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

MIN_MESSAGE = 24
GAP = 2
"""Counted between columns: rich's collapsed padding takes less, so a layout that fits
by this count fits on screen."""


@dataclass(frozen=True)
class Columns:
    """A table's columns in display order (the message excluded), the ones that give way
    (the last first), and the column that names a row when its message goes below it."""

    order: tuple[str, ...]
    optional: tuple[str, ...]
    label: str
    message: str = "MESSAGE"


Row = dict[str, str]
Style = Callable[[str, str], str]
"""(column, value) -> a rich style ("" for none)."""


COLOURS = {
    "Synced": "green",
    "Healthy": "green",
    "OutOfSync": "yellow",
    "Progressing": "cyan",
    "Degraded": "red",
    "Missing": "yellow",
    "Suspended": "magenta",
}
STATUS_COLUMNS = ("SYNC", "HEALTH")


def status_style(column: str, value: str) -> str:
    """Sync and health statuses in colour (on a terminal), the rest plain."""
    return COLOURS.get(value, "white") if column in STATUS_COLUMNS else ""


def _plain(column: str, value: str) -> str:
    return ""


def fit(columns: Columns, rows: list[Row], width: int) -> tuple[list[str], str]:
    """The columns shown and where the message goes: "beside" (its own column),
    "below" (a line under each row) or "stacked" (even the essential columns do not fit:
    every row is wrapped words)."""
    widths = {c: max([len(c), *(len(r.get(c, "")) for r in rows)]) for c in columns.order}
    shown = [c for c in columns.order if c not in columns.optional or any(r.get(c) for r in rows)]

    def room(shown: list[str]) -> int:
        return width - sum(widths[c] + GAP for c in shown)

    for column in columns.optional[::-1]:
        if room(shown) >= MIN_MESSAGE:
            break
        if column in shown:
            shown.remove(column)
    if room(shown) >= MIN_MESSAGE:
        return shown, "beside"
    if room(shown) + GAP >= 0:
        return shown, "below"
    return shown, "stacked"


def _one_line(value: str) -> str:
    return " ".join(value.split())


def table(columns: Columns, rows: list[Row], width: int, style: Style = _plain) -> RenderableType:
    """rows ({column: text}) laid out for width, by fit's rule."""
    rows = [{c: _one_line(v) for c, v in row.items()} for row in rows]
    shown, place = fit(columns, rows, width)
    message = columns.message
    if place == "stacked":  # a row's cells as words, its message on the next line
        lines: list[Text] = []
        for row in rows:
            cells = [Text(row.get(c, ""), style=style(c, row.get(c, ""))) for c in shown]
            lines.append(Text(" ", overflow="ellipsis").join(c for c in cells if c.plain))
            if row.get(message):
                lines.append(Text(f"  {row[message]}", overflow="ellipsis"))
        return Group(*lines)
    grid = Table(box=None, pad_edge=False, collapse_padding=True)
    for column in shown:
        grid.add_column(column, no_wrap=True)
    if place == "beside":
        grid.add_column(message, overflow="ellipsis", ratio=1)
    for row in rows:
        cells = [Text(row.get(c, ""), style=style(c, row.get(c, ""))) for c in shown]
        if place == "beside":
            cells.append(Text(row.get(message, ""), overflow="ellipsis"))
        grid.add_row(*cells)
    if place == "beside":
        return grid
    below = [  # too narrow beside the columns: each message under its row's name
        Text(f"{row.get(columns.label, '')}: {row[message]}", overflow="ellipsis")
        for row in rows
        if row.get(message)
    ]
    return Group(grid, *below)
