"""A loaded resource and where it was written: what later stages locate problems with."""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.api import Resource, ResourceKey, resource_key
from controller.loader.yamlpos import Origin, Path


@dataclass(frozen=True, slots=True)
class Loaded:
    """A valid resource and where it was written."""

    resource: Resource
    file: str
    line: int
    task_definition_file: str | None = None
    origin: Origin | None = field(default=None, compare=False, repr=False)
    """Where the document came from, kept so later stages can locate a field (locate);
    its parsed data is not kept: the resource holds what it says."""
    task_definition_origin: Origin | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> ResourceKey:
        return resource_key(self.resource)

    def locate(self, path: Path, *, in_task_definition: bool = False) -> tuple[str, int, int]:
        """(file, line, col) of a field: a path into the resource document, or, with
        in_task_definition, into the task definition (its own file, or spec.taskDefinition
        when inline), as checks.Finding paths are located."""
        file, origin = self.file, self.origin
        if in_task_definition:
            if self.task_definition_file is None:
                path = ("spec", "taskDefinition", *path)
            else:
                file, origin = self.task_definition_file, self.task_definition_origin
        if origin is None:
            return file, self.line if file == self.file else 1, 1
        mark = origin.locate(path)
        return file, mark.line, mark.col
