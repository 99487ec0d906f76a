"""Deploy notifications: webhook, Slack and GitHub commit statuses (beside observability).

events.py    Event: rollout started/succeeded/rolled back/failed, drift detected, hook failed
targets.py   the request each target type gets for an event; secrets; its signature
             (runtime/signature.py, the rule the push webhook verifies with too)
notifier.py  Notifier: per-target background queues, retries with backoff, delivery counts
destinations.py  the hosts a delivery may reach (operator-listed, https, no inside address)
The configuration is the EcsGitopsNotifications document of the source
(controller.api.notifications), handed over by the loader.
"""

from controller.notify.events import Event, drift_detected, from_rollout
from controller.notify.notifier import HttpTransport, Notifier, RetryPolicy
from controller.notify.targets import SIGNATURE_HEADER, Request
from controller.runtime.signature import sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "Event",
    "HttpTransport",
    "Notifier",
    "Request",
    "RetryPolicy",
    "drift_detected",
    "from_rollout",
    "sign",
    "verify",
]
