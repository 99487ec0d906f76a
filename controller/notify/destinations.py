"""Where a notification may go: hosts the operator allows, over https, never inside the network.

Design: a commit writes the target URLs, and every target carries a credential (the webhook's
HMAC signature, Slack's URL, GitHub's token), so a commit must not choose who receives one.
The operator lists the hosts that may (ECS_GITOPS_NOTIFY_ALLOWED_HOSTS: `host`, `host:port`,
or `http://host[:port]` to allow plain http to an internal receiver); api.github.com and
hooks.slack.com are allowed by default. Each delivery is checked before it is sent (host
listed, https) and again when it connects: the transport's resolver refuses a name that
resolves to a loopback, link-local (IMDS, ECS task metadata), private, unspecified or
multicast address, and aiohttp connects to the addresses checked, so a second DNS answer
cannot swap them. Only hosts the operator listed are exempt from that address check.
The list is read at each delivery, like the secrets.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

ALLOWED_HOSTS_ENV = "ECS_GITOPS_NOTIFY_ALLOWED_HOSTS"
DEFAULT_HOSTS = ("api.github.com", "hooks.slack.com")


class DestinationRefused(Exception):
    """A notification would reach a host the operator did not allow, or an inside address."""


@dataclass(frozen=True)
class Entry:
    host: str
    port: int | None
    """None: any port."""
    plain_http: bool
    operator: bool
    """Listed by the operator (not a default): exempt from the address check."""

    def matches(self, host: str, port: int) -> bool:
        return self.host == host and self.port in (None, port)


@dataclass(frozen=True)
class AllowedHosts:
    entries: tuple[Entry, ...]

    def find(self, host: str, port: int) -> Entry | None:
        """The entry allowing host:port, the operator's first."""
        found = [e for e in self.entries if e.matches(_normal(host), port)]
        return max(found, key=lambda e: (e.operator, e.plain_http), default=None)

    def exempt(self, host: str, port: int) -> bool:
        entry = self.find(host, port)
        return entry is not None and entry.operator


def allowed_hosts(env: Mapping[str, str]) -> AllowedHosts:
    """The defaults plus the operator's list in env (read now)."""
    entries = [Entry(h, None, plain_http=False, operator=False) for h in DEFAULT_HOSTS]
    for item in env.get(ALLOWED_HOSTS_ENV, "").split(","):
        if item.strip():
            entries.append(_entry(item.strip()))
    return AllowedHosts(tuple(entries))


def _entry(item: str) -> Entry:
    plain_http = item.lower().startswith("http://")
    parts = urllib.parse.urlsplit(item if "://" in item else f"//{item}")
    try:
        port = parts.port
    except ValueError:
        port = -1  # matches no port: a typo allows nothing
    return Entry(_normal(parts.hostname or ""), port, plain_http, operator=True)


def _normal(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def check_url(url: str, allowed: AllowedHosts) -> None:
    """DestinationRefused unless url may receive a credential: a listed host, over https
    (or plain http where the operator listed http://HOST), an inside address only if listed."""
    parts = urllib.parse.urlsplit(url)
    host = _normal(parts.hostname or "")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DestinationRefused(f"the URL for {host} has no valid port") from None
    entry = allowed.find(host, port)
    if entry is None:
        raise DestinationRefused(
            f"host {host}:{port} is not in {ALLOWED_HOSTS_ENV}: no credential goes there"
        )
    if parts.scheme != "https" and not entry.plain_http:
        raise DestinationRefused(
            f"{parts.scheme}://{host}:{port}: https is required when a credential is attached "
            f"(list http://{host}:{port} in {ALLOWED_HOSTS_ENV} for an internal receiver)"
        )
    if not entry.operator:
        check_address(host)


def check_address(address: str) -> None:
    """DestinationRefused when address is an IP inside the network; names pass."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for what, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),  # 169.254.169.254 (IMDS), 169.254.170.2 (ECS)
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private or ip.is_reserved),
    ):
        if hit:
            raise DestinationRefused(f"{address} is a {what} address")


class GuardedResolver(AbstractResolver):
    """DNS for notifications: every address a name resolves to is checked, unless the
    operator listed the host; one inside address refuses the name."""

    def __init__(self, exempt: Callable[[str, int], bool]) -> None:
        self._exempt = exempt
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._exempt(host, port):
            for result in results:
                try:
                    check_address(result["host"])
                except DestinationRefused as exc:
                    raise DestinationRefused(f"{host} resolves to {exc}") from None
        return results

    async def close(self) -> None:
        await self._inner.close()
