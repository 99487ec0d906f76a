"""Load a FileTree into resources: parse, identify, resolve, validate, check.

Every file is handled on its own, so one broken file costs only its own resources. A
document that fails is still identified where possible (kind, cluster, name) and listed
in `rejected`, and `complete` is False when any file could not be read at all: later
stages must neither apply nor prune what they cannot see (an invalid or unreadable
source never deletes anything).
"""

from __future__ import annotations

import codecs
import posixpath
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from controller.api import (
    API_GROUP,
    KINDS,
    EcsCluster,
    EcsService,
    EcsTask,
    Resource,
    ResourceKey,
    TaskDefinitionInput,
    resource_key,
)
from controller.api.files import FileTree
from controller.api.notifications import NOTIFICATIONS_KIND, EcsGitopsNotifications
from controller.api.resources import VERSIONS
from controller.errors import ParseError, SourceFileError
from controller.loader import checks
from controller.loader.diagnostics import Diagnostic, from_validation, suggest
from controller.loader.references import check_references
from controller.loader.yamlpos import Document, Path, parse_json, parse_yaml


@dataclass(frozen=True, slots=True)
class Loaded:
    """A valid resource and where it was written."""

    resource: Resource
    file: str
    line: int
    task_definition_file: str | None = None
    document: Document | None = field(default=None, compare=False, repr=False)
    """The parsed document, kept so later stages can locate a field (locate)."""
    task_definition_document: Document | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> ResourceKey:
        return resource_key(self.resource)

    def locate(self, path: Path, *, in_task_definition: bool = False) -> tuple[str, int, int]:
        """(file, line, col) of a field: a path into the resource document, or, with
        in_task_definition, into the task definition (its own file, or spec.taskDefinition
        when inline), as checks.Finding paths are located."""
        file, doc = self.file, self.document
        if in_task_definition:
            if self.task_definition_file is None:
                path = ("spec", "taskDefinition", *path)
            else:
                file, doc = self.task_definition_file, self.task_definition_document
        if doc is None:
            return file, self.line if file == self.file else 1, 1
        mark = doc.locate(path)
        return file, mark.line, mark.col


@dataclass(slots=True)
class LoadResult:
    loaded: list[Loaded] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    rejected: dict[ResourceKey, str] = field(default_factory=dict)
    """Identified but invalid resources, and the file that holds each."""
    complete: bool = True
    files: int = 0
    notifications: EcsGitopsNotifications | None = None
    """The source's valid EcsGitopsNotifications document, if it has one."""
    notifications_file: str | None = None
    """The file of the notifications document, valid or not."""

    @property
    def notifications_invalid(self) -> bool:
        """A notifications document exists but is invalid: keep the previous configuration."""
        return any(key.kind == NOTIFICATIONS_KIND for key in self.rejected)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def resources(self) -> list[Resource]:
        return [item.resource for item in self.loaded]


def decode(data: bytes) -> str:
    """UTF-8 text (a BOM is allowed); ParseError at the first byte that is not UTF-8."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ParseError(
            "file is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start
        line = data.count(b"\n", 0, offset) + 1
        col = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        raise ParseError(f"file is not UTF-8 text (byte 0x{data[offset]:02x})", line, col) from None


def parse(path: str, data: bytes) -> list[Document]:
    text = decode(data)
    if "\x00" in text:
        raise ParseError(
            "file contains NUL bytes; is it binary?", *_line_col(text, text.index("\x00"))
        )
    if path.lower().endswith(".json"):
        return parse_json(text)
    return parse_yaml(text)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


class _Loader:
    def __init__(self, tree: FileTree) -> None:
        self.tree = tree
        self.result = LoadResult()
        self.parsed: dict[str, list[Document] | ParseError | SourceFileError] = {}
        self.task_definitions: dict[str, TaskDefinitionInput | None] = {}
        self.reported: set[Diagnostic] = set()
        self.notification_keys: list[ResourceKey] = []

    def show(self, path: str) -> str:
        root = self.tree.display_root
        return posixpath.join(root, path) if root else path

    def report(
        self, file: str, line: int, col: int, message: str, severity: checks.Severity = "error"
    ) -> None:
        diag = Diagnostic(self.show(file), line, col, message, severity)
        if diag not in self.reported:
            self.reported.add(diag)
            self.result.diagnostics.append(diag)

    def documents(self, path: str) -> list[Document] | ParseError | SourceFileError:
        if path not in self.parsed:
            try:
                self.parsed[path] = parse(path, self.tree.read(path))
            except (ParseError, SourceFileError) as exc:
                self.parsed[path] = exc
        return self.parsed[path]

    def run(self) -> LoadResult:
        paths = self.tree.manifest_paths()
        for path, message in self.tree.listing_problems():
            self.report(path, 1, 1, message)
            self.result.complete = False
        for path in paths:
            self.result.files += 1
            docs = self.documents(path)
            if isinstance(docs, ParseError):
                self.report(path, docs.line, docs.col, docs.message)
                self.result.complete = False
                continue
            if isinstance(docs, SourceFileError):
                self.report(path, 1, 1, docs.message)
                self.result.complete = False
                continue
            for doc in docs:
                self.load_document(path, doc)
        self.check_duplicates()
        self.check_references()
        self.result.diagnostics.sort(key=lambda d: (d.file, d.line, d.col, d.message))
        return self.result

    def load_document(self, path: str, doc: Document) -> None:
        data = doc.data
        if not isinstance(data, dict):
            return
        api_version = data.get("apiVersion")
        kind = data.get("kind")
        if not isinstance(api_version, str):
            if api_version is None and isinstance(kind, str) and kind in KINDS:
                mark = doc.locate(("kind",))
                self.report(
                    path,
                    mark.line,
                    mark.col,
                    f"kind {kind} without apiVersion is ignored: add `apiVersion: {API_GROUP}/v1alpha1`",
                    "warning",
                )
            return
        group, _, version = api_version.rpartition("/")
        if group != API_GROUP:
            return
        key = _identify(data)
        if version not in VERSIONS:
            mark = doc.locate(("apiVersion",))
            supported = ", ".join(f"{API_GROUP}/{v}" for v in VERSIONS)
            self.reject(
                path,
                mark.line,
                mark.col,
                f"unknown apiVersion {api_version!r} (supported: {supported})",
                key,
            )
            return
        if kind == NOTIFICATIONS_KIND:
            self.load_notifications(path, doc, key)
            return
        model = KINDS.get(kind) if isinstance(kind, str) else None
        if model is None:
            mark = doc.locate(("kind",))
            known = ", ".join([*KINDS, NOTIFICATIONS_KIND])
            if kind is None:
                self.reject(path, mark.line, mark.col, f"missing kind (one of {known})", key)
                return
            hint = suggest(kind, [*KINDS, NOTIFICATIONS_KIND]) if isinstance(kind, str) else ""
            self.reject(
                path,
                mark.line,
                mark.col,
                f"unknown kind {kind!r} in {API_GROUP}{hint} (known: {known})",
                key,
            )
            return
        try:
            resource = model.model_validate(data)
        except ValidationError as exc:
            for diag in from_validation(exc, doc, self.show(path), model):
                if diag not in self.reported:
                    self.reported.add(diag)
                    self.result.diagnostics.append(diag)
            self.result.rejected[key] = self.show(path)
            return
        self.accept(path, doc, resource)

    def load_notifications(self, path: str, doc: Document, key: ResourceKey) -> None:
        """The one EcsGitopsNotifications document of the source (a second is an error)."""
        key = ResourceKey(NOTIFICATIONS_KIND, "", "", key.name)
        shown = self.show(path)
        try:
            config = EcsGitopsNotifications.model_validate(doc.data)
        except ValidationError as exc:
            for diag in from_validation(exc, doc, shown, EcsGitopsNotifications):
                if diag not in self.reported:
                    self.reported.add(diag)
                    self.result.diagnostics.append(diag)
            config = None
        previous = self.result.notifications_file
        self.result.notifications_file = shown
        if previous is not None:
            self.report(
                path,
                doc.start.line,
                1,
                f"a second {NOTIFICATIONS_KIND} document: a source holds at most one (the other is in {previous}); neither is used",
            )
            self.result.notifications = None
            config = None
            for first in self.notification_keys:
                self.result.rejected[first] = previous
        self.notification_keys.append(key)
        if config is None:
            self.result.rejected[key] = shown
        elif previous is None:
            self.result.notifications = config

    def check_references(self) -> None:
        """dependsOn and hooks name resources of the source; no dependsOn cycles."""
        problems, bad = check_references(self.result.loaded, self.result.rejected)
        if not problems and not bad:
            return
        raw = {self.show(p): p for p in self.parsed}
        for problem in problems:
            item = problem.item
            docs = self.parsed.get(raw.get(item.file, ""))
            doc = (
                next((d for d in docs if d.start.line == item.line), None)
                if isinstance(docs, list)
                else None
            )
            mark = doc.locate(problem.path) if doc is not None else None
            diag = Diagnostic(
                item.file,
                mark.line if mark else item.line,
                mark.col if mark else 1,
                problem.message,
            )
            if diag not in self.reported:
                self.reported.add(diag)
                self.result.diagnostics.append(diag)
        for item in [i for i in self.result.loaded if i.key in bad]:
            self.result.rejected[item.key] = item.file
        self.result.loaded = [i for i in self.result.loaded if i.key not in bad]

    def reject(self, path: str, line: int, col: int, message: str, key: ResourceKey) -> None:
        self.report(path, line, col, message)
        self.result.rejected[key] = self.show(path)

    def accept(self, path: str, doc: Document, resource: Resource) -> None:
        td_file: str | None = None
        findings: list[checks.Finding]
        if isinstance(resource, EcsCluster):
            findings = checks.check_cluster(resource)
        else:
            resolved = self.resolve_task_definition(path, doc, resource)
            if resolved is None:
                self.result.rejected[resource_key(resource)] = self.show(path)
                return
            td, td_file = resolved
            resource = resource.model_copy(
                update={"spec": resource.spec.model_copy(update={"task_definition": td})}
            )
            assert isinstance(resource, EcsService | EcsTask)
            findings = (
                checks.check_service(resource, td)
                if isinstance(resource, EcsService)
                else checks.check_task(resource, td)
            )
        failed = False
        for finding in findings:
            file, fdoc, fpath = path, doc, finding.path
            if finding.in_task_definition:
                if td_file is None:
                    fpath = ("spec", "taskDefinition", *finding.path)
                else:
                    td_docs = self.documents(td_file)
                    assert isinstance(td_docs, list)
                    file, fdoc = td_file, td_docs[0]
            mark = fdoc.locate(fpath)
            self.report(file, mark.line, mark.col, finding.message, finding.severity)
            failed = failed or finding.severity == "error"
        if failed:
            self.result.rejected[resource_key(resource)] = self.show(path)
            return
        td_doc: Document | None = None
        if td_file is not None:
            td_docs = self.documents(td_file)
            td_doc = (
                next((d for d in td_docs if d.data is not None), None)
                if isinstance(td_docs, list)
                else None
            )
        self.result.loaded.append(
            Loaded(
                resource,
                self.show(path),
                doc.start.line,
                td_file and self.show(td_file),
                doc,
                td_doc,
            )
        )

    def resolve_task_definition(
        self, path: str, doc: Document, resource: EcsService | EcsTask
    ) -> tuple[TaskDefinitionInput, str | None] | None:
        ref = resource.spec.task_definition
        if not isinstance(ref, str):
            return ref, None
        field_path: Path = ("spec", "taskDefinition")
        mark = doc.locate(field_path)
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), ref))
        if posixpath.isabs(ref) or target == ".." or target.startswith("../"):
            self.report(
                path,
                mark.line,
                mark.col,
                f"spec.taskDefinition: {ref!r} leaves the source tree; task definitions must live inside it",
            )
            return None
        if target in self.task_definitions:
            td = self.task_definitions[target]
            if td is None:
                self.report(
                    path,
                    mark.line,
                    mark.col,
                    f"spec.taskDefinition: {ref!r} is not a valid task definition (see {self.show(target)})",
                )
            return (td, target) if td is not None else None
        td = self.load_task_definition(path, mark.line, mark.col, ref, target)
        self.task_definitions[target] = td
        return (td, target) if td is not None else None

    def load_task_definition(
        self, path: str, line: int, col: int, ref: str, target: str
    ) -> TaskDefinitionInput | None:
        docs = self.documents(target)
        if isinstance(docs, SourceFileError):
            self.report(path, line, col, f"spec.taskDefinition: cannot use {ref!r}: {docs.message}")
            return None
        if isinstance(docs, ParseError):
            self.report(target, docs.line, docs.col, docs.message)
            self.report(
                path,
                line,
                col,
                f"spec.taskDefinition: {ref!r} is not a valid task definition (see {self.show(target)})",
            )
            return None
        real = [d for d in docs if d.data is not None]
        if len(real) != 1 or not isinstance(real[0].data, dict):
            where = (
                real[1].start
                if len(real) > 1
                else (real[0].start if real else docs[0].start if docs else None)
            )
            what = "holds several documents" if len(real) > 1 else "is not a mapping"
            self.report(
                target,
                where.line if where else 1,
                where.col if where else 1,
                f"a task definition file must hold one mapping (register-task-definition's JSON); this one {what}",
            )
            self.report(
                path,
                line,
                col,
                f"spec.taskDefinition: {ref!r} is not a valid task definition (see {self.show(target)})",
            )
            return None
        td_doc = real[0]
        wrapped = td_doc.data.get("taskDefinition")
        if isinstance(wrapped, dict) and "containerDefinitions" not in td_doc.data:
            at = td_doc.locate(("taskDefinition",), key=True)
            self.report(
                target,
                at.line,
                at.col,
                "this is `aws ecs describe-task-definition` output: register-task-definition takes "
                "the object under 'taskDefinition', without the fields ECS sets (taskDefinitionArn, "
                "revision, status, ...)",
            )
            self.report(
                path,
                line,
                col,
                f"spec.taskDefinition: {ref!r} is not a valid task definition (see {self.show(target)})",
            )
            return None
        if "apiVersion" in td_doc.data:
            self.report(
                path,
                line,
                col,
                f"spec.taskDefinition: {ref!r} is an ecs-gitops resource, not a task definition",
            )
            return None
        try:
            return TaskDefinitionInput.model_validate(td_doc.data)
        except ValidationError as exc:
            for diag in from_validation(exc, td_doc, self.show(target), TaskDefinitionInput):
                if diag not in self.reported:
                    self.reported.add(diag)
                    self.result.diagnostics.append(diag)
            self.report(
                path,
                line,
                col,
                f"spec.taskDefinition: {ref!r} is not a valid task definition (see {self.show(target)})",
            )
            return None

    def check_duplicates(self) -> None:
        first: dict[ResourceKey, Loaded] = {}
        duplicated: dict[ResourceKey, str] = {}
        for item in self.result.loaded:
            key = item.key
            if key in first:
                other = first[key]
                self.result.diagnostics.append(
                    Diagnostic(
                        item.file,
                        item.line,
                        1,
                        f"duplicate {key}: also defined at {other.file}:{other.line}",
                    )
                )
                self.result.diagnostics.append(
                    Diagnostic(
                        other.file,
                        other.line,
                        1,
                        f"duplicate {key}: also defined at {item.file}:{item.line}",
                    )
                )
                duplicated[key] = item.file
            else:
                first[key] = item
        if duplicated:
            # Neither copy is applied: which one the user meant is not ours to guess.
            self.result.loaded = [i for i in self.result.loaded if i.key not in duplicated]
            self.result.rejected |= duplicated


def _identify(data: dict[str, Any]) -> ResourceKey:
    meta = data.get("metadata")
    spec = data.get("spec")
    name = meta.get("name") if isinstance(meta, dict) else None
    kind = data.get("kind")
    region = spec.get("region") if isinstance(spec, dict) else None
    cluster = (
        spec.get("cluster", "default") if isinstance(spec, dict) and kind != "EcsCluster" else ""
    )
    return ResourceKey(str(kind), str(region or ""), str(cluster).rsplit("/", 1)[-1], str(name))


def load_tree(tree: FileTree) -> LoadResult:
    """Every resource of tree, and a diagnostic for each problem found."""
    return _Loader(tree).run()
