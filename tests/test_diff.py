"""Diff rendering, change paths and secret masking (in diffs and in log events)."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
import structlog

from controller.observability.mask import (
    MASK,
    mask_document,
    mask_log_event,
    mask_url_credentials,
)
from controller.reconcile.diff import Change, changed_paths, changes, render_diff, render_yaml

ANSI = re.compile(r"\x1b\[[0-9;]*m")
PASSWORD = "hunter2-correct-horse"
TITLE = "EcsService prod-cluster/myapp"


def service(
    image: str = "repo/myapp:v1", count: int = 2, password: str = PASSWORD
) -> dict[str, Any]:
    return {
        "desiredCount": count,
        "taskDefinition": {
            "family": "myapp",
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": image,
                    "environment": [
                        {"name": "DB_PASSWORD", "value": password},
                        {"name": "ENV", "value": "production"},
                    ],
                },
                {"name": "log-router", "image": "fluent-bit:stable"},
            ],
        },
    }


def test_equal_documents_render_nothing() -> None:
    assert render_diff(TITLE, service(), service(), color=True) == ""
    assert changes(service(), service()) == []


def test_plain_diff_has_headers_hunks_and_no_colour() -> None:
    out = render_diff(TITLE, service(), service(image="repo/myapp:v2"), color=False)
    lines = out.splitlines()
    assert lines[0] == f"--- live: {TITLE}"
    assert lines[1] == f"+++ desired: {TITLE}"
    assert lines[2].startswith("@@ ")
    assert "-    image: repo/myapp:v1" in lines
    assert "+    image: repo/myapp:v2" in lines
    assert "\x1b" not in out
    assert out.endswith("\n")


def test_colour_diff_paints_removals_additions_and_hunks() -> None:
    out = render_diff(TITLE, service(), service(count=3), color=True)
    assert "\x1b[31m-desiredCount: 2\x1b[0m" in out
    assert "\x1b[32m+desiredCount: 3\x1b[0m" in out
    assert re.search(r"\x1b\[36m@@ .* @@\x1b\[0m", out)
    assert ANSI.sub("", out) == render_diff(TITLE, service(), service(count=3), color=False)


def test_absent_live_resource_is_all_additions() -> None:
    out = render_diff(TITLE, None, {"desiredCount": 1})
    assert out.splitlines()[:2] == [f"--- live: {TITLE} (absent)", f"+++ desired: {TITLE}"]
    assert "+desiredCount: 1" in out.splitlines()


def test_yaml_rendering_is_stable_and_unfolded() -> None:
    long = "x" * 300
    a = render_yaml({"b": [1, 2], "a": {"d": long, "c": True}})
    b = render_yaml({"a": {"c": True, "d": long}, "b": [1, 2]})
    assert a == b
    assert a.splitlines()[0] == "a:"
    assert f"  d: {long}" in a.splitlines()


@pytest.mark.parametrize("color", [True, False], ids=["colour", "plain"])
def test_secret_values_never_appear_in_a_diff(color: bool) -> None:
    out = render_diff(TITLE, service(password="old-" + PASSWORD), service(), color=color)
    assert PASSWORD not in out
    assert "old-" not in out
    assert "value: production" in out  # ordinary values in the context stay readable
    removed = [line for line in out.splitlines() if "DB_PASSWORD" in line or MASK in line]
    assert removed, "the changed secret still shows up as a change"
    digests = set(re.findall(r"hmac:([0-9a-f]{6})", out))
    assert len(digests) == 2, "old and new secret values mask to different digests"


def test_an_unchanged_secret_masks_identically() -> None:
    out = render_diff(TITLE, service(), service(image="repo/myapp:v2"))
    assert PASSWORD not in out
    a, b = mask_document(service()), mask_document(service())
    assert a == b
    assert a["taskDefinition"]["containerDefinitions"][0]["environment"][1]["value"] == "production"


def test_change_paths_match_containers_and_variables_by_name() -> None:
    desired = service(image="repo/myapp:v2", count=3, password="new")
    desired["taskDefinition"]["containerDefinitions"].pop()
    desired["taskDefinition"]["containerDefinitions"][0]["command"] = ["serve"]
    assert changed_paths(service(), desired) == [
        "desiredCount",
        "taskDefinition.containerDefinitions[log-router]",
        "taskDefinition.containerDefinitions[web].command",
        "taskDefinition.containerDefinitions[web].environment[DB_PASSWORD].value",
        "taskDefinition.containerDefinitions[web].image",
    ]


def test_change_kinds_and_masked_values() -> None:
    desired = service(password="new-secret")
    desired["taskDefinition"]["containerDefinitions"].pop()
    desired["healthCheckGracePeriodSeconds"] = 60
    found = {c.path: c for c in changes(service(), desired)}
    assert found["healthCheckGracePeriodSeconds"].kind == "added"
    assert found["taskDefinition.containerDefinitions[log-router]"].kind == "removed"
    secret = found["taskDefinition.containerDefinitions[web].environment[DB_PASSWORD].value"]
    assert secret.kind == "changed"
    assert "new-secret" not in repr(secret)
    assert PASSWORD not in repr(secret)
    assert str(Change("a.b", 1, None)) == "a.b (removed)"


def test_changes_against_nothing_list_every_top_level_field() -> None:
    assert changed_paths(None, {"desiredCount": 1, "tags": {"a": "b"}}) == ["desiredCount", "tags"]


def test_keys_with_dots_are_quoted_in_paths() -> None:
    assert changed_paths(
        {"dockerLabels": {"com.example": "a"}}, {"dockerLabels": {"com.example": "b"}}
    ) == ['dockerLabels["com.example"]']


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "postgres://app:s3cret@db:5432/x", "postgres://app:***@db:5432/x", id="password"
        ),
        pytest.param(
            "see https://u:p@h/a and https://v:q@i/b",
            "see https://u:***@h/a and https://v:***@i/b",
            id="two-urls",
        ),
        pytest.param(
            "https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/o/r",
            "https://***@github.com/o/r",
            id="token-as-user",
        ),
        pytest.param("ssh://git@github.com/o/r", "ssh://git@github.com/o/r", id="plain-user-kept"),
        pytest.param("https://example.com/a@b", "https://example.com/a@b", id="at-in-path"),
    ],
)
def test_url_credentials_are_masked(text: str, expected: str) -> None:
    assert mask_url_credentials(text) == expected


def test_documents_mask_pairs_user_maps_and_urls_but_not_api_fields() -> None:
    doc: dict[str, Any] = {
        "kmsKeyId": "arn:aws:kms:k",
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:p"}],
        "environment": [
            {"name": "API_KEY", "value": "abc"},
            {"name": "DATABASE_URL", "value": "mysql://u:pw@h/db"},
        ],
        "logConfiguration": {"options": {"splunk-token": "tok", "splunk-url": "https://s"}},
        "dockerLabels": {"auth": "basic xyz"},
    }
    masked = mask_document(doc)
    assert masked["kmsKeyId"] == "arn:aws:kms:k"
    assert masked["secrets"] == doc["secrets"]  # references, not values
    assert masked["environment"][0]["value"].startswith(MASK)
    assert masked["environment"][1]["value"] == "mysql://u:***@h/db"
    assert masked["logConfiguration"]["options"]["splunk-token"].startswith(MASK)
    assert masked["logConfiguration"]["options"]["splunk-url"] == "https://s"
    assert masked["dockerLabels"]["auth"].startswith(MASK)
    assert "abc" not in json.dumps(masked)
    assert "basic xyz" not in json.dumps(masked)
    assert doc["environment"][0]["value"] == "abc", "the input is not modified"


def test_log_processor_masks_keys_nested_values_and_urls() -> None:
    event = {
        "event": "source_fetched from https://bot:pat@git.example.com/repo",
        "password": PASSWORD,
        "api_key": 12345,
        "headers": {"Authorization": "Bearer abc.def", "Accept": "json"},
        "env": [{"name": "DB_PASSWORD", "value": PASSWORD}],
        "key": "EcsService/prod/myapp",
        "revision": "abc123",
    }
    out = mask_log_event(None, "info", dict(event))
    assert out["event"] == "source_fetched from https://bot:***@git.example.com/repo"
    assert out["password"].startswith(MASK)
    assert out["api_key"] == MASK
    assert out["headers"] == {"Authorization": out["headers"]["Authorization"], "Accept": "json"}
    assert out["headers"]["Authorization"].startswith(MASK)
    assert out["env"][0]["value"].startswith(MASK)
    assert out["key"] == "EcsService/prod/myapp"
    assert out["revision"] == "abc123"
    assert PASSWORD not in json.dumps(out)
    assert "abc.def" not in json.dumps(out)


def test_log_processor_in_a_structlog_pipeline() -> None:
    buffer = io.StringIO()
    log = structlog.wrap_logger(
        structlog.PrintLogger(file=buffer),
        processors=[mask_log_event, structlog.processors.JSONRenderer()],
    )
    log.info("task_definition_registered", family="myapp", db_password=PASSWORD, token=None)
    line = json.loads(buffer.getvalue())
    assert line["event"] == "task_definition_registered"
    assert line["family"] == "myapp"
    assert line["db_password"].startswith(MASK)
    assert line["token"] is None
    assert PASSWORD not in buffer.getvalue()
