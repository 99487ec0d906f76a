"""The leader-election Lease as one DynamoDB item, changed only by conditional writes.

The item, keyed by leaseName (the controller's instance name):
    holder       who holds it (an elector identity)
    version      a fresh random token on every write: the compare-and-swap token
    expiresAt    epoch seconds (fractional) at which the holder's lease runs out
    renewedAt    epoch seconds of the last write, for people reading the table
    ttl          expiresAt plus a day, whole seconds: DynamoDB's TTL sweeps abandoned leases
    transitions  how many times the lease has changed hands

acquire is a PutItem conditioned on the item not existing, or on the version last read while
the lease is expired or already ours; renew is an UpdateItem conditioned on holder and
version; release is the same UpdateItem setting the expiry to now and the holder to "" (the
item stays, so transitions keep counting). Reads are strongly consistent. A
failed condition means someone else won: None or False, never an error. Any other failure
raises an AwsError, which the elector takes as "unknown, try again". Expiry is wall-clock
time, so replicas' clocks must agree to within lease_duration - renew_deadline (5 s).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from controller.aws.client import AwsClients
from controller.errors import AwsTerminal
from controller.runtime.election import LeaseRecord

KEY = "leaseName"
TTL_ATTRIBUTE = "ttl"
TTL_GRACE = 86_400.0
"""DynamoDB deletes expired items within days, not seconds: TTL only tidies up."""
CONDITION_FAILED = "ConditionalCheckFailedException"

_NAMES = {
    "#k": KEY,
    "#h": "holder",
    "#v": "version",
    "#exp": "expiresAt",
    "#ren": "renewedAt",
    "#ttl": TTL_ATTRIBUTE,
}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3))}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class DynamoDbLease:
    """One named lease in a DynamoDB table (hash key `leaseName`, a string)."""

    def __init__(
        self,
        aws: AwsClients,
        table: str,
        name: str,
        *,
        region: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.aws = aws
        self.table = table
        self.name = name
        self.region = region or aws.settings.region
        self._now = wall_clock

    def __repr__(self) -> str:
        return f"DynamoDbLease(table={self.table!r}, name={self.name!r})"

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await self.aws.call("dynamodb", operation, self.region, **params)

    def _key(self) -> dict[str, dict[str, str]]:
        return {KEY: _s(self.name)}

    async def _conditional(self, write: Awaitable[dict[str, Any]]) -> bool:
        """A conditional write: False when its condition failed, raises on anything else."""
        try:
            await write
        except AwsTerminal as exc:
            if exc.code == CONDITION_FAILED:
                return False
            raise
        return True

    async def get(self) -> LeaseRecord | None:
        resp = await self._call(
            "GetItem", TableName=self.table, Key=self._key(), ConsistentRead=True
        )
        item = resp.get("Item")
        if not item:
            return None
        return LeaseRecord(
            holder=str(item.get("holder", {}).get("S", "")),
            version=str(item.get("version", {}).get("S", "")),
            remaining=float(item.get("expiresAt", {}).get("N", "0")) - self._now(),
            transitions=int(float(item.get("transitions", {}).get("N", "0"))),
        )

    async def acquire(
        self, holder: str, duration: float, expected: LeaseRecord | None
    ) -> LeaseRecord | None:
        now = self._now()
        version = uuid.uuid4().hex
        transitions = 0
        if expected is not None:
            transitions = expected.transitions + (expected.holder != holder)
        item = {
            **self._key(),
            "holder": _s(holder),
            "version": _s(version),
            "expiresAt": _n(now + duration),
            "renewedAt": _n(now),
            TTL_ATTRIBUTE: {"N": str(int(now + duration + TTL_GRACE))},
            "transitions": {"N": str(transitions)},
        }
        if expected is None:
            condition = "attribute_not_exists(#k)"
            names = {"#k": KEY}
            values = None
        else:
            condition = "#v = :expected AND (#h = :me OR #exp <= :now)"
            names = {k: _NAMES[k] for k in ("#v", "#h", "#exp")}
            values = {":expected": _s(expected.version), ":me": _s(holder), ":now": _n(now)}
        won = await self._conditional(
            self._call(
                "PutItem",
                TableName=self.table,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        )
        return LeaseRecord(holder, version, duration, transitions) if won else None

    async def renew(self, held: LeaseRecord, duration: float) -> LeaseRecord | None:
        now = self._now()
        version = uuid.uuid4().hex
        won = await self._conditional(
            self._call(
                "UpdateItem",
                TableName=self.table,
                Key=self._key(),
                UpdateExpression="SET #v = :new, #exp = :exp, #ren = :now, #ttl = :ttl",
                ConditionExpression="#h = :me AND #v = :old",
                ExpressionAttributeNames={
                    k: _NAMES[k] for k in ("#v", "#exp", "#ren", "#ttl", "#h")
                },
                ExpressionAttributeValues={
                    ":new": _s(version),
                    ":exp": _n(now + duration),
                    ":now": _n(now),
                    ":ttl": {"N": str(int(now + duration + TTL_GRACE))},
                    ":me": _s(held.holder),
                    ":old": _s(held.version),
                },
            )
        )
        return LeaseRecord(held.holder, version, duration, held.transitions) if won else None

    async def release(self, held: LeaseRecord) -> bool:
        """Expire the lease now and clear its holder; the item stays, with its history."""
        now = self._now()
        return await self._conditional(
            self._call(
                "UpdateItem",
                TableName=self.table,
                Key=self._key(),
                UpdateExpression="SET #h = :none, #v = :new, #exp = :now, #ren = :now, #ttl = :ttl",
                ConditionExpression="#h = :me AND #v = :old",
                ExpressionAttributeNames={
                    k: _NAMES[k] for k in ("#h", "#v", "#exp", "#ren", "#ttl")
                },
                ExpressionAttributeValues={
                    ":none": _s(""),
                    ":new": _s(uuid.uuid4().hex),
                    ":now": _n(now),
                    ":ttl": {"N": str(int(now + TTL_GRACE))},
                    ":me": _s(held.holder),
                    ":old": _s(held.version),
                },
            )
        )
