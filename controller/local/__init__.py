"""The emulated AWS for `--local` and the tests (the optional extra `ecs-gitops[local]`).

A moto server on 127.0.0.1 plus an ECS emulator that makes task sets and services behave
like Fargate: computedDesiredCount from the scale, tasks PENDING then RUNNING after a
delay, STABILIZING / STEADY_STATE following the counts, stopped tasks with ECS's reasons
and stop codes, failure modes chosen by image tag ("crashloop", "pullfail",
"doesnotexist", "unhealthy", "lbfail", "slow"), and tasks registered on their target
groups with the health an ALB would report. It pre-creates the subnets and security groups the
examples name. It is emulated, never real AWS: see `EMULATED_BANNER`.

Only this package imports moto; the controller reaches it over HTTP via `endpoint_url`.

    config.py   timings, failure modes, ECS's reason strings (no moto)
    network.py  subnet-aaa / sg-xxx made to exist in moto's EC2
    tasks.py    one task's lifecycle on moto's Task objects
    targets.py  tasks registered on their ELBv2 target groups, with target health
    patches.py  fixes to moto's ECS backend while the emulator runs
    refusals.py what ECS refuses about deployment controllers, with its error codes
    service_api.py  CreateService/UpdateService as ECS takes them; service deployment API
    deployments.py  ECS's own deployment controller: rollouts, circuit breaker, rollback
    deployment_records.py  the service deployments and revisions ECS records, as it shows them
    scheduler.py  the scheduler tick: task sets, deployments, counts, events
    server.py   EmulatedAws: server, lock, scheduler thread
"""

from controller.local.config import (
    CRASHLOOP,
    DEFAULT_FAILURE_MODES,
    EMULATED_BANNER,
    HEALTHY,
    LB_FAIL,
    PULL_FAIL,
    SLOW,
    UNHEALTHY,
    EmulatorConfig,
    FailureMode,
    failure_mode_for_image,
)
from controller.local.network import precreate_network
from controller.local.server import EmulatedAws

__all__ = [
    "CRASHLOOP",
    "DEFAULT_FAILURE_MODES",
    "EMULATED_BANNER",
    "HEALTHY",
    "LB_FAIL",
    "PULL_FAIL",
    "SLOW",
    "UNHEALTHY",
    "EmulatedAws",
    "EmulatorConfig",
    "FailureMode",
    "failure_mode_for_image",
    "precreate_network",
]
