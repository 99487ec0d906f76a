"""Monthly Fargate cost: the seed's example to the cent, Spot and ARM mixes against figures
worked by hand, the price table and its override, the cost lines at the end of diff, and
each service's cost in its status, on the status page and in the metrics."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from controller.api import EcsService
from controller.api.ecs_shapes import CapacityProviderStrategyItem
from controller.api.service import EcsServiceSpec
from controller.api.status import ResourceStatus
from controller.aws.client import AwsClients, AwsSettings
from controller.loader import load_tree
from controller.observability.metrics import Metrics
from controller.observability.page import render_page
from controller.reconcile.context import Context
from controller.reconcile.cost import (
    PRICES_ENV,
    change_line,
    estimate,
    load_prices,
    money,
    placement,
    total_line,
)
from controller.reconcile.sync import reconcile_once, sync_all
from controller.sources.directory import DirectoryTree
from tests.conftest import REPO, run_cli

REGION = "ap-northeast-2"


def seed_spec(**update: Any) -> EcsServiceSpec:
    result = load_tree(DirectoryTree(REPO / "examples" / "quickstart"))
    svc = next(r for r in result.resources if isinstance(r, EcsService))
    return svc.spec.model_copy(update=update)


def with_td(spec: EcsServiceSpec, **fields: Any) -> EcsServiceSpec:
    td = spec.task_definition_input.model_validate(
        {**spec.task_definition_input.to_api(), **fields}
    )
    return spec.model_copy(update={"task_definition": td})


def test_the_seed_example_is_22_48() -> None:
    # 0.5 vCPU + 1 GB, one task, one month: 0.5*0.0506*730 + 1*0.0055*730 = 22.484
    cost = estimate(seed_spec(desired_count=1, auto_scaling=None))
    assert cost.monthly == Decimal("22.484")
    assert money(cost.monthly) == "$22.48"
    assert cost.dollars == 22.48
    assert cost.describe() == "$22.48/month"
    assert cost.task_hour == Decimal("0.0308")


def test_autoscaling_gives_a_range_around_the_count_in_use() -> None:
    cost = estimate(seed_spec())  # desiredCount 2, autoscaling 2..10
    assert (money(cost.monthly), money(cost.low), money(cost.high)) == (
        "$44.97",
        "$44.97",
        "$224.84",
    )
    assert cost.describe() == "$44.97/month (2..10 tasks: $44.97..$224.84)"
    moved = estimate(seed_spec(), tasks=5)  # autoscaling moved the live count to 5
    assert money(moved.monthly) == "$112.42"  # 5 * 22.484 = 112.42
    assert estimate(seed_spec(), tasks=50).tasks == 10


def test_spot_share_follows_base_then_weights() -> None:
    strategy = [
        {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 1},
    ]
    spec = EcsServiceSpec.model_validate(
        {
            **seed_spec().model_dump(by_alias=True, exclude_none=True),
            "launchType": None,
            "capacityProviderStrategy": strategy,
            "desiredCount": 3,
            "autoScaling": None,
        }
    )
    # 3 tasks: 1 base on FARGATE, then 1 and 1 by weight -> 2 on-demand, 1 Spot at 70% off
    # 730 * (2 * 0.0308 + 1 * 0.0308 * 0.3) = 730 * 0.07084 = 51.7132
    cost = estimate(spec)
    assert cost.monthly == Decimal("51.7132")
    assert money(cost.monthly) == "$51.71"
    assert cost.spot_share == Decimal(1) / 3


def test_arm_and_a_spot_arm_mix_in_us_east_1() -> None:
    base = seed_spec(region="us-east-1", desired_count=2, auto_scaling=None)
    arm = with_td(base, cpu="1024", memory="2048", runtimePlatform={"cpuArchitecture": "ARM64"})
    # 1 vCPU * 0.03238 + 2 GB * 0.00356 = 0.0395 per task-hour; 2 tasks * 730 h = 57.67
    assert estimate(arm).monthly == Decimal("57.6700")
    x86 = with_td(base, cpu="1024", memory="2048")
    # 1 * 0.04048 + 2 * 0.004445 = 0.04937; * 2 * 730 = 72.0802
    assert money(estimate(x86).monthly) == "$72.08"
    mixed = EcsServiceSpec.model_validate(
        {
            **arm.model_dump(by_alias=True, exclude_none=True),
            "launchType": None,
            "desiredCount": 4,
            "capacityProviderStrategy": [
                {"capacityProvider": "FARGATE", "weight": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 3},
            ],
        }
    )
    # 4 tasks, weights 1:3 -> 1 on-demand, 3 Spot: 730 * (0.0395 + 3 * 0.0395 * 0.3)
    # = 730 * (0.0395 + 0.03555) = 730 * 0.07505 = 54.7865
    cost = estimate(mixed)
    assert cost.monthly == Decimal("54.7865")
    assert money(cost.monthly) == "$54.79"
    assert any("Fargate Spot does not run ARM64" in n for n in cost.notes)


def test_placement_without_weights_and_with_a_big_base() -> None:
    items = [
        CapacityProviderStrategyItem.model_validate(raw)
        for raw in (
            {"capacityProvider": "FARGATE_SPOT", "base": 5, "weight": 0},
            {"capacityProvider": "FARGATE", "weight": 1},
        )
    ]
    assert placement(items, 3) == {"FARGATE_SPOT": Decimal(3), "FARGATE": Decimal(0)}
    assert placement(items, 7) == {"FARGATE_SPOT": Decimal(5), "FARGATE": Decimal(2)}
    assert placement([], 2) == {"FARGATE": Decimal(2)}


def test_ec2_launch_type_and_unknown_region() -> None:
    ec2 = estimate(seed_spec(launch_type="EC2"))
    assert not ec2.estimated
    assert ec2.describe().startswith("not estimated (launch type EC2")
    elsewhere = estimate(seed_spec(region="sa-east-1", desired_count=1, auto_scaling=None))
    assert elsewhere.notes == ("no Fargate prices for sa-east-1; us-east-1's were used",)


def test_the_price_table_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builtin = load_prices()
    assert (
        "approximate"
        in json.loads((REPO / "controller" / "data" / "prices.json").read_text())["about"].lower()
    )
    assert builtin.regions[REGION].vcpu_hour == Decimal("0.0506")
    assert builtin.regions[REGION].gb_hour == Decimal("0.0055")
    override = tmp_path / "prices.json"
    override.write_text(
        json.dumps(
            {
                "regions": {
                    REGION: {
                        "x86": {"vcpuHour": 0.04656, "gbHour": 0.00511},
                        "spotDiscount": 0.7,
                    }
                }
            }
        )
    )
    table = load_prices(override)
    assert table.regions["us-east-1"] == builtin.regions["us-east-1"]
    # 730 * (0.5 * 0.04656 + 1 * 0.00511) = 730 * 0.02839 = 20.7247
    one = seed_spec(desired_count=1, auto_scaling=None)
    assert estimate(one, prices=table).monthly == Decimal("20.72470")
    monkeypatch.setenv(PRICES_ENV, str(override))
    assert money(estimate(one).monthly) == "$20.72"
    override.write_text("{not json")
    with pytest.raises(ValueError, match="price file"):
        load_prices(override)


def test_change_lines() -> None:
    one = estimate(seed_spec(desired_count=1, auto_scaling=None))
    two = estimate(seed_spec(desired_count=2, auto_scaling=None))
    line, delta = change_line("myapp", two, two)
    assert line == "myapp: $44.97 -> $44.97/month (+$0.00)"
    new_line, new_delta = change_line("web", None, one)
    assert new_line == "web: $0.00 -> $22.48/month (+$22.48)"
    down, down_delta = change_line("myapp", two, one)
    assert down == "myapp: $44.97 -> $22.48/month (-$22.49)"
    assert total_line([delta, new_delta]) == "total: +$22.48/month"
    assert total_line([down_delta]) == "total: -$22.49/month"


def test_diff_ends_with_the_cost_of_the_commit(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    root = tmp_path / "src"
    shutil.copytree(REPO / "examples" / "quickstart", root)
    args = ("--endpoint-url", endpoint, "--region", REGION, "--source", str(root))
    assert run_cli("sync", *args, "--timeout", "60").returncode == 0
    td_file = root / "task-definition.json"
    td = json.loads(td_file.read_text())
    td["containerDefinitions"][0]["image"] = td["containerDefinitions"][0]["image"].replace(
        ":v1", ":v2"
    )
    td_file.write_text(json.dumps(td))
    (root / "worker.yaml").write_text(
        (root / "myapp.yaml")
        .read_text()
        .replace("name: myapp", "name: worker")
        .replace("desiredCount: 2", "desiredCount: 1")
        .split("  autoScaling:")[0]
    )
    changed = run_cli("diff", *args)
    assert changed.returncode == 1, changed.stderr
    tail = changed.stdout.rstrip().splitlines()[-4:]
    assert tail == [
        "monthly Fargate cost (built-in approximate list prices):",
        "  myapp: $44.97 -> $44.97/month (+$0.00); autoscaling 2..10 tasks: $44.97..$224.84",
        "  worker: $0.00 -> $22.48/month (+$22.48)",
        "  total: +$22.48/month",
    ]


async def test_status_page_and_metric_carry_each_services_cost(
    emulated: Any, tmp_path: Path
) -> None:
    """The seed's example (one task, no autoscaling) deployed: its status, the status page
    and ecs_gitops_estimated_monthly_cost_dollars all say $22.48; a count autoscaling moved
    is priced as it is live, and a service that left the source loses its series."""
    root = tmp_path / "src"
    shutil.copytree(REPO / "examples" / "quickstart", root)
    spec_file = root / "myapp.yaml"
    spec_file.write_text(
        spec_file.read_text()
        .replace("desiredCount: 2", "desiredCount: 1")
        .split("  autoScaling:")[0]
    )
    result = load_tree(DirectoryTree(root))
    assert result.errors == []
    async with AwsClients(AwsSettings(REGION, emulated.endpoint_url)) as aws:
        outcome = await sync_all(result.resources, Context(aws), within=60)
    assert outcome.ok
    [status] = [s for s in outcome.statuses.values() if s.kind == "EcsService"]
    assert status.estimated_monthly_cost == 22.48
    assert status.cost_description == "$22.48/month"
    api = status.to_api()
    assert (api["estimatedMonthlyCost"], api["costDescription"]) == (22.48, "$22.48/month")

    metrics = Metrics()
    gauge = "ecs_gitops_estimated_monthly_cost_dollars"
    labels = {"cluster": "prod-cluster", "name": "myapp"}
    metrics.set_resources(outcome.statuses.values())
    assert metrics.registry.get_sample_value(gauge, labels) == 22.48
    body = metrics.render("")[0].decode()
    assert f'{gauge}{{cluster="prod-cluster",name="myapp"}} 22.48' in body

    page = render_page({"resources": [s.to_api() for s in outcome.statuses.values()]})
    assert "$22.48/mo" in page
    assert "$22.48/month (estimate)" in page

    # an error status knows nothing of the cost: the last figure stays
    failed = ResourceStatus(kind="EcsService", name="myapp", cluster="prod-cluster")
    metrics.set_resources([failed])
    assert metrics.registry.get_sample_value(gauge, labels) == 22.48
    # the live count (autoscaling's, say) is what is priced: 3 tasks
    boto3.client("ecs", endpoint_url=emulated.endpoint_url, region_name=REGION).update_service(
        cluster="prod-cluster", service="myapp", desiredCount=3
    )
    svc = next(r for r in result.resources if isinstance(r, EcsService))
    async with AwsClients(AwsSettings(REGION, emulated.endpoint_url)) as aws:
        drifted = (await reconcile_once(svc, Context(aws, dry_run=True))).status
    assert drifted.estimated_monthly_cost == 67.45  # 3 * 22.484 = 67.452
    metrics.set_resources([drifted])
    assert metrics.registry.get_sample_value(gauge, labels) == 67.45
    # not estimated (EC2 launch type): no series; gone from the source: no series
    ec2 = status.model_copy(
        update={"estimated_monthly_cost": None, "cost_description": "not estimated (EC2)"}
    )
    metrics.set_resources([ec2])
    assert metrics.registry.get_sample_value(gauge, labels) is None
    metrics.set_resources([drifted])
    metrics.set_resources([])
    assert metrics.registry.get_sample_value(gauge, labels) is None
