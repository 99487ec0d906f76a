"""YAML and JSON parsing that can say where every value came from.

PyYAML's constructors throw positions away, so documents are built here straight from
the parser's event stream with an explicit stack. Building from events also lets hostile
input be refused early and cheaply: a document nested deeper than MAX_DEPTH, or whose
aliases expand past MAX_NODES values (an alias bomb), stops the parse instead of
exhausting memory; duplicate keys and custom tags are errors, and mapping keys stay
strings (no `on:` turning into True).

Positions are not recorded while a file is parsed: nearly every document is valid and
nobody asks where its values are, and recording them cost more memory than the data.
Each document keeps an Origin instead (its file's text, compressed and shared by the
file's documents); the first locate() parses that text again, with positions, so a
validation error deep in a document, or a problem found long after the load, still
names its exact line and column.
"""

from __future__ import annotations

import json
import re
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from controller.errors import ParseError

MAX_DEPTH = 64
MAX_NODES = 200_000
_SHARED_LENGTH = 64

Path = tuple[str | int, ...]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_resolver = Resolver()
_constructor = SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    _STR,
}
_COLLECTION_TAGS = {None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


@dataclass(frozen=True, slots=True)
class Mark:
    line: int
    col: int


@dataclass(slots=True)
class Positions:
    """Where each value of one document starts (and each mapping key, by its value's path)."""

    start: Mark
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> Mark:
        """The mark of the deepest known prefix of path (the key itself when key=True)."""
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), 0, -1):
            mark = self.values.get(path[:end])
            if mark is not None:
                return mark
        return self.start


@dataclass(frozen=True, slots=True)
class Origin:
    """Where one document was written, kept small for as long as a field of it may have to
    be located: its file's text zlib-compressed (shared by the file's documents), the
    document's index in the file and its start."""

    packed: bytes
    index: int
    start: Mark

    def positions(self) -> Positions:
        """The document's positions, from a new parse of its text (JSON included: JSON is
        YAML's flow style). A text YAML cannot parse gives only the document's start."""
        text = zlib.decompress(self.packed).decode()
        try:
            docs = _parse(text, self.packed, track=True)
        except ParseError:
            docs = []
        found = docs[self.index].positions if self.index < len(docs) else None
        if found is None:
            return Positions(self.start)
        # a JSON document starts at 1:1 even where YAML sees its first token later
        return Positions(self.start, found.values, found.keys)

    def locate(self, path: Path, *, key: bool = False) -> Mark:
        return self.positions().locate(path, key=key)


def pack(text: str) -> bytes:
    """A file's text as an Origin keeps it (level 1: nearly the size of level 9 on
    manifests, in a fraction of the time)."""
    return zlib.compress(text.encode(), 1)


@dataclass(slots=True)
class Document:
    """One parsed document: its data, where it starts, and where it came from.

    Positions are found when first asked for (an error to report) and kept with the
    document from then on; a valid document costs its data and nothing more.
    """

    data: Any
    start: Mark
    origin: Origin
    positions: Positions | None = None
    """None until first asked for."""

    def locate(self, path: Path, *, key: bool = False) -> Mark:
        """The mark of the deepest known prefix of path (the key itself when key=True)."""
        if self.positions is None:
            self.positions = self.origin.positions()
        return self.positions.locate(path, key=key)


class _Merge:
    """The `<<` merge key, told apart from a plain '<<' string."""


class _Retrack(Exception):
    """A duplicate key found without positions: parse again with them, to say where the
    first one is."""


@dataclass(slots=True)
class _Frame:
    container: dict[str, Any] | list[Any]
    path: Path  # () unless positions are recorded
    mark: Mark | None  # None unless positions are recorded
    anchor: str | None
    weight: int = 1
    key: str | _Merge | None = None
    key_mark: Mark | None = None
    merges: list[dict[str, Any]] = field(default_factory=list)


def _mark(event: Any) -> Mark:
    return Mark(event.start_mark.line + 1, event.start_mark.column + 1)


def _scalar(event: Any) -> Any:
    tag = event.tag
    if tag in (None, "!"):
        if not event.implicit[0]:
            return _shared(event.value)  # quoted: always a string
        tag = _resolver.resolve(  # type: ignore[no-untyped-call]
            yaml.ScalarNode, event.value, event.implicit
        )
    if tag == _STR:
        return _shared(event.value)
    if tag == _MERGE:
        return _Merge()
    if tag not in _SCALAR_TAGS:
        if tag.startswith("tag:yaml.org,2002:"):
            # timestamps, binary and the like: kept as the text the user wrote
            return event.value
        raise ParseError(f"unsupported YAML tag {_tag_text(tag)}", *_pos(event))
    node = yaml.ScalarNode(tag, event.value)
    return _constructor.yaml_constructors[tag](_constructor, node)


def _shared(text: str) -> str:
    """A short string as one object however many documents hold it ("FARGATE", "tcp",
    a role ARN): a revision of thousands of services repeats most of its words."""
    return sys.intern(text) if len(text) <= _SHARED_LENGTH else text


def _tag_text(tag: str) -> str:
    """A tag as it is usually written: '!!python/object' rather than its full URI."""
    return repr(
        "!!" + tag.removeprefix("tag:yaml.org,2002:")
        if tag.startswith("tag:yaml.org,2002:")
        else tag
    )


def _pos(event: Any) -> tuple[int, int]:
    mark = _mark(event)
    return mark.line, mark.col


class _Builder:
    """One document built from events; with positions (not None), every value's is recorded."""

    def __init__(self, positions: Positions | None) -> None:
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.positions = positions
        self.root: Any = None
        self.total = 0
        self.aliased = 0

    def slot(self) -> Path:
        """The path the next value goes to (a value, not a mapping key)."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.container, list):
            return (*top.path, len(top.container))
        assert top.key is not None  # a mapping's value follows its key
        return (*top.path, "<<" if isinstance(top.key, _Merge) else top.key)

    def place(self, value: Any, weight: int, event: Any, mark: Mark | None = None) -> None:
        """Put value where the document is at; mark is where it starts when that is not
        where event does (a collection, placed at its end event)."""
        self.total += weight
        if self.total > MAX_NODES:
            raise ParseError(
                f"document expands to more than {MAX_NODES} values through "
                f"{self.aliased} aliases (a YAML alias bomb?)"
                if self.aliased
                else f"document holds more than {MAX_NODES} values, the limit for one document",
                *_pos(event),
            )
        positions = self.positions
        if not self.stack:
            self.root = value
            if positions is not None:
                positions.values[()] = mark or _mark(event)
            return
        top = self.stack[-1]
        top.weight += weight
        container = top.container
        if isinstance(container, list):
            if positions is not None:
                positions.values[self.slot()] = mark or _mark(event)
            container.append(value)
            return
        key = top.key
        if key is None:  # value is a mapping key
            if isinstance(value, dict | list):
                raise ParseError("mapping keys must be plain values", *_pos(event))
            top.key = value if isinstance(value, _Merge) else _key_text(event, value)
            if positions is not None:
                top.key_mark = mark or _mark(event)
            return
        if isinstance(key, _Merge):
            top.key = None
            merges = value if isinstance(value, list) else [value]
            if not all(isinstance(m, dict) for m in merges):
                raise ParseError("a '<<' merge takes a mapping or a list of mappings", *_pos(event))
            top.merges.extend(merges)
            return
        if key in container:
            if positions is None:
                raise _Retrack
            first = positions.keys.get(self.slot())
            where = f" (first at line {first.line})" if first else ""
            raise ParseError(f"duplicate key {key!r}{where}", *_key_pos(top))
        if positions is not None:
            path = self.slot()
            positions.values[path] = mark or _mark(event)
            if top.key_mark is not None:
                positions.keys[path] = top.key_mark
        top.key = None
        container[key] = value

    def start(self, container: dict[str, Any] | list[Any], event: Any) -> None:
        if event.tag not in _COLLECTION_TAGS:
            raise ParseError(f"unsupported YAML tag {_tag_text(event.tag)}", *_pos(event))
        if len(self.stack) >= MAX_DEPTH:
            raise ParseError(f"nested more than {MAX_DEPTH} levels deep", *_pos(event))
        if self.stack and isinstance(self.stack[-1].container, dict) and self.stack[-1].key is None:
            raise ParseError("mapping keys must be plain values", *_pos(event))
        if self.positions is None:
            self.stack.append(_Frame(container, (), None, event.anchor))
        else:
            self.stack.append(_Frame(container, self.slot(), _mark(event), event.anchor))

    def end(self, event: Any) -> None:
        frame = self.stack.pop()
        if isinstance(frame.container, dict):
            for merged in frame.merges:
                for k, v in merged.items():
                    frame.container.setdefault(k, v)
        # the frame's own weight was counted as it grew; place() adds it to the parent
        self.total -= frame.weight
        if frame.anchor:
            self.anchors[frame.anchor] = (frame.container, frame.weight)
        self.place(frame.container, frame.weight, event, frame.mark)


def _key_text(event: Any, value: Any) -> str:
    # Keys keep the text as written: `on:` or `80:` are the strings "on" and "80".
    raw = getattr(event, "value", None)
    return raw if isinstance(raw, str) else str(value)


def _key_pos(frame: _Frame) -> tuple[int, int]:
    mark = frame.key_mark or frame.mark or Mark(1, 1)
    return mark.line, mark.col


def parse_yaml(text: str) -> list[Document]:
    """Every document of a YAML stream; ParseError with a position on the first problem."""
    packed = pack(text)
    try:
        return _parse(text, packed, track=False)
    except _Retrack:
        return _parse(text, packed, track=True)


def _parse(text: str, packed: bytes, *, track: bool) -> list[Document]:
    """The documents of text, with their positions when track is set."""
    docs: list[Document] = []
    builder = _Builder(None)
    start = Mark(1, 1)
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.DocumentStartEvent):
                start = _mark(event)
                builder = _Builder(Positions(start) if track else None)
            elif isinstance(event, yaml.DocumentEndEvent):
                origin = Origin(packed, len(docs), start)
                docs.append(Document(builder.root, start, origin, builder.positions))
            elif isinstance(event, yaml.ScalarEvent):
                value = _scalar(event)
                if event.anchor:
                    builder.anchors[event.anchor] = (value, 1)
                builder.place(value, 1, event)
            elif isinstance(event, yaml.MappingStartEvent):
                builder.start({}, event)
            elif isinstance(event, yaml.SequenceStartEvent):
                builder.start([], event)
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                builder.end(event)
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor not in builder.anchors:
                    raise ParseError(f"unknown or recursive alias *{event.anchor}", *_pos(event))
                value, weight = builder.anchors[event.anchor]
                if weight > 1:
                    builder.aliased += 1
                builder.place(value, weight, event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = _yaml_problem(exc, text)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ParseError(f"invalid YAML: {problem}", line, col) from None
    except yaml.YAMLError as exc:
        raise ParseError(f"invalid YAML: {exc}") from None
    return docs


def _yaml_problem(exc: yaml.MarkedYAMLError, text: str) -> str:
    """The parser's complaint, naming the character it stopped at and where the
    construct it was reading began."""
    problem = exc.problem or str(exc)
    at = exc.problem_mark
    if at is not None and problem == "found character that cannot start any token":
        lines = text.split("\n")
        line = lines[at.line] if at.line < len(lines) else ""
        char = line[at.column] if at.column < len(line) else ""
        if char == "\t":
            problem = "found a tab character where YAML expects spaces (indent with spaces only)"
        elif char:
            problem = f"found character {char!r} that cannot start any token"
    if exc.context:
        began = exc.context_mark
        if (
            began is not None
            and at is not None
            and (began.line, began.column) != (at.line, at.column)
        ):
            problem += (
                f" ({exc.context} started at line {began.line + 1}, column {began.column + 1})"
            )
        else:
            problem += f" ({exc.context})"
    return problem


def parse_json(text: str) -> list[Document]:
    """A JSON file as one document. json decides validity; the YAML event pass only
    finds positions (JSON is YAML's flow style, see Origin), so JSON keeps its exact
    semantics."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = _shared(value) if isinstance(value, str) else value
        return out

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        problem, offset = _json_problem(exc)
        raise ParseError(f"invalid JSON: {problem}", *_line_col(text, offset)) from None
    except ValueError as exc:
        # duplicate keys: the YAML pass reports them too, with their place
        parse_yaml(text)
        raise ParseError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise _too_deep(text) from None
    _check_depth(data, text)
    start = Mark(1, 1)
    return [Document(data, start, Origin(pack(text), 0, start))]


def _json_problem(exc: json.JSONDecodeError) -> tuple[str, int]:
    """json's message in words (its own ones end in "at" and miss the usual slips),
    and the offset to report it at."""
    text, offset = exc.doc, exc.pos
    rest = text[offset:]
    before = text[:offset].rstrip()
    if exc.msg.startswith("Expecting") and rest.startswith(("}", "]")) and before.endswith(","):
        closer = "object" if rest[0] == "}" else "array"
        return f"trailing comma before the end of the {closer} (JSON allows none)", len(before) - 1
    if rest.startswith(("//", "/*", "#")):
        return "JSON does not allow comments", offset
    if exc.msg == "Invalid control character at" and rest.startswith(("\n", "\r")):
        return "unterminated string (line break inside a string)", offset
    return exc.msg.removesuffix(" at").removesuffix(" starting"), offset


_JSON_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep(text: str) -> ParseError:
    """The error for JSON nested deeper than MAX_DEPTH, at the first bracket too deep."""
    depth = 0
    for match in _JSON_BRACKET.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return ParseError(
                    f"nested more than {MAX_DEPTH} levels deep", *_line_col(text, match.start())
                )
        elif char in "]}":
            depth -= 1
    return ParseError(f"nested more than {MAX_DEPTH} levels deep")


def _line_col(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _check_depth(data: Any, text: str) -> None:
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(text)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
