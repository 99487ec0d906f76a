"""Who rolls a service out: two deployment controllers behind one Deployer interface.

external.py drives task sets itself (EXTERNAL: reconcile/rollout/ and its strategies);
ecs.py hands ECS one UpdateService and follows the deployment ECS runs (ECS). The
service reconcile (reconcile/service.py) picks one per service from
spec.deploymentController.type and runs hooks, dependsOn, tags, autoscaling and status
around it the same way for both.
"""

from __future__ import annotations

from controller.api.service import ControllerType, EcsServiceSpec
from controller.reconcile.deployers.base import Deployer
from controller.reconcile.deployers.ecs import EcsDeployer
from controller.reconcile.deployers.external import TaskSetDeployer

DEPLOYERS: dict[ControllerType, Deployer] = {
    "EXTERNAL": TaskSetDeployer(),
    "ECS": EcsDeployer(),
}


def deployer_for(spec: EcsServiceSpec) -> Deployer:
    return DEPLOYERS[spec.controller]


__all__ = ["DEPLOYERS", "Deployer", "deployer_for"]
