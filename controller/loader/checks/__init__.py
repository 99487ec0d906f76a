"""Semantic checks: what AWS would reject only at deploy time, caught at validate time.

Each check returns Findings with a path into the document (the resource, or the task
definition file it references), so the loader can report file:line:col. Pure functions
over validated models; the rules follow the ECS API reference and the usual first-deploy failures.
One module per subject: findings (the Finding and shared helpers), task_definition,
fargate (its sizes and refused parameters), placement (launch type, strategy, network;
tasks and clusters) and service (load balancers, deployment, autoscaling).
"""

from controller.loader.checks.findings import Finding, Severity
from controller.loader.checks.placement import check_cluster, check_task
from controller.loader.checks.service import check_service
from controller.loader.checks.task_definition import check_task_definition

__all__ = [
    "Finding",
    "Severity",
    "check_cluster",
    "check_service",
    "check_task",
    "check_task_definition",
]
