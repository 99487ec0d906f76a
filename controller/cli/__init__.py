"""The `ecs-gitops` command line: parse options, call into the package, map exit codes.

Exit codes are a contract (README, "Command line"): 0 success, 1 the answer is "no" (invalid,
differs, not synced), 2 a usage or operational error. click's usage errors exit 2.
"""

from __future__ import annotations

import click

from controller import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ecs-gitops")
def main() -> None:
    """GitOps for Amazon ECS: make ECS services match what is committed."""


def _register() -> None:
    from controller.cli import actions, importing, oneshot, run, status, validate, verify

    main.add_command(validate.validate)
    main.add_command(validate.schema)
    main.add_command(oneshot.diff)
    main.add_command(oneshot.sync)
    main.add_command(verify.verify)
    main.add_command(run.run)
    main.add_command(status.status)
    main.add_command(actions.promote)
    main.add_command(actions.abort)
    main.add_command(importing.import_)


_register()
