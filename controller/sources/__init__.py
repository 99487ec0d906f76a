"""Sources: where the desired state comes from.

`open_source` (base.py) turns a --source value into a Source:

    PATH                                  a directory; inside a Git work tree it is read at
                                          the checkout's current branch, committed files only
    git+file:///abs/repo#ref=main&path=deploy/   a repository on this machine (checkout or bare)
    git+https://host/org/repo.git#ref=main&path=deploy/   a remote, cloned into the cache
    git+ssh://git@host/org/repo.git#ref=v1.2              (ref: branch, tag, refs/... or full SHA)
    s3://bucket/prefix/                   not supported yet

base.py    Artifact, the Source protocol, DirectorySource, open_source
git.py     GitTree (one commit as a FileTree), LocalGitSource, RemoteGitSource
directory.py  DirectoryTree, a plain directory as a FileTree
webhook.py    push-webhook signature checks (X-Hub-Signature-256)
"""

from controller.sources.base import Artifact, DirectorySource, Source, open_source, redact_url
from controller.sources.git import GitTree, LocalGitSource, RemoteGitSource

__all__ = [
    "Artifact",
    "DirectorySource",
    "GitTree",
    "LocalGitSource",
    "RemoteGitSource",
    "Source",
    "open_source",
    "redact_url",
]
