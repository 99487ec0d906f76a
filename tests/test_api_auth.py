"""The HTTP API's doors, on a real `ecs-gitops run`: the push webhook and promote / abort.

A caller "beyond loopback" is this machine reaching the controller through its own
non-loopback address (the socket's peer is then that address, as a sidecar's would not be).
Tokens and the webhook secret live in files the tests rewrite while the controller runs, to
show they are read at each request.
"""

from __future__ import annotations

import http.client
import json
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.observability.apiauth import local_token_path
from controller.sources.push import sign
from tests.conftest import free_port, run_cli
from tests.controller_process import Running, launch, stop

ACTION = "/api/v1/services/nope/promote"


def own_address() -> str:
    """An address of this machine that is not loopback (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
            address: str = sock.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    if address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address")
    return address


def post(
    host: str, port: int, path: str, body: bytes = b"{}", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def controllers(tmp_path: Path, emulated: Any) -> Iterator[Any]:
    """start(**env): `ecs-gitops run` on an empty source listening on every address,
    with env added to its environment; (Running, port, log path)."""
    procs: list[Any] = []
    handles: list[Any] = []
    source = tmp_path / "source"
    source.mkdir(exist_ok=True)

    def start(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[Running, int, Path]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        port = free_port()
        handles.append((tmp_path / f"controller-{len(handles)}.log").open("w"))
        running = launch(
            emulated.endpoint_url, source, handles[-1], "--http-addr", f"0.0.0.0:{port}"
        )
        procs.append(running.proc)
        running = Running(running.proc, f"http://127.0.0.1:{port}", running.log)
        running.wait("the status API", lambda: running.status() is not None, timeout=20)
        return running, port, running.log

    yield start
    for proc in procs:
        stop(proc)
    for handle in handles:
        handle.close()


def test_without_an_operator_token_a_generated_one_works_on_loopback_only(
    controllers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECS_GITOPS_API_TOKEN", raising=False)
    monkeypatch.delenv("ECS_GITOPS_API_TOKEN_FILE", raising=False)
    running, port, log = controllers(monkeypatch, XDG_RUNTIME_DIR=str(tmp_path / "run"))
    token_file = local_token_path(port)
    assert token_file.is_relative_to(tmp_path / "run")
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()

    assert post("127.0.0.1", port, ACTION)[0] == 401  # loopback is not a credential
    assert post("127.0.0.1", port, ACTION, headers=bearer("wrong"))[0] == 401
    status, body = post("127.0.0.1", port, ACTION, headers=bearer(token))
    assert (status, body["error"]) == (404, "no EcsService 'nope' in the source")

    outside = own_address()
    for headers in ({}, bearer("wrong"), bearer(token)):
        status, body = post(outside, port, ACTION, headers=headers)
        assert status == 403, body
        assert "ECS_GITOPS_API_TOKEN" in body["error"]

    # the CLI finds the generated token with no configuration (as the README shows it)
    cli = run_cli("promote", "nope", "--server", running.url)
    assert cli.returncode == 1, cli.stderr
    assert "no EcsService 'nope'" in cli.stderr
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    refused = [line for line in lines if line["event"] == "api_action_refused"]
    assert {line["peer"] for line in refused} == {"127.0.0.1", outside}
    acted = [line for line in lines if line["event"] == "api_action"]
    assert [(line["peer"], line["status"]) for line in acted] == [("127.0.0.1", 404)] * 2
    assert token not in log.read_text()


def test_the_operator_token_is_read_at_each_request_and_works_from_anywhere(
    controllers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "api-token"
    token_file.write_text("first-token\n")
    monkeypatch.delenv("ECS_GITOPS_API_TOKEN", raising=False)
    _, port, _ = controllers(
        monkeypatch,
        ECS_GITOPS_API_TOKEN_FILE=str(token_file),
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
    )
    assert not local_token_path(port).exists()  # nothing generated beside the operator's
    outside = own_address()
    assert post(outside, port, ACTION)[0] == 401
    assert post(outside, port, ACTION, headers=bearer("wrong"))[0] == 401
    assert post(outside, port, ACTION, headers=bearer("first-token"))[0] == 404

    token_file.write_text("second-token\n")  # rotated: no restart
    assert post(outside, port, ACTION, headers=bearer("first-token"))[0] == 401
    assert post("127.0.0.1", port, ACTION, headers=bearer("second-token"))[0] == 404


def test_webhook_answers_202_to_a_good_signature_and_401_to_a_bad_one(
    controllers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text("old-secret\n")
    monkeypatch.delenv("ECS_GITOPS_WEBHOOK_SECRET", raising=False)
    _, port, log = controllers(
        monkeypatch,
        ECS_GITOPS_WEBHOOK_SECRET_FILE=str(secret_file),
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
    )
    body = b'{"ref": "refs/heads/main"}'

    def deliver(secret: bytes | None, host: str = "127.0.0.1") -> int:
        headers = {"X-Hub-Signature-256": sign(secret, body)} if secret else {}
        return post(host, port, "/api/v1/webhook", body, headers)[0]

    outside = own_address()
    assert deliver(b"old-secret", outside) == 202
    assert deliver(b"wrong-secret", outside) == 401
    assert deliver(None) == 401
    secret_file.write_text("new-secret\n")  # rotated: read at each request
    assert deliver(b"old-secret") == 401
    assert deliver(b"new-secret") == 202

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    refused = [line for line in lines if line["event"] == "webhook_refused"]
    assert [line["peer"] for line in refused] == [outside, "127.0.0.1", "127.0.0.1"]
