"""Which live resources are ours to change: the tag-ownership rule, in one place.

A resource is ours when its managed-by tag (MANAGED_BY_TAG) names this controller's
instance. One that names another instance is that instance's: never changed, a Conflict.
One without the tag is nobody's: left untouched (a Conflict that says how to hand it over)
unless its file says syncPolicy {adopt: true}, when the caller adopts it (adopt.py). The
cluster reconcile, prune and task definition retention ask `owns` and only read what is not.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.api.common import MANAGED_BY_TAG
from controller.errors import Conflict


def owns(tags: Mapping[str, str], instance: str) -> bool:
    """Whether a resource with these tags is this instance's."""
    return tags.get(MANAGED_BY_TAG) == instance


def check_owner(
    tags: Mapping[str, str], instance: str, what: str, *, adoptable: bool = False
) -> bool:
    """True when `what` is ours; False when it is nobody's and adoptable (the caller
    adopts it). Raises Conflict when it is another instance's, or nobody's and not
    adoptable."""
    owner = tags.get(MANAGED_BY_TAG)
    if owner == instance:
        return True
    if owner is not None:
        raise Conflict(f"{what} is managed by ecs-gitops instance {owner!r}, not {instance!r}")
    if adoptable:
        return False
    raise Conflict(
        f"{what} exists but was not created by ecs-gitops (no tag {MANAGED_BY_TAG}); it is "
        "left untouched. To hand it over, set syncPolicy: {adopt: true} in its file "
        "(`ecs-gitops import` writes it)."
    )
