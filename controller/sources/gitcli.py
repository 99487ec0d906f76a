"""Running the git CLI: one `Git` per source, its environment, and its credentials.

git runs with no shell, a timeout, no terminal prompt and C messages, and a failure's
stderr is sorted into the SourceError kinds. Credentials reach git only through its
environment (`remote_auth`: an http header or GIT_SSH_COMMAND, never argv), and anything
it prints passes through redaction before it is shown. ssh is always ours (`ssh_command`):
no ssh_config, host keys checked strictly against the operator's known_hosts file, and
trust-on-first-use only when the operator asked for it by name.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import posixpath
import re
import shlex
import signal
import subprocess
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from controller.errors import (
    SourceAuthError,
    SourceError,
    SourceNetworkError,
    SourceNotFound,
    SourceUnsupported,
    UsageError,
)
from controller.runtime.secrets import read_secret
from controller.sources.base import redact_text, redact_url

LOCAL_TIMEOUT = 30.0  # seconds for git commands on a local repository
REMOTE_TIMEOUT = 300.0  # seconds for ls-remote / fetch against a remote
_BAD_REF = re.compile(r"^-|\.\.|[\x00-\x20\x7f~^:?*\[\\]|@\{|/$|\.lock$")
_SCRUB = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_NAMESPACE",
          "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES")  # fmt: skip

# (kind, stderr fragments) in the order they are tried: not-found messages also say
# "Could not read from remote repository", so they come before the network ones.
_CLASSES: list[tuple[type[SourceError], tuple[str, ...]]] = [
    (SourceAuthError, ("authentication failed", "could not read username", "could not read password",
                       "terminal prompts disabled", "permission denied (publickey", "error: 401",
                       "error: 403", "access denied", "host key verification failed")),
    (SourceNotFound, ("repository not found", "' not found", "does not appear to be a git repository",
                      "not a git repository", "error: 404", "couldn't find remote ref")),
    (SourceNetworkError, ("could not resolve host", "connection refused", "timed out",
                          "couldn't connect", "network is unreachable", "unable to access",
                          "could not read from remote", "early eof", "hung up unexpectedly")),
]  # fmt: skip


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every git child gets: no prompts, no optional locks (a user's
    `git status` is never blocked by us), C messages, no GIT_DIR leaking in from outside."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C", LANGUAGE="C")
    env.update(extra or {})
    return env


@dataclass(slots=True)
class Git:
    """How to run git for one source: its repository, environment and what to hide."""

    display: str
    git_dir: Path | None = None
    env: dict[str, str] = field(default_factory=git_env, repr=False)  # may hold a token
    secrets: tuple[str, ...] = field(default=(), repr=False)
    timeout: float = LOCAL_TIMEOUT

    def argv(self, args: tuple[str, ...]) -> list[str]:
        base = ["git", "-c", "core.quotePath=false", "--literal-pathspecs"]
        return base + ([f"--git-dir={self.git_dir}"] if self.git_dir else []) + list(args)

    async def run(self, *args: str, input: bytes | None = None, cwd: Path | None = None) -> bytes:
        """stdout of `git args`; a SourceError naming the failure otherwise."""
        code, out, err = await self.try_run(*args, input=input, cwd=cwd)
        if code != 0:
            raise self.error(args[0], err)
        return out

    async def try_run(
        self, *args: str, input: bytes | None = None, cwd: Path | None = None
    ) -> tuple[int, bytes, bytes]:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv(args),
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                cwd=cwd,
                start_new_session=True,  # its own process group: helpers die with it
            )
        except FileNotFoundError:
            raise SourceError("the git command is not installed (or not on PATH)") from None
        try:
            async with asyncio.timeout(self.timeout):
                out, err = await proc.communicate(input)
        except BaseException as exc:  # a timeout or a cancellation: never leave git running
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # git and its remote helper or ssh
            await asyncio.shield(proc.communicate())
            if isinstance(exc, TimeoutError):
                raise SourceNetworkError(
                    f"{self.display}: git {args[0]} timed out after {self.timeout:g} s"
                ) from None
            raise
        assert proc.returncode is not None
        return proc.returncode, out, err

    def error(self, command: str, stderr: bytes) -> SourceError:
        text = redact_text(stderr.decode("utf-8", "replace"), *self.secrets)
        lines = [ln.removeprefix("fatal: ").strip() for ln in text.splitlines() if ln.strip()]
        lowered = text.lower()
        kind = next((k for k, marks in _CLASSES if any(m in lowered for m in marks)), SourceError)
        detail = "; ".join(lines[:3]) or "no message"
        if kind is SourceAuthError:
            detail += (
                " (credentials: ECS_GITOPS_GIT_TOKEN or ECS_GITOPS_GIT_TOKEN_FILE for https, "
                "ECS_GITOPS_GIT_SSH_KEY_FILE for ssh)"
            )
        if "dubious ownership" in lowered:
            detail += " (the repository belongs to another user: see git's safe.directory)"
        return kind(f"{self.display}: git {command} failed: {detail}")


def check_ref(ref: str) -> str:
    if not ref or _BAD_REF.search(ref):
        raise SourceUnsupported(f"{ref!r} is not a valid Git ref name")
    return ref


def check_subpath(path: str) -> str:
    """path= as a clean relative POSIX path inside the repository ("" for its root)."""
    clean = posixpath.normpath(path.strip("/")) if path.strip("/") else "."
    if clean == ".":
        return ""
    if clean == ".." or clean.startswith("../") or "\x00" in clean:
        raise SourceUnsupported(f"path={path!r} leaves the repository")
    return clean


def remote_auth(url: str) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """(the URL git is given, extra environment, values to redact) for a remote, built
    from the environment now. Credentials never travel in argv: an https token (from
    ECS_GITOPS_GIT_TOKEN[_FILE], else the URL's user:password) becomes an Authorization
    header scoped to the host, passed as GIT_CONFIG_* variables; ssh runs as
    `ssh_command` says (GIT_SSH_COMMAND outranks any core.sshCommand or GIT_SSH). Without
    a token, git's own credential helpers work as usual; without a key file, ssh's default
    identities and agent do."""
    try:
        parts = urllib.parse.urlsplit(url)
        env_token = read_secret("ECS_GITOPS_GIT_TOKEN")
        key_file = os.environ.get("ECS_GITOPS_GIT_SSH_KEY_FILE")
    except (ValueError, UsageError) as exc:
        raise SourceAuthError(f"{redact_url(url)}: {exc}") from None
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    hostport = parts.netloc.rpartition("@")[2]
    extra: dict[str, str] = {}
    if parts.scheme == "ssh":
        netloc = f"{parts.username}@{hostport}" if parts.username else hostport
        try:
            extra.update(GIT_SSH_COMMAND=ssh_command(key_file), GIT_SSH_VARIANT="ssh")
        except UsageError as exc:
            raise SourceAuthError(f"{redact_url(url)}: {exc}") from None
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), extra, (password,)
    token = env_token.decode() if env_token else password
    secrets = tuple(s for s in (token, password, user if password else "") if s)
    if token and parts.scheme in ("http", "https"):
        login = user or os.environ.get("ECS_GITOPS_GIT_USERNAME") or "x-access-token"
        basic = base64.b64encode(f"{login}:{token}".encode()).decode()
        given = os.environ.get("GIT_CONFIG_COUNT", "0")
        count = int(given) if given.isdigit() else 0
        extra[f"GIT_CONFIG_KEY_{count}"] = f"http.{parts.scheme}://{hostport}/.extraHeader"
        extra[f"GIT_CONFIG_VALUE_{count}"] = f"Authorization: Basic {basic}"
        extra["GIT_CONFIG_COUNT"] = str(count + 1)
        secrets += (basic,)
    return urllib.parse.urlunsplit(parts._replace(netloc=hostport)), extra, secrets


KNOWN_HOSTS_ENV = "ECS_GITOPS_GIT_KNOWN_HOSTS_FILE"
INSECURE_HOST_KEYS_ENV = "ECS_GITOPS_GIT_INSECURE_ACCEPT_NEW_HOST_KEYS"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def ssh_command(key_file: str | None = None) -> str:
    """The ssh command git runs for a git+ssh source (GIT_SSH_COMMAND); UsageError when
    the operator said neither which host keys to trust nor that any key will do.

    Whoever answers on the host's address chooses what we deploy, so, as Flux requires
    known_hosts, the server's key must be in ECS_GITOPS_GIT_KNOWN_HOSTS_FILE (checked
    strictly, that file only, never written to); trust-on-first-use, which on a fresh
    Fargate task trusts whatever key answers at each start, takes an explicit
    ECS_GITOPS_GIT_INSECURE_ACCEPT_NEW_HOST_KEYS=true. ssh keeps the first value it reads
    of an option, so each is given once, before anything git appends; `-F /dev/null`
    keeps ssh_config files (a ProxyCommand, a laxer StrictHostKeyChecking) out of it. A
    key file is the only identity offered: no agent, no default keys."""
    known = os.environ.get(KNOWN_HOSTS_ENV, "")
    insecure = os.environ.get(INSECURE_HOST_KEYS_ENV, "").strip().lower()
    if insecure not in _TRUE + _FALSE:
        raise UsageError(f"{INSECURE_HOST_KEYS_ENV}={insecure!r}: use true or false")
    ssh = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes"]
    if known:
        if not os.access(known, os.R_OK) or not Path(known).is_file() or '"' in known:
            raise UsageError(f"{KNOWN_HOSTS_ENV}={known}: no such readable file")
        # quoted, as the option takes a list of files; %% as ssh expands %-tokens in it
        listed = '"' + known.replace("%", "%%") + '"'
        ssh += ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={listed}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "UpdateHostKeys=no"]  # fmt: skip
    elif insecure in _TRUE:
        ssh += ["-o", "StrictHostKeyChecking=accept-new"]
    else:
        raise UsageError(
            f"a git+ssh source needs the server's host key: set {KNOWN_HOSTS_ENV} to a "
            "known_hosts file (`ssh-keyscan HOST`, checked against the fingerprints the Git "
            f"host publishes), or {INSECURE_HOST_KEYS_ENV}=true to trust whatever key the "
            "address answers with (whoever answers chooses what is deployed)"
        )
    if key_file:
        ssh += ["-i", key_file, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
    return shlex.join(ssh)
