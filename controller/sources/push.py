"""Push webhooks: checking GitHub-style signatures before a push may wake a source.

A sender signs the raw request body with a shared secret and sends
`X-Hub-Signature-256: sha256=<hex HMAC-SHA256>` (GitHub, Gitea and Forgejo do; GitLab
can be configured to). The HTTP handler lives with the server; it calls
`verify_signature` on the exact bytes received, answers 401 and does nothing when that
is False, and otherwise calls `source.trigger()`. A wrong signature and a missing one
look the same to the sender, and the comparison takes the same time wherever the first
wrong byte is.
"""

from __future__ import annotations

from controller.runtime import signature
from controller.runtime.secrets import read_secret

SIGNATURE_HEADER = "X-Hub-Signature-256"
SECRET_ENV = "ECS_GITOPS_WEBHOOK_SECRET"  # or ECS_GITOPS_WEBHOOK_SECRET_FILE: a file holding it


def load_webhook_secret() -> bytes | None:
    """The shared secret from ECS_GITOPS_WEBHOOK_SECRET, or from the file that
    ECS_GITOPS_WEBHOOK_SECRET_FILE names (a trailing newline is dropped), read now: call it
    for each request. None when neither is set, in which case the webhook endpoint stays
    disabled; SecretUnavailable when both are set or the file cannot be read or is empty."""
    return read_secret(SECRET_ENV)


def sign(secret: bytes, body: bytes) -> str:
    """The header value a sender computes for body: `sha256=<hex>`."""
    return signature.sign(secret, body)


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether header is a valid `sha256=<hex>` signature of body under secret: False for
    a missing or malformed header and for an empty secret (runtime/signature.py)."""
    return signature.verify(secret, body, header)
