"""Errors that say what to do, the same way in every one-shot command.

No credentials, or an endpoint that does not answer, is one line naming the cause and the
way out, and exit 2 from `sync`, `diff`, `verify` and `import` alike (before: NoCredentials
with no hint, `diff` 2 but `sync` 1, and an unreachable endpoint retried for the whole
900 s timeout). The default region comes from the files when every resource names one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
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


def reading_from(source: Path, command: tuple[str, ...]) -> tuple[str, ...]:
    """command's arguments: `import` reads a cluster (and needs a region), the others
    read source."""
    if command[0] == "import":
        return (*command, "--region", "ap-northeast-2", "--out", str(source.parent / "out"))
    return (*command, "--source", str(source))


EVERY_COMMAND = [*ONE_SHOT, ("import", "--cluster", "prod-cluster")]


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=[c[0] for c in EVERY_COMMAND])
def test_an_endpoint_that_refuses_fails_fast_and_names_it(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    source = quickstart(tmp_path / "src")
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    done = cli(
        tmp_path,
        *reading_from(source, command),
        "--endpoint-url",
        nobody,
        AWS_ACCESS_KEY_ID="emulated",
        AWS_SECRET_ACCESS_KEY="emulated",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"cannot reach AWS at {nobody}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 60  # bounded retries, not sync's 900 s timeout


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint that takes connections and never answers (a hung proxy, a firewall
    that accepts): the network at the I/O boundary."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_an_endpoint_that_never_answers_fails_within_the_probe_bound(
    tmp_path: Path, silent_endpoint: str
) -> None:
    """Before: five attempts of a 30 s read timeout, 154 s, for one line of error."""
    source = quickstart(tmp_path / "src")
    started = time.monotonic()
    done = cli(
        tmp_path,
        "diff",
        "--source",
        str(source),
        "--endpoint-url",
        silent_endpoint,
        AWS_ACCESS_KEY_ID="emulated",
        AWS_SECRET_ACCESS_KEY="emulated",
    )
    took = time.monotonic() - started
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"cannot reach AWS at {silent_endpoint} (no answer within 20 s)" in done.stderr
    assert took < 45, took


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


def test_files_that_name_different_regions_need_a_default_and_say_so(
    aws_endpoint: str, tmp_path: Path
) -> None:
    """Each resource names its region but they differ: which one the default should be
    is a guess, so the error names them (before, the first in sort order was taken)."""
    source = quickstart(tmp_path / "src")
    myapp = source / "myapp.yaml"
    myapp.write_text(myapp.read_text().replace("region: ap-northeast-2", "region: us-east-1"))
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    done = cli(tmp_path, "diff", "--source", str(source), "--endpoint-url", aws_endpoint, **creds)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the resources name different ones: ap-northeast-2, us-east-1" in done.stderr
    done = cli(
        tmp_path,
        "diff",
        "--source",
        str(source),
        "--endpoint-url",
        aws_endpoint,
        "--region",
        "ap-northeast-2",
        **creds,
    )
    assert done.returncode == 1, done.stderr  # a default given: it differs (nothing exists)
