"""Secret-looking values masked before they reach a diff, a status page or a log line.

A value is secret when its name looks like one (DB_PASSWORD, apiKey, AUTH_TOKEN, SENTRY_DSN,
...) or when it is the password part of a URL (https://user:pass@host). It becomes "***"
plus a short keyed digest, so a diff still shows that a secret changed without showing it.
The digest's key is random per process: equal values mask alike within one run (live and
desired in the same diff), yet a pasted diff gives nothing to brute-force offline.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, MutableMapping
from typing import Any

from controller.api.secretnames import looks_secret

MASK = "***"

_DIGEST_KEY = secrets.token_bytes(32)
_DIGEST_LENGTH = 6

_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/?#@\s]*)(?::(?P<password>[^/?#@\s]*))?@"
)
_TOKEN_LIKE_USER = 20
"""A URL user this long with no password is a token (https://ghp_...@github.com)."""
# Mappings whose keys are user data, not API field names: their secret-looking keys mask.
USER_KEYED_MAPPINGS = frozenset({"options", "dockerLabels", "driverOpts", "labels", "tags"})


def digest(value: str) -> str:
    """A short keyed digest of value, stable within this process only."""
    mac = hmac.new(_DIGEST_KEY, value.encode(), hashlib.sha256)
    return mac.hexdigest()[:_DIGEST_LENGTH]


def mask_value(value: str) -> str:
    """'***' and a digest that changes when the value does; an empty value stays empty."""
    if not value:
        return value
    return f"{MASK} (hmac:{digest(value)})"


def mask_url_credentials(text: str) -> str:
    """text with the password of every URL masked: https://me:pw@host -> https://me:***@host."""

    def replace(match: re.Match[str]) -> str:
        user, password = match.group("user"), match.group("password")
        if password is not None:
            return f"{match.group('scheme')}{user}:{MASK}@"
        if len(user) >= _TOKEN_LIKE_USER:
            return f"{match.group('scheme')}{MASK}@"
        return match.group(0)

    return _URL_USERINFO.sub(replace, text)


def mask_document(doc: Any, *, by_key: bool = False) -> Any:
    """A copy of doc with secret values masked.

    {name, value} pairs (environment, proxy properties) mask by name; mappings of user keys
    (log options, Docker labels, tags) by key; every string has its URL credentials masked.
    by_key=True masks by key in every mapping: for free-form data such as log events.
    """
    if isinstance(doc, Mapping):
        if _is_name_value(doc):
            value = doc.get("value")
            if isinstance(value, str) and looks_secret(str(doc.get("name") or "")):
                return {**doc, "value": mask_value(value)}
        out: dict[Any, Any] = {}
        for key, value in doc.items():
            if by_key and isinstance(key, str) and looks_secret(key):
                out[key] = _mask_any(value)
            elif key in USER_KEYED_MAPPINGS and isinstance(value, Mapping):
                out[key] = mask_document(value, by_key=True)
            else:
                out[key] = mask_document(value, by_key=by_key)
        return out
    if isinstance(doc, list | tuple):
        return [mask_document(item, by_key=by_key) for item in doc]
    if isinstance(doc, str):
        return mask_url_credentials(doc)
    return doc


def _is_name_value(doc: Mapping[Any, Any]) -> bool:
    return "name" in doc and "value" in doc and set(doc) <= {"name", "value"}


def _mask_any(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return mask_value(value)
    return MASK


def mask_log_event(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: secret-looking keys and URL credentials masked at any depth.

    Put it before the renderer. The event text itself is only URL-masked.
    """
    for key, value in list(event_dict.items()):
        if key != "event" and looks_secret(key):
            event_dict[key] = _mask_any(value)
        else:
            event_dict[key] = mask_document(value, by_key=True)
    return event_dict
