"""`ecs-gitops status`: the resources of a running controller, as a table."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from controller.cli.options import server_option
from controller.cli.table import Columns, status_style, table


def fetch_status(server: str, timeout: float = 5.0) -> dict[str, Any]:
    url = server.rstrip("/") + "/api/v1/status"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


COLUMNS = Columns(
    order=("KIND", "CLUSTER", "NAME", "SYNC", "HEALTH", "REVISION", "ROLLOUT", "COST/MO"),
    optional=("REVISION", "CLUSTER", "ROLLOUT", "COST/MO"),
    label="NAME",
)


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


def render(data: dict[str, Any], console: Console) -> None:
    """The source line, then the resources as a table that fits the console
    (controller.cli.table's rule: no word split, the full text in `-o json`)."""
    source = data.get("source") or {}
    revision = (source.get("revision") or "")[:7]
    # console.print joins bare Text into one, dropping its overflow: given here instead
    lines = [Text(f"source {source.get('source')} @ {revision or '-'}")]
    if source.get("error"):
        lines.append(Text(f"source error: {source['error']}", "red"))
    if source.get("pruneBlocked"):
        lines.append(Text(f"prune: {source['pruneBlocked']}", "yellow"))
    for line in lines:
        console.print(line, overflow="ellipsis")
    rows = [_cells(entry) for entry in data.get("resources", [])]
    console.print(table(COLUMNS, rows, console.width, status_style))


@click.command()
@server_option
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
