"""The monthly Fargate cost of a service: pure arithmetic over the spec and a price table.

Fargate bills each task for its task-level vCPU and memory by the hour (plus ephemeral
storage above the free 20 GiB). A month is 730 hours (the table's hoursPerMonth), so the
quickstart's example, 0.5 vCPU and 1 GB for one task in ap-northeast-2, is
0.5 × 0.0506 × 730 + 1 × 0.0055 × 730 = 18.469 + 4.015 = $22.484, shown as $22.48.
Tasks are split between FARGATE and FARGATE_SPOT as ECS places them (each provider's
base first, the rest by weight); Spot is the on-demand price less the region's
spotDiscount; runtimePlatform.cpuArchitecture ARM64 uses the region's ARM prices. With
autoscaling the count is a range (low at minCapacity, high at maxCapacity) around the
count in use. Arithmetic is Decimal, so figures round to the cent exactly as computed by
hand. Prices ship as controller/data/prices.json (approximate list prices, labelled as
such) and are replaced region by region by a file: load_prices(path), or the
ECS_GITOPS_PRICES_FILE environment variable. No I/O besides reading that table.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from controller.api.ecs_shapes import CapacityProviderStrategyItem, TaskDefinitionInput
from controller.api.service import EcsServiceSpec
from controller.api.units import cpu_units, memory_mib

PRICES_ENV = "ECS_GITOPS_PRICES_FILE"
CENT = Decimal("0.01")
ZERO = Decimal(0)
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


@dataclass(frozen=True)
class RegionPrices:
    vcpu_hour: Decimal
    gb_hour: Decimal
    arm_vcpu_hour: Decimal
    arm_gb_hour: Decimal
    spot_discount: Decimal
    ephemeral_gb_hour: Decimal = ZERO


@dataclass(frozen=True)
class PriceTable:
    regions: dict[str, RegionPrices]
    hours_per_month: Decimal = Decimal(730)
    default_region: str = "us-east-1"
    free_ephemeral_gib: int = 20
    source: str = "built-in approximate list prices"

    def for_region(self, region: str) -> tuple[RegionPrices, str | None]:
        """The region's prices, and a note when another region's had to stand in."""
        if region in self.regions:
            return self.regions[region], None
        fallback = self.default_region
        return self.regions[fallback], f"no Fargate prices for {region}; {fallback}'s were used"


def _region(raw: dict[str, Any]) -> RegionPrices:
    x86, arm = raw["x86"], raw.get("arm", raw["x86"])
    return RegionPrices(
        Decimal(x86["vcpuHour"]),
        Decimal(x86["gbHour"]),
        Decimal(arm["vcpuHour"]),
        Decimal(arm["gbHour"]),
        Decimal(raw.get("spotDiscount", 0)),
        Decimal(raw.get("ephemeralStorageGbHour", 0)),
    )


def _parse(text: str) -> dict[str, Any]:
    data = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    if not isinstance(data, dict):
        raise ValueError("a price table is a JSON object")
    return data


@cache
def _builtin() -> dict[str, Any]:
    return _parse(resources.files("controller").joinpath("data/prices.json").read_text())


def load_prices(path: str | Path | None = None) -> PriceTable:
    """The built-in table, with the regions (and settings) of `path`, or of the file
    ECS_GITOPS_PRICES_FILE names, replacing its own. ValueError on a malformed file.
    Read once per file version (path and modification time)."""
    path = path or os.environ.get(PRICES_ENV) or None
    if path is None:
        return _load(None, 0.0)
    try:
        mtime = os.stat(path).st_mtime
    except OSError as exc:
        raise ValueError(f"price file {path}: {exc}") from None
    return _load(str(path), mtime)


@cache
def _load(path: str | None, mtime: float) -> PriceTable:
    data = dict(_builtin())
    regions = dict(data["regions"])
    source = "built-in approximate list prices"
    if path is not None:
        try:
            override = _parse(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"price file {path}: {exc}") from None
        regions.update(override.get("regions", {}))
        data.update({k: v for k, v in override.items() if k != "regions"})
        source = f"{path} over the built-in prices"
    try:
        return PriceTable(
            {name: _region(raw) for name, raw in regions.items()},
            Decimal(data.get("hoursPerMonth", 730)),
            str(data.get("defaultRegion", "us-east-1")),
            int(data.get("freeEphemeralStorageGiB", 20)),
            source,
        )
    except (KeyError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"price table: missing or bad field {exc}") from None


@dataclass(frozen=True)
class Cost:
    """A service's estimated monthly cost, in USD."""

    monthly: Decimal
    """At `tasks`, the count in use (or desired)."""
    low: Decimal
    high: Decimal
    """The autoscaling range (minCapacity..maxCapacity); both equal monthly without it."""
    tasks: int
    min_tasks: int
    max_tasks: int
    region: str
    architecture: str
    task_hour: Decimal
    """One on-demand task for one hour."""
    spot_share: Decimal
    """The fraction of `tasks` on FARGATE_SPOT."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    estimated: bool = True
    """False when the service does not run on Fargate (the figures are then 0)."""

    @property
    def dollars(self) -> float:
        """monthly, to the cent, for the ecs_gitops_estimated_monthly_cost_dollars gauge."""
        return float(cents(self.monthly))

    @property
    def ranged(self) -> bool:
        return self.min_tasks != self.max_tasks

    def describe(self) -> str:
        if not self.estimated:
            return "not estimated (" + "; ".join(self.notes) + ")"
        text = f"{money(self.monthly)}/month"
        if self.ranged:
            text += (
                f" ({self.min_tasks}..{self.max_tasks} tasks: "
                f"{money(self.low)}..{money(self.high)})"
            )
        return text


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal, *, sign: bool = False) -> str:
    rounded = cents(value)
    prefix = ("+" if rounded >= 0 else "-") if sign else ("-" if rounded < 0 else "")
    return f"{prefix}${abs(rounded):,.2f}"


def task_hour(td: TaskDefinitionInput, prices: RegionPrices, free_gib: int = 20) -> Decimal:
    """One on-demand Fargate task of td for one hour (0 without task-level cpu/memory)."""
    if td.cpu is None or td.memory is None:
        return ZERO
    vcpu = Decimal(cpu_units(td.cpu)) / 1024
    gb = Decimal(memory_mib(td.memory)) / 1024
    arm = td.runtime_platform is not None and td.runtime_platform.cpu_architecture == "ARM64"
    rate = vcpu * (prices.arm_vcpu_hour if arm else prices.vcpu_hour)
    rate += gb * (prices.arm_gb_hour if arm else prices.gb_hour)
    extra = (td.ephemeral_storage.size_in_gi_b if td.ephemeral_storage else 0) - free_gib
    return rate + max(extra, 0) * prices.ephemeral_gb_hour


def placement(strategy: list[CapacityProviderStrategyItem], tasks: int) -> dict[str, Decimal]:
    """Tasks per capacity provider as ECS spreads them: bases first, the rest by weight."""
    if not strategy:
        return {"FARGATE": Decimal(tasks)}
    out = {item.capacity_provider: ZERO for item in strategy}
    left = Decimal(tasks)
    for item in strategy:
        base = min(Decimal(item.base or 0), left)
        out[item.capacity_provider] += base
        left -= base
    weights = sum(item.weight or 0 for item in strategy)
    for item in strategy:
        if weights:
            out[item.capacity_provider] += left * (item.weight or 0) / weights
        elif item is strategy[0]:
            out[item.capacity_provider] += left
    return out


def estimate_running(
    td: TaskDefinitionInput,
    tasks: int,
    *,
    region: str,
    launch_type: str | None = None,
    strategy: list[CapacityProviderStrategyItem] | None = None,
    scaling: tuple[int, int] | None = None,
    prices: PriceTable | None = None,
) -> Cost:
    """The cost of `tasks` tasks of td (and of the scaling range (min, max) when given)."""
    table = prices or load_prices()
    region_prices, fallback = table.for_region(region)
    notes = [fallback] if fallback else []
    arch = (td.runtime_platform.cpu_architecture if td.runtime_platform else None) or "X86_64"
    low_n, high_n = scaling if scaling is not None else (tasks, tasks)
    strategy = strategy or []

    def not_estimated(reason: str) -> Cost:
        zero = (ZERO, ZERO, ZERO)
        return Cost(*zero, tasks, low_n, high_n, region, arch, ZERO, ZERO, (*notes, reason), False)

    if launch_type is not None and launch_type != "FARGATE":
        return not_estimated(f"launch type {launch_type}: the instances are billed, not tasks")
    if launch_type is None and not strategy:
        notes.append("no launch type or strategy: the cluster default is taken to be FARGATE")
    if any(i.capacity_provider not in FARGATE_PROVIDERS for i in strategy):
        notes.append("tasks on EC2 capacity providers are not priced")
    rate = task_hour(td, region_prices, table.free_ephemeral_gib)
    if rate == 0:
        return not_estimated("no task-level cpu and memory to price")
    if arch == "ARM64" and any(i.capacity_provider == "FARGATE_SPOT" for i in strategy):
        notes.append("Fargate Spot does not run ARM64 tasks; priced as if it did")
    spot_rate = rate * (1 - region_prices.spot_discount)

    def monthly(n: int) -> tuple[Decimal, Decimal]:
        split = placement(strategy, n)
        spot = split.get("FARGATE_SPOT", ZERO)
        total = (split.get("FARGATE", ZERO) * rate + spot * spot_rate) * table.hours_per_month
        return total, (spot / n if n else ZERO)

    at, spot_share = monthly(tasks)
    return Cost(
        at,
        monthly(low_n)[0],
        monthly(high_n)[0],
        tasks,
        low_n,
        high_n,
        region,
        arch,
        rate,
        spot_share,
        tuple(notes),
    )


def estimate(
    spec: EcsServiceSpec,
    *,
    region: str | None = None,
    tasks: int | None = None,
    prices: PriceTable | None = None,
) -> Cost:
    """The cost of a service as specified. `tasks` is the count in use (a live
    desiredCount that autoscaling moved); without it, desiredCount. With autoScaling the
    count is held within minCapacity..maxCapacity, the range low..high."""
    scaling = spec.auto_scaling
    count = spec.desired_count if tasks is None else tasks
    bounds = (scaling.min_capacity, scaling.max_capacity) if scaling else None
    if bounds is not None:
        count = max(bounds[0], min(bounds[1], count))
    table = prices or load_prices()
    return estimate_running(
        spec.task_definition_input,
        count,
        region=region or spec.region or table.default_region,
        launch_type=spec.launch_type,
        strategy=spec.capacity_provider_strategy,
        scaling=bounds,
        prices=table,
    )


def change_line(name: str, before: Cost | None, after: Cost | None) -> tuple[str, Decimal]:
    """`name: $a -> $b/month (+$d)` and the change in cents; before None = a new service."""
    old = cents(before.monthly) if before is not None and before.estimated else ZERO
    if after is not None and not after.estimated:
        return f"{name}: cost {after.describe()}", ZERO
    new = cents(after.monthly) if after is not None else ZERO
    delta = new - old
    line = f"{name}: {money(old)} -> {money(new)}/month ({money(delta, sign=True)})"
    if after is not None and after.ranged:
        line += f"; autoscaling {after.min_tasks}..{after.max_tasks} tasks: {money(after.low)}..{money(after.high)}"
    return line, delta


def total_line(deltas: list[Decimal]) -> str:
    return f"total: {money(sum(deltas, ZERO), sign=True)}/month"
