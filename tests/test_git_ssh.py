"""git+ssh sources: the ssh that git runs for us, read back with the real `ssh -G`.

`ssh -G` prints the configuration ssh would use, without connecting, so each test runs
the exact command line we hand git (GIT_SSH_COMMAND, through `sh -c` as git runs it,
with the arguments git appends) and asserts on what ssh itself makes of it.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from controller.errors import SourceAuthError, SourceNetworkError, UsageError
from controller.sources import RemoteGitSource, open_source
from controller.sources.gitcli import INSECURE_HOST_KEYS_ENV, KNOWN_HOSTS_ENV, remote_auth
from tests.conftest import free_port, run_cli

URL = "ssh://git@git.example.com:2222/org/repo.git"
KEY = "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"


@pytest.fixture(autouse=True)
def no_ssh_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (KNOWN_HOSTS_ENV, INSECURE_HOST_KEYS_ENV, "ECS_GITOPS_GIT_SSH_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def known_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # a space and a % in the path: ssh splits this option's value into files and
    # expands %-tokens in it
    path = tmp_path / "ssh config" / "known_hosts%h"
    path.parent.mkdir()
    path.write_text(KEY)
    monkeypatch.setenv(KNOWN_HOSTS_ENV, str(path))
    return path


def effective_ssh(url: str = URL) -> dict[str, list[str]]:
    """What ssh makes of the command git would run for url: `ssh -G` of the same argv."""
    git_url, extra, _ = remote_auth(url)
    assert git_url == url
    command = extra["GIT_SSH_COMMAND"]
    done = subprocess.run(
        ["sh", "-c", f'{command} -G "$@"', command, "-o", "SendEnv=GIT_PROTOCOL",
         "-p", "2222", "git@git.example.com", "git-upload-pack '/org/repo.git'"],
        env={**os.environ, **extra}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    config: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        config.setdefault(key, []).append(value)
    return config


def test_known_hosts_make_the_host_key_check_strict(known_hosts: Path) -> None:
    config = effective_ssh()
    assert config["stricthostkeychecking"] == ["true"]  # what `ssh -G` prints for "yes"
    assert config["userknownhostsfile"] == [str(known_hosts)]
    assert config["globalknownhostsfile"] == ["/dev/null"]  # that file, no other
    assert config["updatehostkeys"] == ["false"]  # never written to
    assert config["batchmode"] == ["yes"]
    assert (config["user"], config["port"]) == (["git"], ["2222"])


def test_a_key_file_is_the_only_identity_offered(
    known_hosts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deploy key").write_text("not parsed by ssh -G\n")  # ssh drops a missing -i
    monkeypatch.setenv("ECS_GITOPS_GIT_SSH_KEY_FILE", str(tmp_path / "deploy key"))
    config = effective_ssh()
    assert config["identityfile"] == [str(tmp_path / "deploy key")]
    assert config["identitiesonly"] == ["yes"]
    assert config["identityagent"] == ["none"]  # an agent in the environment is not asked
    assert config["stricthostkeychecking"] == ["true"]


def test_without_known_hosts_a_git_ssh_source_is_refused(tmp_path: Path) -> None:
    spec = "git+ssh://git@git.example.com/org/repo.git#ref=main"
    with pytest.raises(UsageError, match=f"set {KNOWN_HOSTS_ENV} to a known_hosts file"):
        open_source(spec, cache_dir=tmp_path, poll_interval=1)
    with pytest.raises(SourceAuthError, match=INSECURE_HOST_KEYS_ENV):
        remote_auth(URL)  # each fetch rebuilds its ssh command by the same rule


def test_trust_on_first_use_only_when_asked_for_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INSECURE_HOST_KEYS_ENV, "maybe")
    with pytest.raises(UsageError, match="use true or false"):
        open_source("git+ssh://git@git.example.com/r.git", cache_dir=tmp_path, poll_interval=1)
    monkeypatch.setenv(INSECURE_HOST_KEYS_ENV, "false")
    with pytest.raises(UsageError, match=KNOWN_HOSTS_ENV):
        open_source("git+ssh://git@git.example.com/r.git", cache_dir=tmp_path, poll_interval=1)
    monkeypatch.setenv(INSECURE_HOST_KEYS_ENV, "true")
    source = open_source("git+ssh://git@git.example.com/r.git", cache_dir=tmp_path, poll_interval=1)
    assert isinstance(source, RemoteGitSource)
    assert effective_ssh()["stricthostkeychecking"] == ["accept-new"]


def test_a_missing_known_hosts_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KNOWN_HOSTS_ENV, str(tmp_path / "nope"))
    with pytest.raises(UsageError, match="no such readable file"):
        open_source("git+ssh://git@git.example.com/r.git", cache_dir=tmp_path, poll_interval=1)


@pytest.mark.parametrize("command", ["run", "diff", "sync", "verify"])
def test_commands_refuse_a_git_ssh_source_without_host_keys(command: str) -> None:
    done = run_cli(
        command, "--source", "git+ssh://git@127.0.0.1:1/org/repo.git",
        "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:1",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert KNOWN_HOSTS_ENV in done.stderr
    assert INSECURE_HOST_KEYS_ENV in done.stderr


async def test_git_runs_our_ssh_whatever_git_config_or_the_environment_name(
    known_hosts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A core.sshCommand, GIT_SSH or GIT_SSH_COMMAND elsewhere never replaces ours."""
    marker = tmp_path / "other ssh ran"
    impostor = tmp_path / "impostor"
    impostor.write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 1\n")
    impostor.chmod(impostor.stat().st_mode | stat.S_IXUSR)
    config = tmp_path / "gitconfig"
    config.write_text(f"[core]\n\tsshCommand = {impostor}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_SSH", str(impostor))
    monkeypatch.setenv("GIT_SSH_COMMAND", str(impostor))
    port = free_port()  # nothing listens there: ssh itself says so
    source = RemoteGitSource(
        f"ssh://git@127.0.0.1:{port}/r.git", ref="main", cache_dir=tmp_path / "c", poll_interval=1
    )
    with pytest.raises(SourceNetworkError, match="Connection refused"):
        await source.fetch()
    assert not marker.exists()
