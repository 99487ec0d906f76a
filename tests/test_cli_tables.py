"""`ecs-gitops status` fits the terminal: at 80 columns and when piped no word is split.

A column is as wide as its widest cell or not shown (the optional ones give way first);
a message wraps at word boundaries, a word longer than its column is cut with an
ellipsis, and the whole text stays in `-o json`.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from controller.cli.status import render
from tests.conftest import REPO, run_cli

ARN = "arn:aws:ecs:ap-northeast-2:123456789012:task/prod-cluster/0123456789abcdef0123456789abcdef"
MESSAGE = (
    "rolled back: a task stopped: Essential container in task exited; stopCode "
    f"EssentialContainerExited; web exit 1 ({ARN})"
)
STATUS: dict[str, Any] = {
    "source": {"source": "deploy-repo", "revision": "29bb89beda61" + "0" * 28},
    "resources": [
        {
            "kind": "EcsCluster",
            "name": "prod-cluster",
            "cluster": "",
            "syncStatus": "Synced",
            "healthStatus": "Healthy",
            "message": "",
        },
        {
            "kind": "EcsService",
            "name": "payments-api-worker",
            "cluster": "prod-cluster",
            "syncStatus": "OutOfSync",
            "healthStatus": "Progressing",
            "lastAppliedRevision": "29bb89beda61" + "0" * 28,
            "rollout": {"strategy": "blueGreen", "phase": "Baking"},
            "estimatedMonthlyCost": 1234.5,
            "message": MESSAGE,
        },
    ],
}
CELLS = {"EcsCluster", "EcsService", "prod-cluster", "payments-api-worker", "Synced"}
CELLS |= {"Healthy", "OutOfSync", "Progressing"}


def rendered(width: int) -> list[str]:
    out = io.StringIO()
    render(STATUS, Console(file=out, width=width, color_system=None))
    return out.getvalue().splitlines()


@pytest.mark.parametrize("width", [60, 80, 100, 132, 200])
def test_no_line_overflows_and_no_word_is_split(width: int) -> None:
    lines = rendered(width)
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    words = {w for line in lines for w in line.split()}
    assert words >= CELLS, (CELLS - words, lines)  # every cell whole
    message_words = set(MESSAGE.split())
    table_words = CELLS | {"KIND", "NAME", "SYNC", "HEALTH", "MESSAGE", "CLUSTER", "REVISION"}
    table_words |= {"ROLLOUT", "COST/MO", "blueGreen", "Baking", "$1,234.50", "29bb89b", "source"}
    table_words |= {"deploy-repo", "@", "payments-api-worker:"}
    for word in words - table_words:
        # a message word is whole, or the start of one cut with an ellipsis
        assert word in message_words or (
            word.endswith("…") and any(m.startswith(word[:-1]) for m in message_words)
        ), (word, lines)


def test_wider_terminals_show_more_columns() -> None:
    assert "REVISION" not in rendered(80)[1] or "COST/MO" not in rendered(80)[1]
    assert {"CLUSTER", "REVISION", "ROLLOUT", "COST/MO"} <= set(rendered(200)[1].split())


@pytest.fixture
def server() -> Iterator[str]:
    """A controller's status API at the I/O boundary: it answers STATUS."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(STATUS).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("columns", ["80", None], ids=["COLUMNS=80", "piped"])
def test_the_status_command_piped_fits_80_columns(server: str, columns: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns:
        env["COLUMNS"] = columns

    def status(*extra: str) -> subprocess.CompletedProcess[str]:
        return run_cli("status", "--server", server, *extra, env=env)

    done = status()
    assert done.returncode == 1, done.stderr  # one resource is not Synced
    lines = done.stdout.splitlines()
    assert lines
    assert all(len(line) <= 80 for line in lines), done.stdout
    assert "payments-api-worker" in done.stdout
    full = status("-o", "json")
    assert json.loads(full.stdout)["resources"][1]["message"] == MESSAGE


def test_too_narrow_for_the_essential_columns_each_row_wraps_at_words() -> None:
    """At 30 columns not even KIND NAME SYNC HEALTH fit beside each other: each row is
    printed as words that wrap, still none split."""
    lines = rendered(30)
    assert all(len(line) <= 30 for line in lines), "\n".join(lines)
    words = {w for line in lines for w in line.split()}
    assert {"payments-api-worker", "OutOfSync", "Progressing", "EcsService"} <= words, lines
    assert not any(word in words for word in ("payments-api-wo", "OutOf", "Progre")), lines


CSI = re.compile(r"\x1b\[[0-9;?]*([A-Za-z])")


def screen_lines(raw: bytes) -> list[str]:
    """What a terminal shows, line by line: colours dropped, and every cursor move (rich's
    Live redraws its table in place) taken as a line break."""
    text = CSI.sub(lambda m: "" if m[1] == "m" else "\n", raw.decode(errors="replace"))
    return [line for line in text.replace("\r", "\n").split("\n") if line.strip()]


def run_in_terminal(args: list[str], env: dict[str, str], columns: int) -> tuple[int, bytes]:
    """args on a pseudo-terminal `columns` wide (rich reads the width from it)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    return proc.wait(timeout=120), out


def fragments(token: str, words: set[str]) -> bool:
    """token is a piece of one of words (a prefix or suffix, not cut with an ellipsis;
    two letters or fewer can be a word of a message we did not list)."""
    return (
        len(token) > 2
        and token not in words
        and any(w != token and (w.startswith(token) or w.endswith(token)) for w in words)
    )


def test_sync_progress_on_an_80_column_terminal_splits_no_word(
    emulated: Any, tmp_path: Path
) -> None:
    """The live table `sync` draws on a terminal (a crash-looping image, rolled back, so
    the message is long) fits 80 columns and never breaks a resource name, a status or
    a word of the message, as `(ap-northeast` / `-2)` and `EssentialConta` / `inerExited`."""
    source = tmp_path / "src"
    shutil.copytree(REPO / "examples" / "quickstart", source)
    td = source / "task-definition.json"
    td.write_text(re.sub(r"myapp:[^\"]+", "myapp:v1-crashloop", td.read_text()))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(TERM="xterm", AWS_ACCESS_KEY_ID="emulated", AWS_SECRET_ACCESS_KEY="emulated")
    args = [sys.executable, "-m", "controller", "sync", "--source", str(source)]
    args += ["--endpoint-url", emulated.endpoint_url, "--timeout", "90", "--log-level", "error"]
    code, raw = run_in_terminal(args, env, 80)
    lines = screen_lines(raw)
    assert code == 1, "\n".join(lines)  # rolled back: not Synced
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    assert "RESOURCE" in raw.decode(), "\n".join(lines)  # the live table, not the log lines
    assert "Degraded" in raw.decode(), "\n".join(lines)
    # the summary's words are whole (it wraps at words): they and the keys are the words
    summary = lines[[i for i, line in enumerate(lines) if line.startswith("sync ")][-1] :]
    words = {w for line in summary for w in line.split()}
    words |= {"EcsCluster", "prod-cluster", "(ap-northeast-2)", "RolledBack", "Progressing"}
    words |= {"Synced", "Healthy", "Degraded"}
    words |= {"RESOURCE", "SYNC", "HEALTH", "PHASE", "TASKS", "MESSAGE", "OutOfSync"}
    split = {t for line in lines for t in line.split() if fragments(t, words)}
    assert not split, (split, raw.decode())
