"""The S3 source against the plain moto server: buckets and objects made with boto3, read
through controller.aws.s3 and AwsClients, whose call counts are the cost being tested."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiobotocore.session import get_session

from controller.api.files import MAX_FILE_BYTES
from controller.aws.client import AwsClients, AwsSettings
from controller.aws.s3 import S3Page, S3Store, SqsEventQueue, parse_event, queue_region
from controller.errors import (
    SourceAuthError,
    SourceError,
    SourceNotFound,
    SourceUnsupported,
    UsageError,
)
from controller.loader.loader import load_tree
from controller.sources import EventQueue, ObjectStore, S3Source, open_source
from controller.sources.objects import ObjectTree
from tests.conftest import run_cli

REGION = "ap-northeast-2"
BUCKET = "rendered-manifests"
SPEC = f"s3://{BUCKET}/deploy/"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "quickstart"
SHA1, SHA2 = "1" * 40, "2" * 40


def cluster(name: str) -> str:
    return f"apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata: {{name: {name}}}\n"


def quickstart(**overrides: str) -> dict[str, str]:
    files = {p.name: p.read_text() for p in EXAMPLE.iterdir() if p.is_file()}
    return {**files, **overrides}


def next_second() -> None:
    """S3 keeps LastModified to the second: what follows is strictly newer."""
    time.sleep(1.05 - time.time() % 1)


@pytest.fixture
def s3(aws_endpoint: str) -> Any:
    client = boto3.client("s3", region_name=REGION, endpoint_url=aws_endpoint)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


@pytest.fixture
async def aws(aws_endpoint: str) -> AsyncIterator[AwsClients]:
    async with AwsClients(AwsSettings(REGION, aws_endpoint)) as clients:
        yield clients


def upload(s3: Any, files: Mapping[str, str | bytes], marker: str | None = None) -> None:
    """What CI does: the rendered files, then the marker last."""
    for rel, body in files.items():
        s3.put_object(Bucket=BUCKET, Key=f"deploy/{rel}", Body=body)
    if marker is not None:
        s3.put_object(Bucket=BUCKET, Key="deploy/.revision", Body=f"{marker}\n")


def source(
    aws: AwsClients,
    tmp_path: Path,
    *,
    spec: str = SPEC,
    poll: float = 0.3,
    page_size: int = 1000,
    events: EventQueue | None = None,
) -> S3Source:
    def factory(region: str | None) -> ObjectStore:
        return S3Store(aws, region, page_size=page_size)

    src = open_source(
        spec, cache_dir=tmp_path, poll_interval=poll, object_store_factory=factory, s3_events=events
    )
    assert isinstance(src, S3Source)
    return src


def calls(aws: AwsClients, operation: str) -> int:
    return aws.stats.by_operation().get(f"s3:{operation}", 0)


def names(tree: Any) -> dict[str, Any]:
    return {item.resource.metadata.name: item.resource for item in load_tree(tree).loaded}


# -- snapshots and revisions --------------------------------------------------------------


async def test_marker_names_the_revision_and_time(s3: Any, aws: AwsClients, tmp_path: Path) -> None:
    upload(s3, quickstart(), marker=SHA1)
    artifact = await source(aws, tmp_path).fetch()
    marker_time = s3.head_object(Bucket=BUCKET, Key="deploy/.revision")["LastModified"]
    assert artifact.revision == SHA1
    assert artifact.time == marker_time.astimezone(UTC)
    assert artifact.source == SPEC
    assert artifact.tree.manifest_paths() == ["cluster.yaml", "myapp.yaml", "task-definition.json"]
    result = load_tree(artifact.tree)
    assert not result.errors
    assert {r.metadata.name for r in result.resources} == {"prod-cluster", "myapp"}


async def test_loader_names_files_by_key_relative_to_the_prefix(
    s3: Any, aws: AwsClients, tmp_path: Path
) -> None:
    upload(s3, {"apps/broken.yaml": cluster("c") + "spec: {nonsense: 1}\n", "c.yaml": cluster("d")})
    result = load_tree((await source(aws, tmp_path).fetch()).tree)
    assert [d.file for d in result.errors] == ["apps/broken.yaml"]
    assert "nonsense" in str(result.errors[0])
    assert [r.metadata.name for r in result.resources] == ["d"]


async def test_half_upload_without_a_new_marker_keeps_the_snapshot(
    s3: Any, aws: AwsClients, tmp_path: Path
) -> None:
    upload(s3, {"a.yaml": cluster("a"), "b.yaml": cluster("b")}, marker=SHA1)
    src = source(aws, tmp_path)
    first = await src.fetch()
    next_second()
    upload(s3, {"a.yaml": cluster("a2"), "new.yaml": cluster("new")})  # no marker yet
    s3.delete_object(Bucket=BUCKET, Key="deploy/b.yaml")
    assert not await src.wait_for_change(1.0)  # the marker did not move: nothing to do
    again = await src.fetch()
    assert again is first
    assert set(names(again.tree)) == {"a", "b"}

    upload(s3, {}, marker=SHA2)  # CI's last step
    assert await src.wait_for_change(2.0)
    done = await src.fetch()
    assert done.revision == SHA2
    assert set(names(done.tree)) == {"a2", "new"}
    assert not load_tree(done.tree).errors


async def test_objects_newer_than_the_marker_wait_for_the_next_one(
    s3: Any, aws: AwsClients, tmp_path: Path
) -> None:
    upload(s3, {"a.yaml": cluster("a1"), "b.yaml": cluster("b1")}, marker=SHA1)
    src = source(aws, tmp_path)
    await src.fetch()
    next_second()
    upload(s3, {"a.yaml": cluster("a2"), "b.yaml": cluster("b2")}, marker=SHA2)
    next_second()
    upload(s3, {"b.yaml": cluster("b3"), "c.yaml": cluster("c3")})  # the next upload begins
    artifact = await src.fetch()
    assert artifact.revision == SHA2
    # b3 was written after marker 2: b keeps the content it had; c is not part of it yet
    assert set(names(artifact.tree)) == {"a2", "b1"}
    problems = artifact.tree.listing_problems()
    assert [p for p, _ in problems] == ["c.yaml"]
    assert "written after the .revision marker" in problems[0][1]
    assert load_tree(artifact.tree).complete is False  # so nothing is pruned on it


async def test_without_a_marker_the_revision_is_a_digest_of_keys_and_etags(
    s3: Any, aws: AwsClients, tmp_path: Path
) -> None:
    upload(s3, {"a.yaml": cluster("a")})
    next_second()
    upload(s3, {"b.yaml": cluster("b")})
    src = source(aws, tmp_path)
    first = await src.fetch()
    newest = s3.head_object(Bucket=BUCKET, Key="deploy/b.yaml")["LastModified"]
    assert first.revision.startswith("sha256:")
    assert first.time == newest.astimezone(UTC)
    assert (await src.fetch()).revision == first.revision
    upload(s3, {"b.yaml": cluster("b2")})
    src.trigger()
    assert (await src.fetch()).revision != first.revision
    assert source(aws, tmp_path).display == SPEC


async def test_only_changed_objects_are_read_again(
    s3: Any, aws: AwsClients, tmp_path: Path
) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    upload(s3, {"a.yaml": cluster("a"), "b.yaml": cluster("b"), "c.yaml": cluster("c")}, SHA1)
    src = source(aws, tmp_path)
    await src.fetch()
    assert calls(aws, "GetObject") == 4  # three manifests and the marker
    next_second()
    upload(s3, {"b.yaml": cluster("b2")}, marker=SHA2)
    aws.stats.reset()
    src.trigger()
    artifact = await src.fetch()
    assert set(names(artifact.tree)) == {"a", "b2", "c"}
    assert calls(aws, "GetObject") == 2  # b.yaml and the new marker
    head = s3.head_object(Bucket=BUCKET, Key="deploy/b.yaml")
    assert isinstance(artifact.tree, ObjectTree)  # each object read is known by its version
    assert artifact.tree.version_of("b.yaml") == (head["ETag"].strip('"'), head["VersionId"])


async def test_an_unchanged_bucket_costs_one_list_per_poll(
    s3: Any, aws: AwsClients, tmp_path: Path
) -> None:
    upload(s3, quickstart(), marker=SHA1)
    src = source(aws, tmp_path, poll=0.4)
    first = await src.fetch()
    aws.stats.reset()
    started = time.monotonic()
    polls = 6
    for _ in range(polls):  # the controller's source loop: wait one interval, then fetch
        assert not await src.wait_for_change(0.4)
        assert await src.fetch() is first
    assert aws.stats.by_operation() == {"s3:ListObjectsV2": polls}
    assert time.monotonic() - started >= polls * 0.4 * 0.9


async def test_listing_is_paginated(s3: Any, aws: AwsClients, tmp_path: Path) -> None:
    upload(s3, {f"clusters/c{i}.yaml": cluster(f"c{i}") for i in range(7)}, marker=SHA1)
    src = source(aws, tmp_path, page_size=3)
    artifact = await src.fetch()
    assert set(names(artifact.tree)) == {f"c{i}" for i in range(7)}
    assert calls(aws, "ListObjectsV2") == 3  # 8 keys, 3 a page


async def test_keys_are_confined_to_the_prefix(s3: Any, aws: AwsClients, tmp_path: Path) -> None:
    bad = ["../escape.yaml", "a//b.yaml", "./c.yaml", "x/../../y.yaml"]
    upload(s3, {k: cluster("bad") for k in bad})
    upload(s3, {"ok.yaml": cluster("ok"), ".hidden/h.yaml": cluster("h"), "sub/": ""})
    s3.put_object(Bucket=BUCKET, Key="deploy-old/x.yaml", Body=cluster("old"))
    artifact = await source(aws, tmp_path).fetch()
    assert artifact.tree.manifest_paths() == ["ok.yaml"]
    problems = dict(artifact.tree.listing_problems())
    assert sorted(problems) == sorted(bad)
    assert all("'..' parts; ignored" in message for message in problems.values())
    result = load_tree(artifact.tree)
    assert [r.metadata.name for r in result.resources] == ["ok"]
    assert result.complete is False
    assert calls(aws, "GetObject") == 1


async def test_keys_a_store_returns_outside_the_prefix_are_ignored(tmp_path: Path) -> None:
    class Leaky:
        async def list_objects(self, bucket: str, prefix: str, continuation: str | None) -> Any:
            from controller.aws.s3 import S3Object

            when = datetime(2026, 1, 1, tzinfo=UTC)
            return S3Page((S3Object("elsewhere/secret.yaml", "e1", 10, when),), None)

        async def get_object(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("nothing outside the prefix is read")

    src = open_source(SPEC, cache_dir=tmp_path, object_store_factory=lambda _: Leaky())
    artifact = await src.fetch()
    assert artifact.tree.manifest_paths() == []
    assert artifact.tree.listing_problems() == [
        ("elsewhere/secret.yaml", "is outside the prefix 'deploy/'; ignored")
    ]


async def test_oversized_objects_are_refused_naming_the_key(
    s3: Any, aws: AwsClients, tmp_path: Path
) -> None:
    big = b"# padding\n" * (MAX_FILE_BYTES // 10 + 1)
    upload(s3, {"apps/big.yaml": big, "ok.yaml": cluster("ok")}, marker=SHA1)
    artifact = await source(aws, tmp_path).fetch()
    assert artifact.tree.listing_problems() == [
        ("apps/big.yaml", "object is 4.0 MiB, larger than the 4.0 MiB limit; refused")
    ]
    result = load_tree(artifact.tree)
    assert [d.file for d in result.errors] == ["apps/big.yaml"]
    assert calls(aws, "GetObject") == 2  # ok.yaml and the marker; never the big one
    with pytest.raises(Exception, match=r"apps/big.yaml: object is 4.0 MiB"):
        artifact.tree.read("apps/big.yaml")


async def test_a_snapshot_over_the_revision_budget_is_refused_before_any_read(
    s3: Any, aws: AwsClients, tmp_path: Path
) -> None:
    padded = cluster("c") + "#" + "x" * (10 * 1024 - len(cluster("c")) - 2) + "\n"
    upload(s3, {f"c{i}.yaml": padded for i in range(11)}, marker=SHA1)  # 110 KiB
    src = open_source(
        SPEC,
        cache_dir=tmp_path,
        poll_interval=1,
        object_store_factory=lambda region: S3Store(aws, region),
        max_revision_bytes=100 * 1024,
    )
    with pytest.raises(SourceError, match=r"\(112640 bytes\), more than the revision budget"):
        await src.fetch()
    assert calls(aws, "GetObject") == 0


async def test_an_object_changed_between_list_and_get_is_listed_again(
    s3: Any, aws: AwsClients, tmp_path: Path
) -> None:
    upload(s3, {"a.yaml": cluster("a1")})
    store = S3Store(aws)
    raced = False

    class Racing:
        async def list_objects(self, bucket: str, prefix: str, token: str | None) -> Any:
            return await store.list_objects(bucket, prefix, token)

        async def get_object(self, bucket: str, key: str, **kwargs: Any) -> Any:
            nonlocal raced
            if not raced:  # CI overwrites it just after our listing
                raced = True
                s3.put_object(Bucket=BUCKET, Key=key, Body=cluster("a2"))
            return await store.get_object(bucket, key, **kwargs)

    src = open_source(SPEC, cache_dir=tmp_path, object_store_factory=lambda _: Racing())
    artifact = await src.fetch()
    assert set(names(artifact.tree)) == {"a2"}  # If-Match refused a1's ETag: listed again
    assert calls(aws, "ListObjectsV2") == 2


# -- errors ------------------------------------------------------------------------------


async def test_a_missing_bucket_is_an_error_not_an_empty_source(
    aws: AwsClients, tmp_path: Path
) -> None:
    src = source(aws, tmp_path, spec="s3://no-such-bucket/deploy/", poll=0.2)
    with pytest.raises(SourceNotFound, match="bucket 'no-such-bucket' does not exist"):
        await src.fetch()
    assert await src.wait_for_change(1.0)  # retried at the next poll, not spun
    with pytest.raises(SourceNotFound):
        await src.fetch()


async def test_a_deleted_prefix_is_an_empty_artifact(
    s3: Any, aws: AwsClients, tmp_path: Path
) -> None:
    upload(s3, {"a.yaml": cluster("a")}, marker=SHA1)
    src = source(aws, tmp_path)
    await src.fetch()
    for key in ("deploy/a.yaml", "deploy/.revision"):
        s3.delete_object(Bucket=BUCKET, Key=key)
    assert await src.wait_for_change(2.0)
    empty = await src.fetch()
    assert empty.revision != SHA1
    assert empty.tree.manifest_paths() == []
    assert load_tree(empty.tree).resources == []  # the controller prunes nothing on this
    next_second()
    upload(s3, {"a.yaml": cluster("a"), "b.yaml": cluster("b")})  # re-upload, marker pending
    assert (await src.fetch()).revision == empty.revision
    upload(s3, {}, marker=SHA2)
    src.trigger()
    assert set(names((await src.fetch()).tree)) == {"a", "b"}


def _moto_auth(endpoint: str, count: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=count.encode(),
        headers={"Content-Type": "text/plain"},  # a form body would hide the number from moto
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


async def test_access_denied_is_an_auth_error(s3: Any, aws_endpoint: str, tmp_path: Path) -> None:
    """moto checks IAM policies once its authentication is switched on (reset-auth)."""
    iam = boto3.client("iam", region_name=REGION, endpoint_url=aws_endpoint)
    iam.create_user(UserName="reader")
    iam.put_user_policy(
        UserName="reader",
        PolicyName="queues-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    upload(s3, {"a.yaml": cluster("a")})
    session = get_session()
    session.set_credentials(key["AccessKeyId"], key["SecretAccessKey"])
    _moto_auth(aws_endpoint, "0")
    try:
        async with AwsClients(AwsSettings(REGION, aws_endpoint), session=session) as reader:
            with pytest.raises(SourceAuthError, match=r"access denied \(AccessDenied") as denied:
                await source(reader, tmp_path).fetch()
        assert f"s3:ListBucket on arn:aws:s3:::{BUCKET}" in str(denied.value)
        async with AwsClients(AwsSettings(REGION, aws_endpoint)) as stranger:  # unknown key
            with pytest.raises(SourceAuthError, match="InvalidAccessKeyId"):
                await source(stranger, tmp_path).fetch()
    finally:
        _moto_auth(aws_endpoint, "inf")


# -- events ------------------------------------------------------------------------------


@pytest.fixture
def queue(s3: Any, aws_endpoint: str) -> str:
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=aws_endpoint)
    url: str = sqs.create_queue(QueueName="manifests")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn["QueueArn"],
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                }
            ]
        },
    )
    return url


async def test_an_sqs_event_wakes_the_source_at_once(
    s3: Any, aws: AwsClients, queue: str, tmp_path: Path
) -> None:
    upload(s3, {"a.yaml": cluster("a")}, marker=SHA1)
    src = source(aws, tmp_path, poll=60.0, events=SqsEventQueue(aws, queue))
    await src.fetch()
    # S3's test event, then the events of the upload already fetched: a List, no wake
    assert not await src.wait_for_change(2.5)
    s3.put_object(Bucket=BUCKET, Key="elsewhere/x.yaml", Body=b"x")  # not our prefix
    lists = calls(aws, "ListObjectsV2")
    assert not await src.wait_for_change(2.5)
    assert calls(aws, "ListObjectsV2") == lists  # its event was not worth a List
    next_second()
    upload(s3, {"b.yaml": cluster("b")})  # half an upload: its event costs a List, no wake
    assert not await src.wait_for_change(2.5)
    assert calls(aws, "ListObjectsV2") == lists + 1

    waiting = asyncio.ensure_future(src.wait_for_change(30.0))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    upload(s3, {}, marker=SHA2)
    assert await waiting
    assert time.monotonic() - started < 5.0  # long before the 60 s poll
    assert calls(aws, "ListObjectsV2") == lists + 2
    assert (await src.fetch()).revision == SHA2
    assert calls(aws, "ListObjectsV2") == lists + 2  # fetch used the listing that woke it
    assert src.events_error is None


async def test_trigger_cuts_a_long_poll_short(
    s3: Any, aws: AwsClients, queue: str, tmp_path: Path
) -> None:
    upload(s3, {"a.yaml": cluster("a")})
    src = source(aws, tmp_path, poll=60.0, events=SqsEventQueue(aws, queue))
    await src.fetch()
    waiting = asyncio.ensure_future(src.wait_for_change(30.0))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    src.trigger()
    assert await waiting
    assert time.monotonic() - started < 1.0


async def test_a_broken_queue_falls_back_to_polling(
    s3: Any, aws: AwsClients, tmp_path: Path, aws_endpoint: str
) -> None:
    upload(s3, {"a.yaml": cluster("a")}, marker=SHA1)
    missing = f"{aws_endpoint}/123456789012/no-such-queue"
    src = source(aws, tmp_path, poll=2.0, events=SqsEventQueue(aws, missing))
    await src.fetch()
    upload(s3, {}, marker=SHA2)
    assert await src.wait_for_change(10.0)  # the poll still sees it
    assert src.events_error is not None
    assert "ReceiveMessage" in src.events_error


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "Records": [
                    {"s3": {"bucket": {"name": "b"}, "object": {"key": "deploy/my+app.yaml"}}}
                ]
            },
            ((("b", "deploy/my app.yaml"),), True),
        ),
        (
            {
                "Type": "Notification",
                "Message": json.dumps(
                    {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]}
                ),
            },
            ((("b", "k"),), True),
        ),
        (
            {
                "source": "aws.s3",
                "detail-type": "Object Created",
                "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}},
            },
            ((("b", "k"),), True),
        ),
        ({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}, ((), True)),
        ({"hello": "world"}, ((), False)),
        ("not json", ((), False)),
    ],
    ids=["s3", "sns", "eventbridge", "test-event", "unknown", "garbage"],
)
def test_event_messages_are_parsed(body: Any, expected: Any) -> None:
    assert parse_event(body if isinstance(body, str) else json.dumps(body)) == expected


def test_queue_region_comes_from_the_url() -> None:
    assert queue_region("https://sqs.eu-west-1.amazonaws.com/123456789012/q") == "eu-west-1"
    assert queue_region("https://us-east-2.queue.amazonaws.com/123456789012/q") == "us-east-2"
    assert queue_region("http://127.0.0.1:5000/123456789012/q") is None


# -- specs -------------------------------------------------------------------------------


def test_specs(tmp_path: Path) -> None:
    regions: list[str | None] = []

    def factory(region: str | None) -> ObjectStore:
        regions.append(region)
        return object()  # type: ignore[return-value]  # never called: nothing is fetched

    def spec(text: str, **kwargs: Any) -> S3Source:
        src = open_source(text, cache_dir=tmp_path, object_store_factory=factory, **kwargs)
        assert isinstance(src, S3Source)
        return src

    assert (spec("s3://b-1/deploy").prefix, spec("s3://b-1/deploy").display) == (
        "deploy/",
        "s3://b-1/deploy/",
    )
    assert spec("s3://b-1").prefix == ""
    assert spec("s3://b-1/a/b/#region=eu-west-1").display == "s3://b-1/a/b/"
    assert regions[-1] == "eu-west-1"
    assert regions[0] is None
    bad: Sequence[tuple[str, str]] = [
        ("s3://b-1/a/../b/", "'..' parts"),
        ("s3://b-1//a/", "'..' parts"),
        ("s3://x/a/", "not a valid S3 bucket name"),
        ("s3://b-1/a/#ref=main", "only option after '#' is region"),
        ("s3://b-1/a/?versionId=1", "takes no query"),
    ]
    for text, message in bad:
        with pytest.raises(SourceUnsupported, match=message):
            spec(text)
    with pytest.raises(SourceUnsupported, match="cannot read s3:// sources"):
        open_source("s3://b-1/deploy/", cache_dir=tmp_path)
    with pytest.raises(UsageError, match="s3:// sources only"):
        open_source(str(tmp_path), cache_dir=tmp_path, s3_events=_NoQueue())


class _NoQueue:
    async def receive(self, wait_seconds: int) -> list[Any]:
        return []

    async def delete(self, receipts: Sequence[str]) -> None:
        return None


def test_aws_implementations_satisfy_the_source_protocols() -> None:
    """Structural: controller.aws.s3 cannot import the protocols it implements."""
    store: Callable[[AwsClients], ObjectStore] = S3Store
    queue: Callable[[AwsClients, str], EventQueue] = SqsEventQueue
    assert store is S3Store
    assert queue is SqsEventQueue


def test_diff_and_verify_read_an_s3_prefix(s3: Any, aws_endpoint: str) -> None:
    """The one-shot commands read the prefix as `run` does: at its last complete upload."""
    upload(s3, quickstart(), SHA1)
    env = ("--endpoint-url", aws_endpoint, "--region", REGION, "--source", SPEC)
    diff = run_cli("diff", *env, "--no-color")
    assert diff.returncode == 1, diff.stderr  # nothing deployed yet: it differs
    assert "myapp" in diff.stdout
    assert "myapp: $0.00 -> $44.97/month (+$44.97)" in diff.stdout  # 2 tasks (autoscaling min)
    verify = run_cli("verify", *env, "--service", "myapp")
    assert verify.returncode == 1  # the walkthrough's image, roles and secret are not there
    assert "task-definition.json:" in verify.stdout
    missing = run_cli("diff", "--endpoint-url", aws_endpoint, "--source", "s3://no-such-bucket/x/")
    assert missing.returncode == 2
    assert "no-such-bucket" in missing.stderr
