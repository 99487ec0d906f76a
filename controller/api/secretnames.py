"""The one rule for what looks secret: a name such as DB_PASSWORD, apiKey or SENTRY_DSN.

Design: a name is split into words (at separators and camelCase humps) and judged word by
word, so DB_PASSWORD, jwtSecret and DBPASSWORD hold secrets while DB_PASSWORD_FILE,
SECRET_ARN and KMS_KEY_ID only name one. The masker (observability.mask), the task
definition checks (loader.checks), the diagnostics that never echo such values and the
tests all ask `looks_secret`; it lives in the api layer, pure, so every layer may import it.
"""

from __future__ import annotations

import re

# Words that make a name secret wherever they appear: DB_PASSWORD, jwtSecret, AUTH_TOKEN.
_SECRET_WORDS = frozenset(
    {
        "PASSWORD",
        "PASSWORDS",
        "PASSWD",
        "PASSPHRASE",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "TOKENS",
        "CREDENTIAL",
        "CREDENTIALS",
        "CREDS",
        "AUTH",
        "AUTHORIZATION",
        "DSN",
        "APIKEY",
        "PRIVATEKEY",
        "ACCESSKEY",
        "SECRETKEY",
        "CONNSTR",
        "CONNECTIONSTRING",
    }
)
# Glued spellings: DBPASSWORD, GITHUBTOKEN, MYAPIKEY.
_SECRET_ENDINGS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "PRIVATEKEY", "ACCESSKEY")
# KEY is secret after a qualifier (API_KEY, SSH_KEY, SIGNING_KEY), but not after these.
_PLAIN_KEY_QUALIFIERS = frozenset(
    {
        "PUBLIC",
        "KMS",
        "SORT",
        "PARTITION",
        "HASH",
        "RANGE",
        "CACHE",
        "PRIMARY",
        "FOREIGN",
        "OBJECT",
        "S3",
        "ROUTING",
        "IDEMPOTENCY",
        "QUEUE",
        "LOCK",
    }
)
# A name that ends with one of these names a secret (SECRET_ARN, DB_PASSWORD_FILE) but
# does not hold one.
_REFERENCE_ENDINGS = frozenset(
    {
        "ARN",
        "ID",
        "NAME",
        "FILE",
        "PATH",
        "PARAMETER",
        "URL",
        "URI",
        "ENDPOINT",
        "TYPE",
        "MODE",
        "ENABLED",
        "REGION",
        "VERSION",
        "TTL",
        "EXPIRY",
        "LENGTH",
        "SIZE",
        "COUNT",
        "OPTIONS",
    }
)
_CONN_WORDS = ("CONN", "CONNECTION")
_STRING_WORDS = ("STR", "STRING")

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])")


def words(name: str) -> list[str]:
    """name split at separators and camelCase humps, upper-cased: apiKey -> [API, KEY]."""
    return [w.upper() for w in _WORD.findall(name)]


def looks_secret(name: str) -> bool:
    """True when name looks like it holds a secret: PASSWORD, TOKEN, API_KEY, DSN, ..."""
    parts = words(name)
    if not parts or parts[-1] in _REFERENCE_ENDINGS:
        return False
    for i, word in enumerate(parts):
        if word in _SECRET_WORDS or word.endswith(_SECRET_ENDINGS):
            return True
        if word in ("KEY", "KEYS") and i > 0 and parts[i - 1] not in _PLAIN_KEY_QUALIFIERS:
            return True
        if word in _CONN_WORDS and i + 1 < len(parts) and parts[i + 1] in _STRING_WORDS:
            return True
    return False
