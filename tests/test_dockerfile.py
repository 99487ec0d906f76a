"""The Dockerfile, without a Docker engine: linted, then its install and entrypoint replayed.

There is no engine on this machine, so two things stand in for `docker build`:
- a small parser and the hadolint rules that matter here (pinned base tag, never
  :latest, non-root USER last, no secrets in ENV or ARG, apt lists removed,
  --no-install-recommends, pip --no-cache-dir and pins, exec-form ENTRYPOINT and
  HEALTHCHECK, COPY not ADD, WORKDIR not cd), plus .dockerignore letting exactly the
  COPY sources through;
- a replay of the build stage in tmp_path: the COPY sources copied as the context would
  send them, then its RUN lines run with /opt/ecs-gitops moved into tmp_path and pip
  pointed at a wheelhouse instead of PyPI (wheels repacked from .venv for the runtime
  dependencies and the build backend only). So `ecs-gitops --help` and `ecs-gitops run
  --help` prove the package installs and starts from constraints.txt pins without the
  dev and local extras (moto is not importable there), and the HEALTHCHECK command is
  run against a live and a dead /healthz.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from controller.api.secretnames import looks_secret

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
VENV_IN_IMAGE = "/opt/ecs-gitops"
VENV_BUDGET_MB = 90  # the runtime virtualenv (71 MB today); README states the image budget


@dataclass
class Instruction:
    command: str
    value: str
    line: int
    stage: int
    flags: dict[str, str] = field(default_factory=dict)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined, comments dropped, --flags split off."""
    out: list[Instruction] = []
    stage = -1
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if not pending:
            start = number
        pending.append(stripped.removesuffix("\\").strip())
        if stripped.endswith("\\"):
            continue
        command, _, rest = " ".join(pending).partition(" ")
        pending = []
        command = command.upper()
        flags: dict[str, str] = {}
        while command in ("FROM", "COPY", "ADD", "RUN", "HEALTHCHECK") and rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            name, _, value = flag[2:].partition("=")
            flags[name] = value
            rest = rest.strip()
        if command == "FROM":
            stage += 1
        out.append(Instruction(command, rest.strip(), start, stage, flags))
    return out


def env_pairs(value: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(value))


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


def stage_of(instructions: list[Instruction], index: int) -> list[Instruction]:
    stages = sorted({i.stage for i in instructions if i.stage >= 0})
    return [i for i in instructions if i.stage == stages[index]]


def base_images(instructions: list[Instruction]) -> list[str]:
    args = {}
    for i in instructions:
        if i.command == "ARG" and i.stage == -1 and "=" in i.value:
            name, _, default = i.value.partition("=")
            args[name] = default
    images = []
    for i in instructions:
        if i.command == "FROM":
            image = i.value.split()[0]
            images.append(
                re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)
            )
    return images


# lint: the rules hadolint would apply


def test_base_image_is_a_pinned_slim_python_311_tag(instructions: list[Instruction]) -> None:
    images = base_images(instructions)
    assert len(images) >= 2, "multi-stage: a build stage and a runtime stage"
    for image in images:
        name, _, tag = image.partition(":")
        assert name == "python", image
        assert tag, f"{image}: pin a tag (DL3006)"
        assert tag != "latest", f"{image}: never latest (DL3007)"
        assert re.fullmatch(r"3\.11\.\d+-slim-bookworm", tag), f"{image}: a full version tag"
    assert len(set(images)) == 1, "both stages on the same base, so the venv's python matches"


def test_runs_as_a_non_root_user(instructions: list[Instruction]) -> None:
    final = stage_of(instructions, -1)
    users = [i for i in final if i.command == "USER"]
    assert users, "no USER: the controller would run as root (DL3002)"
    user = users[-1].value.split(":")[0]
    assert user not in ("root", "0"), users[-1]
    assert user.isdigit(), "a numeric uid, so runAsNonRoot-style checks can verify it"
    after = final[final.index(users[-1]) + 1 :]
    assert all(i.command != "RUN" for i in after), "USER comes after the last RUN"


def test_no_secrets_in_env_or_args(instructions: list[Instruction]) -> None:
    for i in instructions:
        if i.command == "ENV":
            names = list(env_pairs(i.value))
        elif i.command == "ARG":
            names = [i.value.partition("=")[0]]
        else:
            continue
        secret = [n for n in names if looks_secret(n)]
        assert not secret, f"line {i.line}: {secret} would be baked into the image"


def test_apt_and_pip_follow_the_rules(instructions: list[Instruction]) -> None:
    runs = [i for i in instructions if i.command == "RUN"]
    for run in runs:
        text = run.value
        assert not re.search(r"(^|&&|;)\s*cd\s", text), f"line {run.line}: WORKDIR, not cd"
        assert "|" not in text.replace("||", ""), f"line {run.line}: a pipe hides failures"
        if "apt-get install" in text:
            assert "--no-install-recommends" in text, f"line {run.line}: DL3015"
            assert re.search(r"apt-get install (-y|--yes)", text), f"line {run.line}: DL3014"
            assert "rm -rf /var/lib/apt/lists/*" in text, f"line {run.line}: DL3009"
            assert "apt-get update" in text, f"line {run.line}: update in the same layer"
        for command in re.split(r"&&|;", text):
            args = shlex.split(command)
            if args[:1] and args[0].endswith("pip") and "install" in args:
                assert "--no-cache-dir" in args, f"line {run.line}: DL3042"
                assert "-c" in args, f"line {run.line}: install from the constraints.txt pins"
                assert args[args.index("-c") + 1] == "constraints.txt"
                targets = [a for a in args[args.index("install") + 1 :] if not a.startswith("-")]
                assert targets == ["constraints.txt", "."], (
                    f"line {run.line}: the project, no extras"
                )
    assert not [i for i in instructions if i.command == "ADD"], "COPY, not ADD (DL3020)"


def test_entrypoint_exposure_and_healthcheck(instructions: list[Instruction]) -> None:
    final = stage_of(instructions, -1)
    (entrypoint,) = [i for i in final if i.command == "ENTRYPOINT"]
    assert json.loads(entrypoint.value) == ["ecs-gitops", "run"], "exec form (DL3025)"
    assert not [i for i in final if i.command == "CMD"]
    env: dict[str, str] = {}
    for i in final:
        if i.command == "ENV":
            env.update(env_pairs(i.value))
    assert env["ECS_GITOPS_HTTP_ADDR"] == "0.0.0.0:8080"
    assert env["ECS_GITOPS_LOG_FORMAT"] == "json"
    (expose,) = [i for i in final if i.command == "EXPOSE"]
    assert expose.value == "8080"
    (check,) = [i for i in final if i.command == "HEALTHCHECK"]
    assert check.value.startswith("CMD [")
    command = json.loads(check.value.removeprefix("CMD").strip())
    assert command[:2] == ["python", "-c"]
    assert "/healthz" in command[2]
    copies = [i for i in final if i.command == "COPY"]
    assert copies
    assert all(i.flags.get("from") for i in copies), "the runtime stage copies only the venv"


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    excluded = False
    parts = path.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.removeprefix("!").strip("/")
        regex = "".join(
            ".*"
            if tok == "**"
            else "[^/]*"
            if tok == "*"
            else "[^/]"
            if tok == "?"
            else tok
            if tok.startswith("[")
            else re.escape(tok)
            for tok in re.findall(r"\*\*|\*|\?|\[[^\]]*\]|[^*?\[]+", body)
        )
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


def dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def copy_sources(instructions: list[Instruction]) -> list[str]:
    sources: list[str] = []
    for i in stage_of(instructions, 0):
        if i.command == "COPY" and "from" not in i.flags:
            sources += shlex.split(i.value)[:-1]
    return sources


def context_files(sources: list[str]) -> list[Path]:
    """The files the build context sends for these COPY sources."""
    patterns = dockerignore()
    files: list[Path] = []
    for source in sources:
        root = REPO / source
        candidates = sorted(root.rglob("*")) if root.is_dir() else [root]
        for path in candidates:
            rel = path.relative_to(REPO).as_posix()
            if path.is_file() and not dockerignore_excludes(rel, patterns):
                files.append(path)
    return files


def test_dockerignore_lets_through_exactly_what_is_copied(instructions: list[Instruction]) -> None:
    patterns = dockerignore()
    sources = copy_sources(instructions)
    assert set(sources) == {"pyproject.toml", "constraints.txt", "README.md", "controller/"}
    for source in sources:
        assert not dockerignore_excludes(source.rstrip("/"), patterns), source
    assert not dockerignore_excludes("controller/runtime/lease.py", patterns)
    for never in (".venv/bin/python", ".git/config", "tests/conftest.py", "examples/x.yaml"):
        assert dockerignore_excludes(never, patterns), never
    assert dockerignore_excludes("controller/__pycache__/app.cpython-311.pyc", patterns)


# replay: the build stage's install, offline, and the runtime stage's commands


def closure(requirements: list[str]) -> dict[str, metadata.Distribution]:
    """The installed distributions these requirements pull in (with only the extras named)."""
    todo = [Requirement(r) for r in requirements]
    found: dict[str, metadata.Distribution] = {}
    while todo:
        req = todo.pop()
        key = re.sub(r"[-_.]+", "-", req.name).lower()
        if key in found:
            continue
        dist = metadata.distribution(req.name)
        found[key] = dist
        for spec in dist.requires or []:
            sub = Requirement(spec)
            extras = ["", *sorted(req.extras)]
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    return found


def repack(dist: metadata.Distribution, out: Path) -> Path:
    """A wheel of an installed distribution, from the files its RECORD lists."""
    files = [f for f in dist.files or [] if not str(f).startswith("..")]
    info_dir = next(f.parts[0] for f in files if f.parts[0].endswith(".dist-info"))
    tags = [
        line.split(":", 1)[1].strip().split("-")
        for line in (dist.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag:")
    ]
    tag = "-".join(".".join(dict.fromkeys(t[n] for t in tags)) for n in range(3))
    wheel = out / f"{info_dir.removesuffix('.dist-info')}-{tag}.whl"
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    record = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as zf:
        for f in files:
            if "__pycache__" in f.parts or (f.parts[0] == info_dir and f.name in skip):
                continue
            data = Path(str(dist.locate_file(f))).read_bytes()
            zf.writestr(f.as_posix(), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{f.as_posix()},sha256={digest.decode()},{len(data)}")
        record.append(f"{info_dir}/RECORD,,")
        zf.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return wheel


def offline_env(path_first: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "ECS_GITOPS_"))}
    env["PIP_CONFIG_FILE"] = os.devnull  # this machine's pip.conf adds indexes and caps
    env["PATH"] = f"{path_first}{os.pathsep}{env.get('PATH', '')}"
    return env


@dataclass
class Built:
    venv: Path
    env: dict[str, str]
    final: list[Instruction]


@pytest.fixture(scope="module")
def built(instructions: list[Instruction], tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The build stage replayed: context copied, RUN lines run with the venv in tmp."""
    root = tmp_path_factory.mktemp("image")
    context, venv, wheels = root / "src", root / "opt" / "ecs-gitops", root / "wheels"
    wheels.mkdir()
    for path in context_files(copy_sources(instructions)):
        target = context / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    runtime = pyproject["project"]["dependencies"]
    backend = pyproject["build-system"]["requires"]
    for dist in {**closure(runtime), **closure(backend)}.values():
        repack(dist, wheels)
    env = offline_env(Path(sys.executable).parent)
    offline = f"--no-index --find-links {wheels}"
    for run in (i for i in stage_of(instructions, 0) if i.command == "RUN"):
        command = run.value.replace(VENV_IN_IMAGE, str(venv))
        command = re.sub(r"\bpip install\b", f"pip install {offline}", command)
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=context,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"line {run.line}: {command}\n{done.stdout}\n{done.stderr}"
    final = stage_of(instructions, -1)
    image_env = offline_env(venv / "bin")
    for i in final:
        if i.command == "ENV":
            for name, value in env_pairs(i.value).items():
                if name != "PATH":
                    image_env[name] = value
    return Built(venv, image_env, final)


@pytest.mark.slow
def test_the_entrypoint_runs_from_the_installed_package(built: Built) -> None:
    (entrypoint,) = [i for i in built.final if i.command == "ENTRYPOINT"]
    program, *args = json.loads(entrypoint.value)
    exe = built.venv / "bin" / program
    top = subprocess.run(
        [exe, "--help"], env=built.env, capture_output=True, text=True, check=False
    )
    assert top.returncode == 0, top.stderr
    assert "run" in top.stdout
    run = subprocess.run(
        [exe, *args, "--help"], env=built.env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "--source" in run.stdout
    # the image's ECS_GITOPS_* defaults reach the options: without a source, the usage
    # error names the option, and nothing tries to start
    missing = subprocess.run(
        [exe, *args], env=built.env, capture_output=True, text=True, timeout=60, check=False
    )
    assert missing.returncode == 2, missing.stderr
    assert "--source" in missing.stderr


@pytest.mark.slow
def test_the_image_carries_no_dev_or_local_extras(built: Built) -> None:
    python = built.venv / "bin" / "python"
    probe = (
        "import importlib.util as u, json; "
        "print(json.dumps({m: u.find_spec(m) is not None for m in "
        "['moto', 'pytest', 'mypy', 'cfnlint', 'aiobotocore', 'controller']}))"
    )
    found = json.loads(
        subprocess.run(
            [python, "-c", probe], env=built.env, capture_output=True, text=True, check=True
        ).stdout
    )
    assert found == {
        "moto": False,
        "pytest": False,
        "mypy": False,
        "cfnlint": False,
        "aiobotocore": True,
        "controller": True,
    }
    size = sum(
        p.stat().st_size for p in built.venv.rglob("*") if p.is_file() and not p.is_symlink()
    )
    print(f"runtime virtualenv: {size / 1e6:.1f} MB (budget {VENV_BUDGET_MB} MB)")
    assert size < VENV_BUDGET_MB * 1e6


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_the_healthcheck_fails_unless_healthz_answers_200(
    built: Built, health_server: http.server.HTTPServer
) -> None:
    (check,) = [i for i in built.final if i.command == "HEALTHCHECK"]
    command = json.loads(check.value.removeprefix("CMD").strip())
    port = health_server.server_address[1]
    command = [c.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for c in command]

    def probe() -> int:
        return subprocess.run(command, env=built.env, capture_output=True, check=False).returncode

    assert probe() == 0
    _Health.status = 503
    try:
        assert probe() != 0
    finally:
        _Health.status = 200
    health_server.shutdown()
    health_server.server_close()
    assert probe() != 0
