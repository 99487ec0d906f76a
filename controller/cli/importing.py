"""`import`: a running cluster's services written as desired-state files.

    DIR/cluster.yaml                 the EcsCluster
    DIR/services/<service>.yaml      one EcsService each, syncPolicy {adopt: true}
    DIR/task-definitions/<family>.json   register-task-definition input, named by path

The documents come from reconcile/snapshot.py; this module only lays them out and writes
them, then loads what it wrote as `validate` would, so a file that would not load is
never left behind silently. Exit 0 all written, 1 some services refused (the others are
written), 2 a usage or AWS error (nothing written).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from controller.cli.oneshot import aws_session
from controller.cli.options import aws_options, resolve_region
from controller.errors import EcsGitopsError
from controller.loader import load_tree
from controller.observability import logging as obs_logging
from controller.reconcile.context import Context
from controller.reconcile.snapshot import ServiceDocument, Snapshot, snapshot
from controller.sources.directory import DirectoryTree

TASK_DEFINITIONS = "task-definitions"
SERVICES = "services"
_HEADER = (
    "# Written by `ecs-gitops import` from what runs in {where}. syncPolicy.adopt lets\n"
    "# ecs-gitops take the service over on its first sync (it tags it; nothing else\n"
    "# changes while this file matches). Edit and commit to change it from now on.\n"
)


@click.command("import")
@click.option("--cluster", required=True, help="The ECS cluster to import.")
@click.option(
    "--service",
    "services",
    multiple=True,
    help="Only this service (repeatable); default: every service of the cluster.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the files to (created; files of the same names are replaced).",
)
@aws_options
def import_(cluster: str, services: tuple[str, ...], out: Path, **opts: Any) -> None:
    """Write a cluster's running services as files: exit 0 written, 1 some refused, 2 error.

    After an import, `diff --source DIR` shows no difference and `sync --source DIR` only
    tags the services as managed: no new revision, no deployment, no task set."""
    obs_logging.configure(opts["log_level"], opts["log_format"])
    region = resolve_region(opts["region"], opts["local"])

    async def run() -> Snapshot | None:
        async with aws_session(
            region, opts["endpoint_url"], opts["local"], read_only=True, probe=True
        ) as aws:
            ctx = Context(aws, instance=opts["instance_name"], dry_run=True)
            return await snapshot(ctx, region, cluster, list(services) or None)

    try:
        found = asyncio.run(run())
    except EcsGitopsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if found is None:
        click.echo(f"error: cluster {cluster} does not exist in {region}", err=True)
        sys.exit(2)
    written = write_snapshot(found, out, f"{region}/{cluster}")
    for line in found.warnings:
        click.echo(f"warning: {line}", err=True)
    for line in found.refused:
        click.echo(f"refused: {line}", err=True)
    errors = load_tree(DirectoryTree(out)).errors
    for diag in errors:
        click.echo(str(diag), err=True)
    if errors:
        click.echo(f"import: the files written to {out} do not load (a bug)", err=True)
        sys.exit(2)
    click.echo(
        f"import: {len(found.services)} service{'s' if len(found.services) != 1 else ''} of "
        f"{cluster} written to {out} ({len(written)} files)"
        + (f"; {len(found.refused)} refused" if found.refused else ""),
        err=True,
    )
    sys.exit(1 if found.refused else 0)


def write_snapshot(found: Snapshot, out: Path, where: str) -> list[Path]:
    """Write found's documents under out; returns the paths written."""
    (out / SERVICES).mkdir(parents=True, exist_ok=True)
    (out / TASK_DEFINITIONS).mkdir(exist_ok=True)
    written = [_write_yaml(out / "cluster.yaml", found.cluster, "")]
    files = task_definition_files(found.services)
    for service in found.services:
        td_file = files[service.task_definition_arn]
        target = out / TASK_DEFINITIONS / td_file
        if target not in written:  # services sharing a revision share its file
            target.write_text(json.dumps(service.task_definition, indent=2) + "\n")
            written.append(target)
        service.task_definition_file = f"../{TASK_DEFINITIONS}/{td_file}"
        service.document["spec"]["taskDefinition"] = service.task_definition_file
        path = out / SERVICES / f"{service.name}.yaml"
        written.append(_write_yaml(path, service.document, _HEADER.format(where=where)))
    return written


def task_definition_files(services: list[ServiceDocument]) -> dict[str, str]:
    """Task definition ARN -> file name: <family>.json, or <family>-<revision>.json when
    services run different revisions of one family."""
    families: dict[str, set[str]] = {}
    for service in services:
        family = service.task_definition["family"]
        families.setdefault(family, set()).add(service.task_definition_arn)
    names: dict[str, str] = {}
    for family, arns in families.items():
        for arn in arns:
            revision = arn.rsplit(":", 1)[-1]
            names[arn] = f"{family}.json" if len(arns) == 1 else f"{family}-{revision}.json"
    return names


def _write_yaml(path: Path, doc: dict[str, Any], header: str) -> Path:
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=4096)
    path.write_text(header + text)
    return path
