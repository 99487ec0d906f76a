"""Push-webhook signatures (GitHub's X-Hub-Signature-256) and where the secret comes from."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from controller.errors import UsageError
from controller.sources.push import load_webhook_secret, sign, verify_signature

SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"
# The example in GitHub's "Validating webhook deliveries" documentation.
GITHUB_EXAMPLE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_documented_example_verifies() -> None:
    assert sign(SECRET, BODY) == GITHUB_EXAMPLE
    assert verify_signature(SECRET, BODY, GITHUB_EXAMPLE)
    assert verify_signature(SECRET, BODY, GITHUB_EXAMPLE.upper().replace("SHA256=", "sha256="))


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        (SECRET, BODY + b" ", GITHUB_EXAMPLE),
        (b"another secret", BODY, GITHUB_EXAMPLE),
        (SECRET, BODY, GITHUB_EXAMPLE[:-1] + "f"),
        (SECRET, BODY, None),
        (SECRET, BODY, ""),
        (SECRET, BODY, GITHUB_EXAMPLE.removeprefix("sha256=")),
        (SECRET, BODY, "sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest()),
        (SECRET, BODY, GITHUB_EXAMPLE[:-2]),
        (SECRET, BODY, GITHUB_EXAMPLE + "00"),
        (SECRET, BODY, GITHUB_EXAMPLE[:-1] + "g"),
        (SECRET, BODY, "sha256=" + "é" * 64),
        (b"", b"", sign(b"", b"")),
    ],
    ids=[
        "body-changed",
        "wrong-secret",
        "wrong-digest",
        "missing",
        "empty",
        "no-prefix",
        "sha1",
        "short",
        "long",
        "not-hex",
        "not-ascii",
        "empty-secret",
    ],
)
def test_bad_signatures_are_refused(secret: bytes, body: bytes, header: str | None) -> None:
    assert verify_signature(secret, body, header) is False


def test_the_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module webhook.py calls through
    assert verify_signature(SECRET, BODY, GITHUB_EXAMPLE)
    assert not verify_signature(SECRET, BODY, GITHUB_EXAMPLE[:-1] + "0")
    assert len(calls) == 2
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in calls)


def test_the_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECS_GITOPS_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("ECS_GITOPS_WEBHOOK_SECRET_FILE", raising=False)
    assert load_webhook_secret() is None
    monkeypatch.setenv("ECS_GITOPS_WEBHOOK_SECRET", "from-env")
    assert load_webhook_secret() == b"from-env"


def test_the_secret_comes_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ECS_GITOPS_WEBHOOK_SECRET", raising=False)
    file = tmp_path / "secret"
    file.write_bytes(b"from-file\n")
    monkeypatch.setenv("ECS_GITOPS_WEBHOOK_SECRET_FILE", str(file))
    assert load_webhook_secret() == b"from-file"  # the trailing newline is not part of it

    monkeypatch.setenv("ECS_GITOPS_WEBHOOK_SECRET", "from-env")
    with pytest.raises(UsageError, match="not both"):
        load_webhook_secret()
    monkeypatch.delenv("ECS_GITOPS_WEBHOOK_SECRET")

    file.write_bytes(b"\n")
    with pytest.raises(UsageError, match="is empty"):
        load_webhook_secret()
    file.unlink()
    with pytest.raises(UsageError, match="cannot read it"):
        load_webhook_secret()
