"""Every error ecs-gitops raises, in one tree.

    EcsGitopsError
    ├── UsageError               bad options or arguments (CLI exit 2)
    ├── ManifestError            desired state that cannot be used; carries diagnostics
    │   └── ParseError           a file that is not valid YAML/JSON (has a line and column)
    └── SourceError              a source that cannot be read
        └── SourceFileError      one file of a source: missing, too large, outside the tree

The AWS and reconcile branches join this tree with the engine. Callers catch the
narrowest class that they can act on; CancelledError is never caught as one of these.
"""

from __future__ import annotations


class EcsGitopsError(Exception):
    """The root of every error raised on purpose by ecs-gitops."""


class UsageError(EcsGitopsError):
    """The command line or configuration is wrong; nothing was attempted."""


class ManifestError(EcsGitopsError):
    """The desired state cannot be used as given."""


class ParseError(ManifestError):
    """A file is not valid YAML or JSON, or exceeds a structural limit."""

    def __init__(self, message: str, line: int = 1, col: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


class SourceError(EcsGitopsError):
    """A source (directory, Git, S3) cannot be read."""


class SourceFileError(SourceError):
    """One file of a source cannot be read: missing, too large, or outside the tree."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
