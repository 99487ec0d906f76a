"""Who may promote or abort a rollout: a bearer token, always; loopback alone is not enough.

Design: a same-task proxy (Service Connect's Envoy, an nginx sidecar) makes any caller look
like 127.0.0.1, so the caller's address is never a credential. The operator's token
(ECS_GITOPS_API_TOKEN, or the file ECS_GITOPS_API_TOKEN_FILE names) is read at each request
and accepted from anywhere. Without one, `run` generates a token at start and writes it,
mode 0600, to a file keyed by its port in a directory only this user can enter
($XDG_RUNTIME_DIR/ecs-gitops, else <tmp>/ecs-gitops-<uid>); the CLI reads it there, so
`ecs-gitops promote NAME` works on a local `run` with no configuration. That generated token
is accepted from loopback only: beyond loopback, without the operator's token, 403. Tokens
are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import stat
import tempfile
from pathlib import Path

from controller.errors import SecretUnavailable
from controller.runtime.secrets import read_secret, read_secret_file

TOKEN_ENV = "ECS_GITOPS_API_TOKEN"
"""The operator's token; or TOKEN_ENV + "_FILE": a file holding it."""


def configured_token() -> bytes | None:
    """The operator's token, read now; None when none is configured."""
    return read_secret(TOKEN_ENV)


def is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback  # ::ffff:127.0.0.1 on a dual-stack socket
    return ip.is_loopback


def local_token_path(port: int) -> Path:
    """Where `run` on this port writes the token it generated, and the CLI looks for it."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "ecs-gitops" if runtime else Path(tempfile.gettempdir())
    if not runtime:
        base = base / f"ecs-gitops-{os.getuid()}"
    return base / f"api-token-{port}"


def _private_dir(path: Path) -> None:
    """Create path (0700) or check that it is ours and closed to others: in a shared /tmp,
    another user could have made it first to read or plant the token."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.getuid()
        or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    ):
        raise SecretUnavailable(f"{path} is not a directory only this user can enter")


def write_local_token(port: int) -> tuple[bytes, Path]:
    """A new random token, written (0600) where the CLI finds it for this port."""
    token = secrets.token_urlsafe(32).encode()
    path = local_token_path(port)
    _private_dir(path.parent)
    path.unlink(missing_ok=True)  # O_EXCL below: never write through a planted link
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(token + b"\n")
    return token, path


def read_local_token(port: int) -> bytes | None:
    """The token a local `run` on this port generated; None when there is none."""
    path = local_token_path(port)
    if not path.exists():
        return None
    return read_secret_file(path, str(path))


def remove_local_token(port: int, token: bytes) -> None:
    """Remove the token file at shutdown, unless another `run` has replaced it since."""
    path = local_token_path(port)
    try:
        if hmac.compare_digest(read_secret_file(path, str(path)), token):
            path.unlink()
    except (SecretUnavailable, OSError):
        pass


def refusal(peer: str | None, authorization: str, local_token: bytes | None) -> tuple[int, str]:
    """(0, "") when the caller may act; otherwise the HTTP status and why.

    The operator's token is accepted from anywhere; the generated one from loopback only;
    beyond loopback without the operator's token: 403, whatever the request carries."""
    try:
        configured = configured_token()
    except SecretUnavailable as exc:
        return 503, f"the API token cannot be read: {exc}"
    scheme, _, given = authorization.partition(" ")
    presented = given.strip().encode() if scheme.lower() == "bearer" else b""
    if configured is not None and _same(presented, configured):
        return 0, ""
    loopback = is_loopback(peer)
    if loopback and local_token is not None and _same(presented, local_token):
        return 0, ""
    if configured is None and not loopback:
        return 403, f"actions beyond loopback need {TOKEN_ENV} set on the controller"
    return 401, "missing or wrong bearer token"


def _same(given: bytes, expected: bytes) -> bool:
    # compare_digest takes the same time wherever the first wrong byte is
    return bool(given) and hmac.compare_digest(given, expected)
