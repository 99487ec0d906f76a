"""The manager of `ecs-gitops run`.

manager       Controller: the source loop, the applier, the work queue and its workers,
              resync, leader election
status_store  StatusStore: statuses, rollout history, applied revisions, commits
settings      RunSettings: how `run` was asked to run
queueing      which work goes first (work queue priorities, what a revision changed)
endpoints     what the HTTP server shows and accepts, through the ControllerView Protocol
"""

from controller.app.manager import Controller
from controller.app.queueing import changed_keys
from controller.app.settings import RunSettings

__all__ = ["Controller", "RunSettings", "changed_keys"]
