"""The manager of `ecs-gitops run`.

manager       Controller: builds the parts and runs them while leader; the workers'
              one reconcile per key (drift, notices, metrics)
source_loop   SourceLoop: fetch, hand a new revision to the applier, wait for a change
applier       Applier: the desired state of the loaded revision, what is queued when
              (a new revision, resync), prune candidates
status_store  StatusStore: statuses, rollout history, applied revisions, commits
settings      RunSettings: how `run` was asked to run
queueing      which work goes first (work queue priorities, what a revision changed)
endpoints     what the HTTP server shows and accepts, through the ControllerView Protocol
"""

from controller.app.manager import Controller
from controller.app.queueing import changed_keys
from controller.app.settings import RunSettings

__all__ = ["Controller", "RunSettings", "changed_keys"]
