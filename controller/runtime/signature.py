"""HMAC-SHA256 body signatures, `sha256=<hex>`: the one rule for both directions.

GitHub's scheme (X-Hub-Signature-256): the sender signs the raw body with a shared
secret. The push webhook (sources/push.py) verifies what senders sign; notifications
(notify/targets.py) sign what receivers verify, under their own header. Verification
accepts only a well-formed header (the prefix, 64 hex digits, any case), never with an
empty secret (an empty key would let anyone sign), and compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import string

PREFIX = "sha256="
_HEX = frozenset(string.hexdigits)
_LENGTH = hashlib.sha256().digest_size * 2


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, body: bytes) -> str:
    """The header value for body under secret: `sha256=<hex HMAC-SHA256>`."""
    return PREFIX + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """Whether header is a valid signature of body under secret (constant-time)."""
    key = _key(secret)
    if not key or header is None:
        return False
    value = header.strip()
    if not value.lower().startswith(PREFIX):
        return False
    given = value[len(PREFIX) :].lower()
    if len(given) != _LENGTH or not _HEX.issuperset(given):
        return False
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))
