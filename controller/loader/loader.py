"""Load a FileTree into resources: parse, identify, resolve, validate, check.

Every file is handled on its own, so one broken file costs only its own resources. A
document that fails is still identified where possible (kind, cluster, name) and listed
in `rejected`, and `complete` is False when any file could not be read at all: later
stages must neither apply nor prune what they cannot see (an invalid or unreadable
source never deletes anything).

A document is ours when its apiVersion is in the ecs-gitops.dev group. One that was
plainly meant to be (a kind of ours under another or no apiVersion, or a group one typo
away from ours) is an error, not a foreign document: ignoring it would make its service
"leave the source". Every other document that does not load still counts as naming what
its metadata.name (and spec.cluster) say: `names` answers whether a revision still
mentions a service in any form, and prune never deletes what it does. A check that
raises (a bug of ours) becomes an internal error on its document alone.
"""

from __future__ import annotations

import codecs
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError

from controller.api import (
    API_GROUP,
    API_VERSION,
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
from controller.errors import ParseError, SourceFileError, bug_message
from controller.loader import checks
from controller.loader.diagnostics import Diagnostic, close_match, from_validation, suggest
from controller.loader.loaded import Loaded
from controller.loader.references import check_references
from controller.loader.yamlpos import Document, Origin, Path, Positions, parse_json, parse_yaml

log = structlog.get_logger(__name__)

OUR_KINDS = (*KINDS, NOTIFICATIONS_KIND)


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
    mentions: dict[str, list[tuple[str | None, str]]] = field(default_factory=dict)
    """name -> (cluster or None when the document names none, "file:line") of every
    document that names something but did not load: foreign, invalid or unidentifiable."""

    def names(self, key: ResourceKey) -> str | None:
        """Where this revision still names key's resource, valid, invalid or in a form
        that is not ours ("file" or "file:line"); None when it is gone from the source.
        A region is not compared: a mention is enough to keep a service."""
        for item in self.loaded:
            if item.key == key:
                return f"{item.file}:{item.line}"
        if key in self.rejected:
            return self.rejected[key]
        for cluster, where in self.mentions.get(key.name, ()):
            if cluster is None or cluster == key.cluster:
                return where
        return None

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
        self.task_definitions: dict[str, tuple[TaskDefinitionInput, Origin] | None] = {}
        """Each task definition file once, by path: the model and where it was written."""
        self.reported: set[Diagnostic] = set()
        self.notification_keys: list[ResourceKey] = []

    def show(self, path: str) -> str:
        root = self.tree.display_root
        return posixpath.join(root, path) if root else path

    def report(
        self, file: str, line: int, col: int, message: str, severity: checks.Severity = "error"
    ) -> None:
        self.add(Diagnostic(self.show(file), line, col, message, severity))

    def add(self, *diags: Diagnostic) -> None:
        """Record diagnostics once each: one problem reached by two paths (a shared task
        definition file, a reference checked from both ends) is reported once."""
        for diag in diags:
            if diag not in self.reported:
                self.reported.add(diag)
                self.result.diagnostics.append(diag)

    def documents(self, path: str) -> list[Document] | ParseError | SourceFileError:
        """The documents of path, parsed anew: nothing parsed outlives its use, so a load
        holds one file's documents at a time, next to the models of what loaded."""
        try:
            return parse(path, self.tree.read(path))
        except (ParseError, SourceFileError) as exc:
            return exc

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
                loaded = len(self.result.loaded)
                try:
                    self.load_document(path, doc)
                except Exception as exc:  # a bug of ours: this document only
                    self.internal_error(path, doc, "the loader", exc)
                if len(self.result.loaded) == loaded:
                    self.mention(path, doc)
        self.check_duplicates()
        self.check_references()
        self.result.diagnostics.sort(key=lambda d: (d.file, d.line, d.col, d.message))
        return self.result

    def internal_error(self, path: str, doc: Document, where: str, exc: Exception) -> None:
        """An exception from our own code while loading doc: an error on it alone."""
        message = _internal_error(where, exc, self.show(path))
        if isinstance(doc.data, dict):
            self.reject(path, doc.start.line, doc.start.col, message, _identify(doc.data))
        else:
            self.report(path, doc.start.line, doc.start.col, message)

    def mention(self, path: str, doc: Document) -> None:
        """Record what a document that did not load names (see LoadResult.names)."""
        data = doc.data
        meta = data.get("metadata") if isinstance(data, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str):
            return
        spec = data.get("spec")
        cluster = spec.get("cluster") if isinstance(spec, dict) else None
        where = f"{self.show(path)}:{doc.start.line}"
        named = cluster.rsplit("/", 1)[-1] if isinstance(cluster, str) else None
        self.result.mentions.setdefault(name, []).append((named, where))

    def load_document(self, path: str, doc: Document) -> None:
        data = doc.data
        if not isinstance(data, dict):
            return
        api_version = data.get("apiVersion")
        kind = data.get("kind")
        if not isinstance(api_version, str) or api_version.rpartition("/")[0] != API_GROUP:
            mistake = _meant_to_be_ours(api_version, kind)
            if mistake is not None:
                mark = doc.locate(("apiVersion",) if "apiVersion" in data else ("kind",))
                self.reject(path, mark.line, mark.col, mistake, _identify(data))
            return
        key = _identify(data)
        version = api_version.rpartition("/")[2]
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
            self.add(*from_validation(exc, doc, self.show(path), model))
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
            self.add(*from_validation(exc, doc, shown, EcsGitopsNotifications))
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
        try:
            problems, bad = check_references(self.result.loaded, self.result.rejected)
        except Exception as exc:  # a bug of ours: only the resources it checks are held back
            message = _internal_error("check check_references", exc)
            problems, bad = [], set()
            for item in self.result.loaded:
                if _has_references(item.resource):
                    self.result.diagnostics.append(Diagnostic(item.file, item.line, 1, message))
                    bad.add(item.key)
        if not problems and not bad:
            return
        self.add(*(Diagnostic(*p.item.locate(p.path), p.message) for p in problems))
        for item in [i for i in self.result.loaded if i.key in bad]:
            self.result.rejected[item.key] = item.file
        self.result.loaded = [i for i in self.result.loaded if i.key not in bad]

    def reject(self, path: str, line: int, col: int, message: str, key: ResourceKey) -> None:
        self.report(path, line, col, message)
        self.result.rejected[key] = self.show(path)

    def accept(self, path: str, doc: Document, resource: Resource) -> None:
        td_file: str | None = None
        td_origin: Origin | None = None
        findings: list[checks.Finding] | None
        if isinstance(resource, EcsCluster):
            findings = self.run_check(path, doc, checks.check_cluster, resource)
        else:
            resolved = self.resolve_task_definition(path, doc, resource)
            if resolved is None:
                self.result.rejected[resource_key(resource)] = self.show(path)
                return
            td, td_file, td_origin = resolved
            resource = resource.model_copy(
                update={"spec": resource.spec.model_copy(update={"task_definition": td})}
            )
            assert isinstance(resource, EcsService | EcsTask)
            findings = (
                self.run_check(path, doc, checks.check_service, resource, td)
                if isinstance(resource, EcsService)
                else self.run_check(path, doc, checks.check_task, resource, td)
            )
        if findings is None:
            return
        failed = False
        td_positions: Positions | None = None  # parsed again at the first finding in it
        for finding in findings:
            if not finding.in_task_definition:
                file, mark = path, doc.locate(finding.path)
            elif td_file is None or td_origin is None:
                file, mark = path, doc.locate(("spec", "taskDefinition", *finding.path))
            else:
                td_positions = td_positions or td_origin.positions()
                file, mark = td_file, td_positions.locate(finding.path)
            self.report(file, mark.line, mark.col, finding.message, finding.severity)
            failed = failed or finding.severity == "error"
        if failed:
            self.result.rejected[resource_key(resource)] = self.show(path)
            return
        self.result.loaded.append(
            Loaded(
                resource,
                self.show(path),
                doc.start.line,
                td_file and self.show(td_file),
                doc.origin,
                td_origin,
            )
        )

    def run_check(
        self, path: str, doc: Document, check: Callable[..., list[checks.Finding]], *args: Any
    ) -> list[checks.Finding] | None:
        """check's findings; None (the document rejected) when the check itself failed."""
        try:
            return check(*args)
        except Exception as exc:  # a bug of ours: an internal error on this resource alone
            self.internal_error(path, doc, f"check {check.__name__}", exc)
            return None

    def resolve_task_definition(
        self, path: str, doc: Document, resource: EcsService | EcsTask
    ) -> tuple[TaskDefinitionInput, str | None, Origin | None] | None:
        """The task definition of resource, with its file and origin when it names one."""
        ref = resource.spec.task_definition
        if not isinstance(ref, str):
            return ref, None, None
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
            known = self.task_definitions[target]
            if known is None:
                self.invalid_reference(path, mark.line, mark.col, ref, target)
        else:
            known = self.load_task_definition(path, mark.line, mark.col, ref, target)
            self.task_definitions[target] = known
        return (known[0], target, known[1]) if known is not None else None

    def invalid_reference(self, path: str, line: int, col: int, ref: str, target: str) -> None:
        """The service's side of a task definition file's problem, reported in that file."""
        self.report(
            path,
            line,
            col,
            f"spec.taskDefinition: {ref!r} is not a valid task definition (see {self.show(target)})",
        )

    def load_task_definition(
        self, path: str, line: int, col: int, ref: str, target: str
    ) -> tuple[TaskDefinitionInput, Origin] | None:
        docs = self.documents(target)
        if isinstance(docs, SourceFileError):
            self.report(path, line, col, f"spec.taskDefinition: cannot use {ref!r}: {docs.message}")
            return None
        if isinstance(docs, ParseError):
            self.report(target, docs.line, docs.col, docs.message)
            self.invalid_reference(path, line, col, ref, target)
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
            self.invalid_reference(path, line, col, ref, target)
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
            self.invalid_reference(path, line, col, ref, target)
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
            return TaskDefinitionInput.model_validate(td_doc.data), td_doc.origin
        except ValidationError as exc:
            self.add(*from_validation(exc, td_doc, self.show(target), TaskDefinitionInput))
            self.invalid_reference(path, line, col, ref, target)
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


def _internal_error(where: str, exc: Exception, file: str | None = None) -> str:
    """The message of an exception raised by our own code, logged with its traceback."""
    log.error("loader_internal_error", where=where, file=file, exc_info=exc)
    return bug_message(exc, where)


def _has_references(resource: Resource) -> bool:
    """What check_references looks at: a service's dependsOn and hooks, and every task."""
    if isinstance(resource, EcsService):
        hooks = resource.spec.hooks
        return bool(resource.spec.depends_on or hooks.pre_sync or hooks.post_sync)
    return isinstance(resource, EcsTask)


def _meant_to_be_ours(api_version: object, kind: object) -> str | None:
    """Why a document outside our group was meant to be ours (its kind is one of ours,
    or its apiVersion is a typo of ours), or None for a foreign document (Kubernetes
    manifests, files without apiVersion)."""
    ours = isinstance(kind, str) and kind in OUR_KINDS
    if api_version is None:
        return f"kind {kind} needs `apiVersion: {API_VERSION}`" if ours else None
    if not isinstance(api_version, str):
        return f"apiVersion must be {API_VERSION!r}, got {api_version!r}" if ours else None
    group, slash, version = api_version.rpartition("/")
    # "ecs-gitop.dev/v1alpha1" or, without a version, "ecs-gitops.dev"
    typo = close_match(group if slash else api_version, [API_GROUP]) is not None
    if not ours and not typo:
        return None
    meant = f"{API_GROUP}/{version}" if version in VERSIONS else API_VERSION
    why = f"{kind} is an {API_GROUP} kind; " if ours and not typo else ""
    return f"unknown apiVersion {api_version!r} ({why}did you mean {meant!r}?)"


def load_tree(tree: FileTree) -> LoadResult:
    """Every resource of tree, and a diagnostic for each problem found."""
    return _Loader(tree).run()
