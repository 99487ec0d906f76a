"""The one reader of the operator's secrets: an environment variable, or the file it names.

Design: a secret NAME is the variable NAME, or the file that NAME_FILE names (a mounted
Secrets Manager value, say), one trailing newline dropped. It is read at each use, never
kept: a rotated secret applies to the next request without a restart, and a secret that
cannot be read refuses that one use (SecretUnavailable) instead of the controller's start.
The Git token, the push-webhook secret, the API token and the notification targets' secrets
all come through here; it sits in the runtime layer so every layer may call it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from controller.errors import SecretUnavailable


def read_secret(name: str, env: Mapping[str, str] | None = None) -> bytes | None:
    """The secret in variable `name`, or in the file `<name>_FILE` names; None when neither
    is set. SecretUnavailable when both are set or the file is unreadable or empty."""
    env = os.environ if env is None else env
    value, file = env.get(name), env.get(f"{name}_FILE")
    if value and file:
        raise SecretUnavailable(f"set {name} or {name}_FILE, not both")
    if value:
        return value.encode()
    if not file:
        return None
    return read_secret_file(Path(file), f"{name}_FILE={file}")


def read_secret_file(path: Path, what: str) -> bytes:
    """The secret in the file at path (one trailing newline dropped); `what` names the file
    in errors. SecretUnavailable when it cannot be read or is empty."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecretUnavailable(f"{what}: cannot read it: {exc.strerror or exc}") from None
    data = data.removesuffix(b"\n").removesuffix(b"\r")
    if not data:
        raise SecretUnavailable(f"{what} is empty")
    return data
