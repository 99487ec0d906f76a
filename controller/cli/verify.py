"""`verify`: the preflight checks of every service of a source, by hand, read-only.

One line per problem on stdout, `file:line:col: severity: field: what is wrong. Fix: how`,
then a summary on stderr. Exit 0 when nothing blocks a rollout (notes do not), 1 when a
check found a problem or a file of the source is invalid, 2 on a usage or AWS error.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from controller.api import EcsService
from controller.cli.oneshot import aws_session, load_source
from controller.cli.options import aws_options, source_option
from controller.errors import EcsGitopsError
from controller.observability import logging as obs_logging
from controller.reconcile.context import Context
from controller.reconcile.preflight import Problem, preflight


@click.command()
@source_option
@click.option("--service", default=None, help="Only this EcsService.")
@aws_options
def verify(source: str, service: str | None, **opts: Any) -> None:
    """Check in AWS that what each service needs exists: exit 0 ok, 1 problems, 2 error.

    Images in ECR, the execution and task roles (and what the execution role may do),
    secrets, log groups, target groups, subnets and security groups."""
    obs_logging.configure(opts["log_level"], opts["log_format"])
    result, _ = load_source(source, service, opts)
    loaded = [
        item
        for item in result.loaded
        if isinstance(item.resource, EcsService)
        and (service is None or item.resource.metadata.name == service)
    ]

    async def run() -> list[tuple[str, list[Problem]]]:
        async with aws_session(
            opts["region"],
            opts["endpoint_url"],
            opts["local"],
            read_only=True,
            named_regions=[item.resource.spec.region for item in loaded],
            probe=True,
        ) as aws:
            ctx = Context(aws, instance=opts["instance_name"], dry_run=True)
            found: list[tuple[str, list[Problem]]] = []
            for item in loaded:
                assert isinstance(item.resource, EcsService)
                # strict whatever the rollout's --preflight mode: every blocking problem
                # counts, provisioned account or not
                result = await preflight(ctx, item.resource, item, use_cache=False)
                found.append((item.resource.metadata.name, list(result.problems)))
            return found

    try:
        found = asyncio.run(run())
    except EcsGitopsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    errors = notes = 0
    failing: list[str] = []
    for name, problems in found:
        for problem in problems:
            click.echo(str(problem))
        blocking = sum(p.blocking for p in problems)
        errors += blocking
        notes += len(problems) - blocking
        if blocking:
            failing.append(name)
    what = f"{len(found)} service{'s' if len(found) != 1 else ''}"
    if errors:
        click.echo(
            f"verify: {errors} problem{'s' if errors != 1 else ''} in {', '.join(failing)} "
            f"(of {what}); nothing was deployed",
            err=True,
        )
    else:
        click.echo(
            f"verify: {what} ready to deploy" + (f" ({notes} notes)" if notes else ""), err=True
        )
    sys.exit(1 if errors or result.errors else 0)
