"""Which work goes first: the work queue priorities the manager gives its keys.

Highest first. A worker hands its key's priority to the rate limiter too
(runtime.work_priority), so the order holds for the AWS budget as well: what a revision
changed comes first, the newest revision's before an older one's (a hot fix is not
queued behind a fan-out still in progress), then what it left alone; the follow-ups of a
reconcile (requeue-after while a rollout runs, retries) come at
workqueue.FOLLOW_UP_PRIORITY (-1), and resync polls last. A key's priority only ever
rises while it is queued (WorkQueue.add), so a resync never demotes queued work.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.api import ResourceKey
from controller.loader import Loaded

# defined in the runtime, where the aws layer reads it too: a resync poll may be answered
# from its pass's read-ahead (aws/batching.py)
from controller.runtime import RESYNC_PRIORITY as RESYNC_PRIORITY

ACTION_PRIORITY = 1 << 62
"""promote / abort asked for by a person."""
UNCHANGED_PRIORITY = 0


def changed_priority(generation: int, kind: str) -> int:
    """Of a resource the `generation`-th revision loaded added or changed: above every
    older revision's (a hot fix is not queued behind a fan-out still in progress), its
    clusters above its services (services need them)."""
    return 2 + 2 * generation + (kind == "EcsCluster")


def changed_keys(
    before: Mapping[ResourceKey, Loaded], after: Mapping[ResourceKey, Loaded]
) -> set[ResourceKey]:
    """Resources of `after` that are new or whose content differs from `before`."""
    return {
        key
        for key, item in after.items()
        if (old := before.get(key)) is None or old.resource != item.resource
    }
