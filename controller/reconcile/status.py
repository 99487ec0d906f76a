"""Flux-style conditions derived from a status: Ready, Reconciling, Stalled."""

from __future__ import annotations

from controller.api.status import Condition, ResourceStatus


def conditions_for(status: ResourceStatus, stalled_reason: str | None = None) -> list[Condition]:
    ready = status.ready
    progressing = (
        status.health_status in ("Progressing", "Missing") or status.sync_status == "OutOfSync"
    )
    out = [
        Condition(
            type="Ready",
            status="True" if ready else "False",
            reason="Synced" if ready else (stalled_reason or status.health_status),
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
