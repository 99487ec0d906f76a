"""Sources: where the desired state comes from.

`open_source` (opening.py) turns a --source value into a Source:

    PATH                                  a directory; inside a Git work tree it is read at
                                          the checkout's current branch, committed files only
    git+file:///abs/repo#ref=main&path=deploy/   a repository on this machine (checkout or bare)
    git+https://host/org/repo.git#ref=main&path=deploy/   a remote, cloned into the cache
    git+ssh://git@host/org/repo.git#ref=v1.2              (ref: branch, tag, refs/... or full SHA)
    s3://bucket/prefix/#region=eu-west-1  objects a CI pipeline uploaded, with a `.revision`
                                          marker written last (open_source needs an
                                          object store factory from controller.aws.s3)

base.py    Artifact, the Source protocol, DirectorySource
opening.py open_source: the Source a --source value names
git.py     LocalGitSource, RemoteGitSource: name a commit, hand over its GitTree
gittree.py GitTree (one commit as a FileTree), built with ls-tree and cat-file --batch
gitcli.py  Git (the git CLI: timeouts, error kinds, redaction), remote credentials
directory.py  DirectoryTree, a plain directory as a FileTree
push.py       push webhooks: their signature checks (X-Hub-Signature-256)
budget.py  the revision budget every kind applies before it reads a revision
s3.py      S3Source (snapshots, markers, polling and events), open_s3
objects.py the ObjectStore / EventQueue protocols; ObjectTree, a snapshot as a FileTree
"""

from controller.sources.base import Artifact, DirectorySource, Source, redact_url
from controller.sources.git import LocalGitSource, RemoteGitSource
from controller.sources.gittree import GitTree
from controller.sources.objects import EventQueue, ObjectStore
from controller.sources.opening import open_source
from controller.sources.s3 import S3Source

__all__ = [
    "Artifact",
    "DirectorySource",
    "EventQueue",
    "GitTree",
    "LocalGitSource",
    "ObjectStore",
    "RemoteGitSource",
    "S3Source",
    "Source",
    "open_source",
    "redact_url",
]
