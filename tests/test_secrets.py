"""Nothing secret in a message: one rule for what looks secret, shared by the masker, the
task-definition checks and these tests; values under environment, secrets or a secret-looking
name are never echoed by a diagnostic, so neither `validate`, the status API, the page nor
the logs show them."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from controller.api import TaskDefinitionInput
from controller.api.secretnames import looks_secret
from controller.loader.checks.task_definition import check_task_definition
from controller.observability.mask import MASK, mask_document
from tests.conftest import REPO, run_cli

SECRET_NAMES = [
    "DB_PASSWORD",
    "PASSWD",
    "JWT_SECRET",
    "GITHUB_TOKEN",
    "githubToken",
    "API_KEY",
    "apiKey",
    "AWS_SECRET_ACCESS_KEY",
    "SSH_PRIVATE_KEY",
    "STRIPE_SECRET_KEY",
    "DB_CREDENTIALS",
    "AUTH",
    "BASIC_AUTH",
    "Authorization",
    "SENTRY_DSN",
    "DATABASE_CONN_STR",
    "ConnectionString",
    "splunk-token",
    "DBPASSWORD",
]
PLAIN_NAMES = [
    "ENV",
    "LOG_LEVEL",
    "HOME",
    "PWD",
    "key",
    "KMS_KEY_ID",
    "kmsKeyId",
    "AWS_ACCESS_KEY_ID",
    "DB_PASSWORD_FILE",
    "SECRET_ARN",
    "credentialsParameter",
    "SORT_KEY",
    "PUBLIC_KEY",
    "author",
    "awslogs-group",
    "DATABASE_URL",
    "valueFrom",
]
NAMES = [(n, True) for n in SECRET_NAMES] + [(n, False) for n in PLAIN_NAMES]
NUMBER = 9081726354
"""A numeric DB_PASSWORD: an invalid environment value (ECS takes strings only)."""


@pytest.mark.parametrize(("name", "secret"), NAMES, ids=[n for n, _ in NAMES])
def test_one_rule_for_the_masker_and_the_checks(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret
    masked = mask_document({"environment": [{"name": name, "value": "hunter2"}]})
    assert masked["environment"][0]["value"].startswith(MASK) is secret
    td = TaskDefinitionInput.model_validate(
        {
            "family": "web",
            "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": "nginx:1.27",
                    "memory": 512,
                    "environment": [{"name": name, "value": "hunter2"}],
                }
            ],
        }
    )
    warned = [f for f in check_task_definition(td) if "looks like a secret" in f.message]
    assert bool(warned) is secret


def write_source(root: Path, env_value: Any, name: str = "DB_PASSWORD") -> Path:
    """The quickstart example with one more environment variable in its task definition."""
    root.mkdir(parents=True, exist_ok=True)
    for file in ("cluster.yaml", "myapp.yaml"):
        (root / file).write_text((REPO / "examples" / "quickstart" / file).read_text())
    td = json.loads((REPO / "examples" / "quickstart" / "task-definition.json").read_text())
    td["containerDefinitions"][0].setdefault("environment", []).append(
        {"name": name, "value": env_value}
    )
    (root / "task-definition.json").write_text(json.dumps(td, indent=2))
    return root


def test_validate_never_echoes_an_invalid_environment_value(tmp_path: Path) -> None:
    result = run_cli("validate", str(write_source(tmp_path / "src", NUMBER)))
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "environment[1].value: must be a valid string, got a number (value not shown" in out
    assert str(NUMBER) not in out


def test_other_invalid_values_are_still_shown(tmp_path: Path) -> None:
    """Only secret places are hidden: elsewhere the value helps the user fix it."""
    root = write_source(tmp_path / "src", "plain")
    myapp = root / "myapp.yaml"
    myapp.write_text(myapp.read_text().replace("desiredCount: 2", "desiredCount: lots"))
    result = run_cli("validate", str(root))
    assert "got 'lots'" in result.stdout + result.stderr


def test_status_page_and_logs_never_show_it(
    emulated: Any, tmp_path: Path, run_controller: Any
) -> None:
    running = run_controller(emulated.endpoint_url, write_source(tmp_path / "src", NUMBER))
    running.wait("the diagnostic", lambda: bool(running.status()["source"]["diagnostics"]))
    status = json.dumps(running.status())
    assert "value not shown" in status
    with urllib.request.urlopen(f"{running.url}/", timeout=5) as response:
        page = response.read().decode()
    assert "value not shown" in page
    logs = "".join(p.read_text() for p in tmp_path.glob("controller-*.log"))
    assert '"revision_loaded"' in logs
    for text in (status, page, logs):
        assert str(NUMBER) not in text
