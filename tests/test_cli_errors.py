"""Errors that say what to do, the same way in every one-shot command.

No credentials, or an endpoint that does not answer, is one line naming the cause and the
way out, and exit 2 from `sync`, `diff`, `verify` and `import` alike (before: NoCredentials
with no hint, `diff` 2 but `sync` 1, and an unreachable endpoint retried for the whole
900 s timeout). The default region comes from the files when every resource names one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

ONE_SHOT = [
    ("sync", "--timeout", "30"),
    ("diff",),
    ("verify",),
]


def quickstart(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("cluster.yaml", "myapp.yaml", "task-definition.json"):
        (root / name).write_text((REPO / "examples" / "quickstart" / name).read_text())
    return root


def cli(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """ecs-gitops as a user without any AWS configuration runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_GITOPS_"))}
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        **extra,
    )
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", ONE_SHOT, ids=[c[0] for c in ONE_SHOT])
def test_without_credentials_every_command_says_how_to_get_some(
    moto_server: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    source = quickstart(tmp_path / "src")
    done = cli(tmp_path, *command, "--source", str(source), "--endpoint-url", moto_server)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no AWS credentials" in done.stderr, done.stderr
    assert "--local" in done.stderr
    assert "AWS_ACCESS_KEY_ID=emulated" in done.stderr
    assert "Traceback" not in done.stderr


def test_import_without_credentials_says_the_same(moto_server: str, tmp_path: Path) -> None:
    done = cli(
        tmp_path,
        "import",
        "--cluster",
        "prod-cluster",
        "--out",
        str(tmp_path / "out"),
        "--endpoint-url",
        moto_server,
        "--region",
        "ap-northeast-2",
    )
    assert done.returncode == 2, done.stderr
    assert "no AWS credentials" in done.stderr


@pytest.mark.parametrize("command", ONE_SHOT[:2], ids=["sync", "diff"])
def test_an_endpoint_that_does_not_answer_fails_fast_and_names_it(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    source = quickstart(tmp_path / "src")
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    done = cli(
        tmp_path,
        *command,
        "--source",
        str(source),
        "--endpoint-url",
        nobody,
        AWS_ACCESS_KEY_ID="emulated",
        AWS_SECRET_ACCESS_KEY="emulated",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"cannot reach AWS at {nobody}" in done.stderr, done.stderr
    assert time.monotonic() - started < 60  # bounded retries, not sync's 900 s timeout


def test_the_region_comes_from_the_files_when_they_all_name_it(
    aws_endpoint: str, tmp_path: Path
) -> None:
    source = quickstart(tmp_path / "src")  # every resource says region: ap-northeast-2
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    done = cli(tmp_path, "diff", "--source", str(source), "--endpoint-url", aws_endpoint, **creds)
    assert done.returncode == 1, done.stderr  # it differs: nothing exists yet
    assert "no AWS region" not in done.stderr

    myapp = source / "myapp.yaml"
    myapp.write_text(myapp.read_text().replace("  region: ap-northeast-2\n", ""))
    done = cli(tmp_path, "diff", "--source", str(source), "--endpoint-url", aws_endpoint, **creds)
    assert done.returncode == 2
    assert "no AWS region (1 of the 2 resources name none)" in done.stderr, done.stderr
