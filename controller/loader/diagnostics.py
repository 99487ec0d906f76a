"""Located problems, and pydantic's validation errors turned into words people read.

A pydantic error's loc mixes data keys with union tags; it is walked against the data
itself so the path printed (spec.containerDefinitions[0].image) and the line and column
reported are those of the user's document.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from controller.api.secretnames import looks_secret
from controller.loader.yamlpos import Document, Path

Severity = Literal["error", "warning"]

# Fields `describe-task-definition` prints that register-task-definition refuses.
SERVER_FIELDS = {
    "taskDefinitionArn",
    "revision",
    "status",
    "registeredAt",
    "registeredBy",
    "requiresAttributes",
    "compatibilities",
    "deregisteredAt",
    "deleteRequestedAt",
}


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    file: str
    line: int
    col: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def data_path(data: Any, loc: tuple[str | int, ...]) -> tuple[Path, bool]:
    """The part of loc that names places in data; True when its last key is absent."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, str) and part in node:  # noqa: SIM114
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif i == len(loc) - 1 and isinstance(node, dict) and isinstance(part, str):
            path.append(part)
            return tuple(path), True
        else:
            continue  # a union tag or a validator's name: not a place in the data
        path.append(part)
    return tuple(path), False


# Values under these keys are never echoed, whatever their names: a container's
# environment and secrets, a log driver's secretOptions.
HIDDEN_UNDER = frozenset({"environment", "secrets", "secretOptions"})
_KINDS = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def may_be_secret(path: Path) -> bool:
    """Whether a value at path may hold a secret, so a message must not show it: under
    environment, secrets or secretOptions, or under a secret-looking key (DB_PASSWORD)."""
    return any(isinstance(p, str) and (p in HIDDEN_UNDER or looks_secret(p)) for p in path)


def _got(value: Any, path: Path) -> str:
    if isinstance(value, dict):
        return ", got a mapping"
    if isinstance(value, list):
        return ", got a list"
    if may_be_secret(path):
        kind = "null" if value is None else _KINDS.get(type(value), type(value).__name__)
        return f", got {kind} (value not shown: it may be a secret)"
    return f", got {_short(value)}"


def _vocabulary(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    words: set[str] = set()
    for name, info in model.model_fields.items():
        words.add(info.alias or name)
        for sub in _models_in(info.annotation):
            words |= _vocabulary(sub, seen)
    return words


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        out += _models_in(arg)
    for meta in getattr(annotation, "__metadata__", ()) or ():
        out += _models_in(meta)
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and getattr(annotation, "__metadata__", None):
        out += _models_in(origin)
    return out


_VOCAB: dict[type[BaseModel], list[str]] = {}


def field_names(model: type[BaseModel]) -> list[str]:
    """Every field name (as written in files) of model and the models inside it."""
    if model not in _VOCAB:
        _VOCAB[model] = sorted(_vocabulary(model))
    return _VOCAB[model]


def fields_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The field names of the model(s) that loc leads to inside model: the words that
    may stand where an unknown field was found. Indexes, mapping keys and union tags
    in loc are passed over; falls back to every name in model when loc leads nowhere."""
    models = [model]
    for part in loc:
        if not isinstance(part, str):
            continue
        inner = [
            sub
            for m in models
            for name, info in m.model_fields.items()
            if (info.alias or name) == part
            for sub in _models_in(info.annotation)
        ]
        if inner:
            models = inner
    names = {info.alias or name for m in models for name, info in m.model_fields.items()}
    return sorted(names) or field_names(model)


def close_match(word: str, words: list[str]) -> str | None:
    """The one of words that word is a misspelling or miscasing of, or None."""
    match = difflib.get_close_matches(word, words, n=1, cutoff=0.75)
    if match:
        return match[0]
    lowered = {w.lower(): w for w in words}
    return lowered.get(word.lower())


def suggest(word: str, words: list[str]) -> str:
    """A did-you-mean hint for a misspelt or miscased name, or ""."""
    match = close_match(word, words)
    return f" (did you mean {match!r}?)" if match else ""


def explain(
    error: Any, path: Path, missing: bool, model: type[BaseModel], *, yaml_source: bool = True
) -> str:
    kind = error["type"]
    where = dotted(path)
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else "?"
        parent = dotted(path[:-1]) or "the document"
        if name in SERVER_FIELDS:
            return (
                f"{where}: {name!r} is set by ECS and not accepted by register-task-definition "
                "(this looks like describe-task-definition output: keep only the input fields)"
            )
        words = fields_at(model, tuple(error["loc"])[:-1])
        return f"{where}: unknown field {name!r} in {parent}{suggest(name, words)}"
    if kind == "missing" or missing:
        return f"{where}: missing required field {str(path[-1])!r}"
    msg = error["msg"]
    if kind in ("model_type", "dict_type"):
        msg = "must be a mapping (key: value pairs)"
    elif kind == "literal_error":
        msg = msg.replace("Input should be", "must be")
    elif msg.startswith("Input should be"):
        msg = "must be" + msg[len("Input should be") :]
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    value = error.get("input")
    got = _got(value, path)
    if yaml_source and isinstance(value, bool) and kind in ("string_type", "literal_error"):
        got += " (YAML reads unquoted yes, no, on, off, true and false as booleans: quote it)"
    return f"{where or 'document'}: {msg}{got}"


def from_validation(
    exc: ValidationError, doc: Document, file: str, model: type[BaseModel], prefix: Path = ()
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for error in exc.errors():
        path, missing = data_path(doc.data, tuple(error["loc"]))
        is_key = error["type"] == "extra_forbidden"
        mark = doc.locate(path, key=is_key) if not missing else doc.locate(path[:-1])
        message = explain(
            error, (*prefix, *path), missing, model, yaml_source=not file.endswith(".json")
        )
        out.append(Diagnostic(file, mark.line, mark.col, message))
    return sorted(set(out))
