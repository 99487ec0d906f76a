"""`ecs-gitops status`: the resources of a running controller, as a table."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

import click
from rich.console import Console
from rich.table import Table

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


def render(data: dict[str, Any], console: Console) -> None:
    source = data.get("source") or {}
    revision = (source.get("revision") or "")[:12]
    console.print(f"source {source.get('source')} @ {revision or '-'}", markup=False)
    if source.get("error"):
        console.print(f"source error: {source['error']}", markup=False, style="red")
    if source.get("pruneBlocked"):
        console.print(f"prune: {source['pruneBlocked']}", markup=False, style="yellow")
    table = Table(box=None, pad_edge=False)
    columns = ("KIND", "CLUSTER", "NAME", "SYNC", "HEALTH", "REVISION", "ROLLOUT", "COST/MO")
    for column in (*columns, "MESSAGE"):
        table.add_column(column, overflow="fold")
    for entry in data.get("resources", []):
        rollout = entry.get("rollout") or {}
        phase = " ".join(str(p) for p in (rollout.get("strategy"), rollout.get("phase")) if p)
        dollars = entry.get("estimatedMonthlyCost")
        table.add_row(
            entry.get("kind", ""),
            entry.get("cluster", ""),
            entry.get("name", ""),
            _colour(entry.get("syncStatus")),
            _colour(entry.get("healthStatus")),
            (entry.get("lastAppliedRevision") or "")[:12],
            phase,
            f"${dollars:,.2f}" if isinstance(dollars, int | float) else "",
            entry.get("lastError") or entry.get("message") or "",
        )
    console.print(table)


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
    render(data, Console(soft_wrap=True))
    resources = data.get("resources", [])
    ready = all(
        r.get("syncStatus") == "Synced" and r.get("healthStatus") == "Healthy" for r in resources
    )
    sys.exit(0 if ready and resources else 1)
