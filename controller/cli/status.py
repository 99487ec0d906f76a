"""`ecs-gitops status`: the resources of a running controller, as a table."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from controller.cli.options import env
from controller.cli.progress import COLOURS


def fetch_status(server: str, timeout: float = 5.0) -> dict[str, Any]:
    url = server.rstrip("/") + "/api/v1/status"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def _colour(value: str | None) -> str:
    value = value or "Unknown"
    return f"[{COLOURS.get(value, 'white')}]{value}[/]"


ESSENTIAL = ("KIND", "NAME", "SYNC", "HEALTH")
OPTIONAL = ("REVISION", "CLUSTER", "ROLLOUT", "COST/MO")
"""Shown while they fit beside a readable MESSAGE, the last given up first."""
COLUMNS = ("KIND", "CLUSTER", "NAME", "SYNC", "HEALTH", "REVISION", "ROLLOUT", "COST/MO")
MIN_MESSAGE = 24


def _cells(entry: dict[str, Any]) -> dict[str, str]:
    rollout = entry.get("rollout") or {}
    phase = " ".join(str(p) for p in (rollout.get("strategy"), rollout.get("phase")) if p)
    dollars = entry.get("estimatedMonthlyCost")
    return {
        "KIND": entry.get("kind", ""),
        "CLUSTER": entry.get("cluster", ""),
        "NAME": entry.get("name", ""),
        "SYNC": entry.get("syncStatus") or "Unknown",
        "HEALTH": entry.get("healthStatus") or "Unknown",
        "REVISION": (entry.get("lastAppliedRevision") or "")[:7],
        "ROLLOUT": phase,
        "COST/MO": f"${dollars:,.2f}" if isinstance(dollars, int | float) else "",
        "MESSAGE": entry.get("lastError") or entry.get("message") or "",
    }


def _layout(rows: list[dict[str, str]], width: int) -> tuple[list[str], bool]:
    """The columns that fit in width, and whether MESSAGE gets its own line per row (when
    even the essential columns leave it less than MIN_MESSAGE). No cell is ever split:
    a column is either as wide as its widest cell or not shown."""
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in COLUMNS}
    shown = [c for c in COLUMNS if c in ESSENTIAL or any(r[c] for r in rows)]

    def room(columns: list[str]) -> int:
        return width - sum(widths[c] + 2 for c in columns)

    for column in OPTIONAL[::-1]:
        if room(shown) >= MIN_MESSAGE:
            break
        if column in shown:
            shown.remove(column)
    return shown, room(shown) < MIN_MESSAGE


def render(data: dict[str, Any], console: Console) -> None:
    """The table at the console's width (the terminal's; 80, or $COLUMNS, when piped):
    words are never split; a message wraps at word boundaries, and a word longer than
    its column is cut with an ellipsis (the full text is in `-o json`)."""
    source = data.get("source") or {}
    revision = (source.get("revision") or "")[:7]
    console.print(f"source {source.get('source')} @ {revision or '-'}", markup=False)
    if source.get("error"):
        console.print(f"source error: {source['error']}", markup=False, style="red")
    if source.get("pruneBlocked"):
        console.print(f"prune: {source['pruneBlocked']}", markup=False, style="yellow")
    rows = [_cells(entry) for entry in data.get("resources", [])]
    shown, message_below = _layout(rows, console.width)
    table = Table(box=None, pad_edge=False, collapse_padding=True)
    for column in shown:
        table.add_column(column, no_wrap=True)
    if not message_below:
        table.add_column("MESSAGE", overflow="ellipsis", ratio=1)
    for row in rows:
        cells = [_colour(row[c]) if c in ("SYNC", "HEALTH") else escape(row[c]) for c in shown]
        if not message_below:
            cells.append(escape(row["MESSAGE"]))
        table.add_row(*cells)
    console.print(table)
    if message_below:  # too narrow beside the columns: each message under its name
        for row in rows:
            if row["MESSAGE"]:
                line = Text(f"{row['NAME']}: {row['MESSAGE']}")
                console.print(line, overflow="ellipsis")


@click.command()
@click.option(
    "--server",
    default="http://127.0.0.1:8080",
    envvar=env("server"),
    show_default=True,
    help="The running controller's HTTP address.",
)
@click.option(
    "--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def status(server: str, output: str) -> None:
    """Show the resources of a running controller (GET /api/v1/status)."""
    try:
        data = fetch_status(server)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        click.echo(f"error: cannot read {server}/api/v1/status: {exc}", err=True)
        sys.exit(2)
    if output == "json":
        click.echo(json.dumps(data, indent=2))
        return
    render(data, Console())
    resources = data.get("resources", [])
    ready = all(
        r.get("syncStatus") == "Synced" and r.get("healthStatus") == "Healthy" for r in resources
    )
    sys.exit(0 if ready and resources else 1)
