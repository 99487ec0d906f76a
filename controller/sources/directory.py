"""A plain directory as a FileTree.

Reads are confined to the root: a path is normalized before use, and a symlink is
followed only when its target stays inside the root, so a link to /etc/passwd or a
`../../` reference fails with an error naming the file instead of leaking data. Files
above MAX_FILE_BYTES are refused by size before any byte is read, and so is a tree whose
manifests go over the revision budget (`check_budget`); a file outside the listing is
charged to what is left of it.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

from controller.api.files import MANIFEST_SUFFIXES, MAX_FILE_BYTES
from controller.errors import SourceFileError
from controller.sources.budget import MAX_REVISION_BYTES, Allowance, check_revision_bytes, mib


class DirectoryTree:
    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        only: list[str] | None = None,
        display_root: str | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_revision_bytes: int = MAX_REVISION_BYTES,
    ) -> None:
        self.root = Path(root)
        self._real_root = self.root.resolve()
        self._only = only
        self._display_root = str(root) if display_root is None else display_root
        self._max = max_file_bytes
        self._budget = max_revision_bytes
        self._allowance = Allowance(max_revision_bytes)
        self._listed: set[str] = set()
        self._problems: list[tuple[str, str]] = []

    @property
    def display_root(self) -> str:
        return self._display_root

    def manifest_paths(self) -> list[str]:
        self._problems = []
        if self._only is not None:
            self._listed = set(self._only)
            return sorted(self._only)
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            rel_dir = os.path.relpath(dirpath, self.root)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for d in list(dirnames):
                full = os.path.join(dirpath, d)
                if os.path.islink(full) and not self._inside(full):
                    self._problems.append(
                        (_join(rel_dir, d), "symlink points outside the source tree; ignored")
                    )
            for name in filenames:
                if name.startswith(".") or not name.lower().endswith(MANIFEST_SUFFIXES):
                    continue
                found.append(_join(rel_dir, name))
        self._listed = set(found)
        return sorted(found)

    def check_budget(self, paths: list[str]) -> None:
        """SourceError when the regular files among paths (within the per-file limit)
        add up to more than the revision budget; their bytes are charged to it."""
        total = 0
        for rel in paths:
            try:
                info = (self.root / rel).stat()
            except OSError:
                continue  # read() will say why
            if stat.S_ISREG(info.st_mode) and info.st_size <= self._max:
                total += info.st_size
        check_revision_bytes(self._display_root or ".", total, self._budget)
        self._allowance = Allowance(self._budget - total)

    def listing_problems(self) -> list[tuple[str, str]]:
        return list(self._problems)

    def read(self, path: str) -> bytes:
        rel = posixpath.normpath(path)
        if rel.startswith("../") or rel == ".." or posixpath.isabs(rel):
            raise SourceFileError(path, "path leaves the source tree")
        full = self.root / rel
        if not self._inside(full):
            raise SourceFileError(rel, "symlink points outside the source tree")
        try:
            info = full.stat()
        except FileNotFoundError:
            raise SourceFileError(rel, "no such file") from None
        except OSError as exc:
            raise SourceFileError(rel, f"cannot read: {exc.strerror}") from None
        if not stat.S_ISREG(info.st_mode):
            raise SourceFileError(rel, "not a regular file")
        if info.st_size > self._max:
            raise SourceFileError(
                rel, f"file is {mib(info.st_size)}, larger than the {mib(self._max)} limit"
            )
        if rel not in self._listed:
            self._allowance.charge(rel, info.st_size)
        try:
            with open(full, "rb") as fh:
                # sized by the stat (a read of the limit allocates the limit, 4 MiB a
                # file), then to the limit should the file have grown since
                data = fh.read(info.st_size + 1)
                if len(data) > info.st_size:
                    data += fh.read(self._max + 1 - len(data))
        except OSError as exc:
            raise SourceFileError(rel, f"cannot read: {exc.strerror}") from None
        if len(data) > self._max:
            raise SourceFileError(rel, f"file is larger than the {mib(self._max)} limit")
        return data

    def release(self) -> None:
        """Nothing to let go of: files are read from the disk when asked for."""

    def _inside(self, path: str | Path) -> bool:
        real = Path(os.path.realpath(path))
        return real == self._real_root or self._real_root in real.parents


def _join(rel_dir: str, name: str) -> str:
    return name if rel_dir == "." else posixpath.join(Path(rel_dir).as_posix(), name)


def open_path(path: str, max_revision_bytes: int = MAX_REVISION_BYTES) -> DirectoryTree:
    """A tree for a command-line PATH: a directory, or one file read within its folder."""
    p = Path(path)
    if p.is_dir():
        return DirectoryTree(p, display_root=path, max_revision_bytes=max_revision_bytes)
    parent = p.parent
    return DirectoryTree(
        parent,
        only=[p.name],
        display_root=str(parent) if str(parent) != "." else "",
        max_revision_bytes=max_revision_bytes,
    )
