"""How `ecs-gitops run` was asked to run: the settings the manager and its HTTP view read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunSettings:
    instance: str = "ecs-gitops"
    dry_run: bool = False
    poll_interval: float = 15.0
    resync_interval: float = 60.0
    http_addr: str = "127.0.0.1:8080"
    workers: int = 16
    shutdown_grace: float = 15.0
    """Seconds in-flight reconciles get after SIGTERM (Fargate kills at 30 s)."""
    banner: str | None = None
