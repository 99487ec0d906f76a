"""The revision budget: how many bytes of files one revision may hold in memory.

Every source kind reads a revision's manifests into memory before the loader parses them,
and the loaded models take several times their bytes, in a controller that runs in
1 GiB and holds the current revision while it loads the next. So one budget, the same for
a directory, a Git commit and an S3 snapshot: sizes
come from the listing (stat, ls-tree, ListObjectsV2), the total is checked before a byte
is read, and a revision over it is refused as a whole with a SourceError. The source then
keeps no new revision, so nothing of it is applied and nothing is pruned. A file the
loader asks for later (a task definition not named *.json) is charged to what is left.
"""

from __future__ import annotations

from controller.errors import SourceError, SourceFileError

MAX_REVISION_BYTES = 32 * 1024 * 1024
"""The default budget; `--max-revision-bytes` / ECS_GITOPS_MAX_REVISION_BYTES change it.
What the 1 GiB task of manifests/ holds with room to spare (bench/revision_memory.py): a
revision of 32 MiB, every file changed, loads while the previous one is held in 482 MiB
peak RSS (24 MiB: 371 MiB; 16 MiB: 263 MiB)."""
_HOW = "raise --max-revision-bytes (ECS_GITOPS_MAX_REVISION_BYTES) and the task's memory with it"


def mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def check_revision_bytes(display: str, total: int, budget: int) -> None:
    """SourceError when a revision's files add up to more than budget bytes."""
    if total > budget:
        raise SourceError(
            f"{display}: the revision's manifests add up to {mib(total)} ({total} bytes), "
            f"more than the revision budget of {mib(budget)} ({budget} bytes); nothing of "
            f"it is applied: {_HOW}"
        )


class Allowance:
    """What is left of a revision's budget for files read after it was loaded."""

    def __init__(self, left: int) -> None:
        self.left = left

    def charge(self, path: str, size: int) -> None:
        """SourceFileError when size bytes more would go over the budget."""
        if size > self.left:
            raise SourceFileError(
                path, f"reading its {mib(size)} would go over the revision budget: {_HOW}"
            )
        self.left -= size
