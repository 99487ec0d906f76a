"""Free text in an AWS tag value, stored so that it comes back exactly as written.

ECS tag values take at most 256 characters: letters, digits, spaces and `+ - = . _ : / @`.
Status messages hold parentheses, semicolons, quotes and commas ("task 1f2e stopped
(Essential container in task exited); exit codes: web=1"), so a value is written in a
quoted-printable form: `=` and every character outside that alphabet become `=XX` per
UTF-8 byte, behind the marker `@q:`, which no value written before this codec starts
with (those come back as they are). Text that does not fit is cut at a character
boundary, never inside an escape, and ends with an ellipsis.
"""

from __future__ import annotations

import re

LIMIT = 256
MARKER = "@q:"
_KEPT = " +-.:/@_"
_ESCAPE = re.compile(r"=([0-9A-F]{2})")
_ELLIPSIS = "…"


def _char(c: str) -> str:
    if (c.isalnum() and c.isascii()) or c in _KEPT:
        return c
    return "".join(f"={b:02X}" for b in c.encode())


def encode(text: str, limit: int = LIMIT) -> str:
    """text as a tag value of at most limit characters (cut, with …, when it must be)."""
    parts = [_char(c) for c in text]
    room = limit - len(MARKER)
    if sum(map(len, parts)) <= room:
        return MARKER + "".join(parts)
    ellipsis = _char(_ELLIPSIS)
    kept: list[str] = []
    used = len(ellipsis)
    for part in parts:
        if used + len(part) > room:
            break
        kept.append(part)
        used += len(part)
    return MARKER + "".join(kept) + ellipsis


def decode(value: str) -> str:
    """The text encode() wrote; a value without the marker, as it is."""
    if not value.startswith(MARKER):
        return value
    body = value[len(MARKER) :]
    out = bytearray()
    pos = 0
    for found in _ESCAPE.finditer(body):
        out += body[pos : found.start()].encode()
        out.append(int(found.group(1), 16))
        pos = found.end()
    out += body[pos:].encode()
    return out.decode("utf-8", "replace")
