"""`ecs-gitops status` fits the terminal: at 80 columns and when piped no word is split.

A column is as wide as its widest cell or not shown (the optional ones give way first);
a message wraps at word boundaries, a word longer than its column is cut with an
ellipsis, and the whole text stays in `-o json`.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rich.console import Console

from controller.cli.status import render
from tests.conftest import REPO

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
        return subprocess.run(
            [sys.executable, "-m", "controller", "status", "--server", server, *extra],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = status()
    assert done.returncode == 1, done.stderr  # one resource is not Synced
    lines = done.stdout.splitlines()
    assert lines
    assert all(len(line) <= 80 for line in lines), done.stdout
    assert "payments-api-worker" in done.stdout
    full = status("-o", "json")
    assert json.loads(full.stdout)["resources"][1]["message"] == MESSAGE
