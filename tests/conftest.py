"""Shared fixtures: the real `ecs-gitops` entry point (a command, or `run` as a controller
process), file trees in tmp_path, plain moto and the emulated AWS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.controller_process import Running

REPO = Path(__file__).resolve().parent.parent
REGION = "ap-northeast-2"  # of every AWS the tests talk to: moto and the emulated AWS


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script's code path, in a child process like a user's shell
    (env: its whole environment; None: this process's)."""
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def write_tree(tmp_path: Path) -> Callable[[dict[str, str | bytes]], Path]:
    """Write {relative path: content} under tmp_path/src and return that root."""

    def write(files: dict[str, str | bytes]) -> Path:
        root = tmp_path / "src"
        write_files(root, files)
        return root

    return write


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    """Write {relative path: content} under root, making directories as needed."""
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


_PORTS_PER_WORKER = 600
_SESSION_SLOTS = 2
_next_port: list[int] = []


def free_port() -> int:
    """A loopback port no other test process will pick: each pytest-xdist worker takes
    ports from its own block below Linux's ephemeral range (32768+), where the kernel never
    hands out client ports, and never the same one twice; a port something else holds is
    skipped. (Asking the kernel for port 0 and closing it races between workers.) Blocks
    of a run sit in one of a few slots chosen by the run's id, so two runs on one machine
    rarely meet either."""
    import socket
    import zlib

    if not _next_port:
        worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
        run = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))
        slot = zlib.crc32(run.encode()) % _SESSION_SLOTS
        per_slot = _PORTS_PER_WORKER * 10  # blocks for up to 10 workers
        _next_port.append(20000 + slot * per_slot + (worker % 10) * _PORTS_PER_WORKER)
    while True:
        port = _next_port[0]
        _next_port[0] += 1
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A plain moto server in its own process on loopback; its endpoint URL.

    A separate process keeps it plain: the emulated AWS patches moto in-process, and a
    test of how we cope with real moto must not see those patches."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-2",
    }.items():
        os.environ[name] = value
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def aws_endpoint(moto_server: str) -> str:
    """The moto server, reset to empty for this test."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return moto_server


@pytest.fixture(scope="session")
def emulated_server() -> Iterator[Any]:
    """The emulated AWS (moto + task-set emulator) on a free loopback port, fast timings."""
    from controller.local import EmulatedAws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(name, value)
    with EmulatedAws(task_start_delay=0.2, tick_interval=0.05) as aws:
        yield aws


@pytest.fixture
def emulated(emulated_server: Any) -> Any:
    """The emulated AWS, reset to its empty state (network pre-created) for this test."""
    emulated_server.reset()
    return emulated_server


@pytest.fixture
def run_controller(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """run_controller(endpoint, source, *extra): `ecs-gitops run` polling its source every
    second, returned once its status API answers; each one is stopped when the test ends."""
    from tests.controller_process import launch, stop

    procs: list[subprocess.Popen[str]] = []
    handles: list[IO[str]] = []

    def start(endpoint: str, source: str | Path, *extra: str) -> Running:
        handles.append((tmp_path / f"controller-{len(handles)}.log").open("w"))
        running = launch(endpoint, source, handles[-1], "--poll-interval", "1", *extra)
        procs.append(running.proc)
        running.wait("the status API", lambda: running.status() is not None, timeout=20)
        return running

    yield start
    for proc in procs:
        stop(proc, timeout=25)
    for handle in handles:
        handle.close()
