"""What a status says besides the reconcile's own findings: Flux-style conditions
derived from it (Ready, Reconciling, Stalled), and a service's monthly cost estimate."""

from __future__ import annotations

from controller.api.service import EcsServiceSpec
from controller.api.status import Condition, ResourceStatus
from controller.reconcile import cost


def conditions_for(
    status: ResourceStatus, stalled_reason: str | None = None, waiting_reason: str | None = None
) -> list[Condition]:
    """waiting_reason: why a resource still reconciling is not Ready, when its health
    says too little (WriterConflict: another controller holds its rollout)."""
    ready = status.ready
    progressing = (
        status.health_status in ("Progressing", "Missing") or status.sync_status == "OutOfSync"
    )
    out = [
        Condition(
            type="Ready",
            status="True" if ready else "False",
            reason="Synced"
            if ready
            else (stalled_reason or waiting_reason or status.health_status),
            message=status.message,
        ),
        Condition(
            type="Reconciling",
            status="True" if progressing and not stalled_reason else "False",
            reason=(status.rollout.phase if status.rollout else "Progressing")
            if progressing
            else "Idle",
            message=status.message if progressing else "",
        ),
    ]
    if stalled_reason or status.health_status == "Degraded":
        out.append(
            Condition(
                type="Stalled",
                status="True",
                reason=stalled_reason or "RolloutFailed",
                message=status.last_error or status.message,
            )
        )
    return out


def set_cost(status: ResourceStatus, spec: EcsServiceSpec, tasks: int | None = None) -> None:
    """status.estimated_monthly_cost and cost_description for spec running `tasks` tasks
    (None: its desiredCount), in status.region. Computed once per spec, region, count and
    price table (every reconcile of every service asks); a malformed price file
    (ECS_GITOPS_PRICES_FILE) leaves the figure out and says why instead of failing."""
    try:
        table = cost.load_prices()
    except ValueError as exc:
        status.estimated_monthly_cost, status.cost_description = None, f"not estimated: {exc}"
        return
    region = status.region or None

    def make() -> tuple[float | None, str]:
        found = cost.estimate(spec, region=region, tasks=tasks, prices=table)
        return (found.dollars if found.estimated else None), found.describe()

    # the tables are cached for the process's life, so their id names one for good
    key = f"cost/{region}/{tasks}/{id(table)}"
    status.estimated_monthly_cost, status.cost_description = spec.memo(key, make)
