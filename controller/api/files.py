"""The file-set boundary between sources and the loader.

A source (a directory, a Git commit, an S3 snapshot) presents its files as a FileTree:
relative POSIX paths, reads confined to the tree. The loader never touches the disk.
"""

from __future__ import annotations

from typing import Protocol

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 4 * 1024 * 1024


class FileTree(Protocol):
    @property
    def display_root(self) -> str:
        """Prefix for messages, so a path reads like what the user typed ("" for none)."""
        ...

    def manifest_paths(self) -> list[str]:
        """Sorted relative paths of the candidate manifests (*.yaml, *.yml, *.json)."""
        ...

    def listing_problems(self) -> list[tuple[str, str]]:
        """(path, message) for entries that could not be listed safely (e.g. symlinks out)."""
        ...

    def read(self, path: str) -> bytes:
        """The bytes of a normalized relative path; SourceFileError when missing,
        too large, not a regular file, or outside the tree."""
        ...

    def release(self) -> None:
        """Let go of the file contents held in memory (the revision is loaded); a later
        read() gets the same contents again, or raises SourceError when it cannot."""
        ...
