"""YAML and JSON parsing that remembers where every value came from.

PyYAML's constructors throw positions away, so documents are built here straight from
the parser's event stream with an explicit stack: every value's path maps to its
1-based line and column, so a validation error deep in a document can name its exact
place. Building from events also lets hostile input be refused early and cheaply: a
document nested deeper than MAX_DEPTH, or whose aliases expand past MAX_NODES values
(an alias bomb), stops the parse instead of exhausting memory; duplicate keys and
custom tags are errors, and mapping keys stay strings (no `on:` turning into True).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from controller.errors import ParseError

MAX_DEPTH = 64
MAX_NODES = 200_000

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
class Document:
    """One parsed document: its data and where each value of it starts.

    A JSON document's positions are found only when first asked for (an error to
    report), so valid JSON costs one json.loads and nothing more.
    """

    data: Any
    start: Mark
    positions: dict[Path, Mark] = field(default_factory=dict)
    key_positions: dict[Path, Mark] = field(default_factory=dict)
    json_text: str | None = None

    def locate(self, path: Path, *, key: bool = False) -> Mark:
        """The mark of the deepest known prefix of path (the key itself when key=True)."""
        if self.json_text is not None:
            located = _try_positions(self.json_text)
            self.json_text = None
            if isinstance(located, Document):
                self.positions, self.key_positions = located.positions, located.key_positions
        if key and path in self.key_positions:
            return self.key_positions[path]
        for end in range(len(path), 0, -1):
            mark = self.positions.get(path[:end])
            if mark is not None:
                return mark
        return self.start


class _Merge:
    """The `<<` merge key, told apart from a plain '<<' string."""


@dataclass(slots=True)
class _Frame:
    container: dict[str, Any] | list[Any]
    path: Path
    mark: Mark
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
            return event.value  # quoted: always a string
        tag = _resolver.resolve(  # type: ignore[no-untyped-call]
            yaml.ScalarNode, event.value, event.implicit
        )
    if tag == _STR:
        return event.value
    if tag == _MERGE:
        return _Merge()
    if tag not in _SCALAR_TAGS:
        if tag.startswith("tag:yaml.org,2002:"):
            # timestamps, binary and the like: kept as the text the user wrote
            return event.value
        raise ParseError(f"unsupported YAML tag {_tag_text(tag)}", *_pos(event))
    node = yaml.ScalarNode(tag, event.value)
    return _constructor.yaml_constructors[tag](_constructor, node)


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
    def __init__(self) -> None:
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.doc: Document | None = None
        self.root: Any = None
        self.total = 0
        self.aliased = 0

    def slot(self) -> tuple[Path, bool]:
        """The path the next node goes to, and whether it is a mapping key."""
        if not self.stack:
            return (), False
        top = self.stack[-1]
        if isinstance(top.container, dict):
            if top.key is None:
                return top.path, True
            return (*top.path, "<<" if isinstance(top.key, _Merge) else top.key), False
        return (*top.path, len(top.container)), False

    def place(self, value: Any, weight: int, mark: Mark, event: Any) -> None:
        assert self.doc is not None
        self.total += weight
        if self.total > MAX_NODES:
            raise ParseError(
                f"document expands to more than {MAX_NODES} values through "
                f"{self.aliased} aliases (a YAML alias bomb?)"
                if self.aliased
                else f"document holds more than {MAX_NODES} values, the limit for one document",
                *_pos(event),
            )
        path, is_key = self.slot()
        if not self.stack:
            self.root = value
            self.doc.positions[()] = mark
            return
        top = self.stack[-1]
        top.weight += weight
        if is_key:
            if isinstance(value, dict | list):
                raise ParseError("mapping keys must be plain values", *_pos(event))
            top.key = value if isinstance(value, _Merge) else _key_text(event, value)
            top.key_mark = mark
            return
        if isinstance(top.container, list):
            top.container.append(value)
            self.doc.positions[path] = mark
            return
        key = top.key
        top.key = None
        if isinstance(key, _Merge):
            merges = value if isinstance(value, list) else [value]
            if not all(isinstance(m, dict) for m in merges):
                raise ParseError("a '<<' merge takes a mapping or a list of mappings", *_pos(event))
            top.merges.extend(merges)
            return
        assert isinstance(key, str)
        if key in top.container:
            first = self.doc.key_positions.get(path)
            where = f" (first at line {first.line})" if first else ""
            raise ParseError(f"duplicate key {key!r}{where}", *_key_pos(top))
        top.container[key] = value
        self.doc.positions[path] = mark
        if top.key_mark is not None:
            self.doc.key_positions[path] = top.key_mark

    def start(self, container: dict[str, Any] | list[Any], event: Any) -> None:
        if event.tag not in _COLLECTION_TAGS:
            raise ParseError(f"unsupported YAML tag {_tag_text(event.tag)}", *_pos(event))
        if len(self.stack) >= MAX_DEPTH:
            raise ParseError(f"nested more than {MAX_DEPTH} levels deep", *_pos(event))
        path, is_key = self.slot()
        if is_key:
            raise ParseError("mapping keys must be plain values", *_pos(event))
        self.stack.append(_Frame(container, path, _mark(event), event.anchor))

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
        self.place(frame.container, frame.weight, frame.mark, event)


def _key_text(event: Any, value: Any) -> str:
    # Keys keep the text as written: `on:` or `80:` are the strings "on" and "80".
    raw = getattr(event, "value", None)
    return raw if isinstance(raw, str) else str(value)


def _key_pos(frame: _Frame) -> tuple[int, int]:
    mark = frame.key_mark or frame.mark
    return mark.line, mark.col


def parse_yaml(text: str) -> list[Document]:
    """Every document of a YAML stream; ParseError with a position on the first problem."""
    docs: list[Document] = []
    builder = _Builder()
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.DocumentStartEvent):
                builder = _Builder()
                builder.doc = Document(data=None, start=_mark(event))
            elif isinstance(event, yaml.DocumentEndEvent):
                assert builder.doc is not None
                builder.doc.data = builder.root
                docs.append(builder.doc)
            elif isinstance(event, yaml.ScalarEvent):
                value = _scalar(event)
                if event.anchor:
                    builder.anchors[event.anchor] = (value, 1)
                builder.place(value, 1, _mark(event), event)
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
                builder.place(value, weight, _mark(event), event)
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
    adds positions (JSON is YAML's flow style), so JSON keeps its exact semantics."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        problem, offset = _json_problem(exc)
        raise ParseError(f"invalid JSON: {problem}", *_line_col(text, offset)) from None
    except ValueError as exc:
        # duplicate keys: locate them through the YAML pass below, which reports them too
        located = _try_positions(text)
        if isinstance(located, ParseError):
            raise located from None
        raise ParseError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise _too_deep(text) from None
    _check_depth(data, text)
    return [Document(data=data, start=Mark(1, 1), json_text=text)]


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


def _try_positions(text: str) -> Document | ParseError:
    try:
        docs = parse_yaml(text)
    except ParseError as exc:
        return exc
    if len(docs) != 1:
        return ParseError("expected one JSON value")
    return docs[0]
