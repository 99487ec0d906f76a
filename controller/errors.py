"""Every error ecs-gitops raises, in one tree.

    EcsGitopsError
    ├── UsageError               bad options or arguments (CLI exit 2)
    │   └── SecretUnavailable    a configured secret cannot be read (both or neither set,
    │                            a missing or empty file): whatever needs it is refused
    ├── ManifestError            desired state that cannot be used; carries diagnostics
    │   └── ParseError           a file that is not valid YAML/JSON (has a line and column)
    ├── SourceError              a source that cannot be read
    │   ├── SourceFileError      one file of a source: missing, too large, outside the tree
    │   ├── SourceNotFound       the repository, ref or path named by the source does not exist
    │   ├── SourceAuthError      the remote refused our credentials (or we had none)
    │   ├── SourceNetworkError   the remote could not be reached, or git timed out -> retry
    │   └── SourceUnsupported    a source spec we cannot read (unknown scheme, bad s3:// spec)
    ├── AwsError                 an AWS call failed (service, operation, code)
    │   ├── AwsRetryable         transient: 5xx, timeouts, connection errors -> backoff
    │   │   └── AwsThrottled     the account's rate limit was hit -> slower backoff
    │   └── AwsTerminal          the request itself is wrong or denied -> Stalled
    │       └── AwsNotFound      the named resource does not exist
    └── ReconcileError           the desired state cannot be reached as it is
        ├── Conflict             a live resource exists that we do not manage
        ├── RolloutFailed        a rollout was rolled back or cannot proceed
        └── NotReady             something it needs (its cluster) is not there yet: retried

Retryable errors are retried by the work queue with per-key backoff; terminal ones stop
the resource (Stalled) until its input changes. botocore's ClientError is turned into
these in controller.aws only. CancelledError is never caught as one of these. Any other
exception is a bug of ours: where one is contained (a check of one document, the source
loop) it is shown as `bug_message` says.
"""

from __future__ import annotations


class EcsGitopsError(Exception):
    """The root of every error raised on purpose by ecs-gitops."""

    retryable: bool = False
    """Whether the same work may succeed later unchanged (retried with backoff) or not
    (terminal: Stalled until the input changes). Declared once, here; subclasses that are
    transient say True."""


class UsageError(EcsGitopsError):
    """The command line or configuration is wrong; nothing was attempted."""


class SecretUnavailable(UsageError):
    """A secret the operator configured cannot be read now: the one use of it is refused."""


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


class AwsError(EcsGitopsError):
    """An AWS API call failed."""

    def __init__(self, service: str, operation: str, code: str, message: str) -> None:
        super().__init__(f"{service}:{operation}: {code}: {message}")
        self.service = service
        self.operation = operation
        self.code = code
        self.message = message


class AwsRetryable(AwsError):
    """A transient failure (5xx, timeout, connection): the same call may succeed later."""

    retryable = True


class AwsThrottled(AwsRetryable):
    """The account's API rate limit was hit."""


class AwsTerminal(AwsError):
    """The request is invalid or denied; repeating it unchanged will not help."""


class AwsNotFound(AwsTerminal):
    """The named resource does not exist."""


class AwsUnavailable(AwsTerminal):
    """AWS cannot be used at all: no credentials, or the endpoint does not answer. A
    one-shot command says so before anything else, with what to do, and exits 2."""


class ReadOnlyRefused(AwsTerminal):
    """A mutating call made where AWS is read-only (a dry run, `diff`, `import`, selfHeal
    off): refused by the aws layer before it was sent. The reconcilers report what they
    would do instead, so reaching this is a bug, made loud rather than acted on."""


class ReconcileError(EcsGitopsError):
    """The desired state cannot be reached as it stands."""


class Conflict(ReconcileError):
    """A live resource with the desired identity exists but is not ours to change."""


class RolloutFailed(ReconcileError):
    """A rollout failed its health gates and was rolled back, or cannot proceed."""


class NotReady(ReconcileError):
    """A prerequisite (the cluster, say) does not exist yet; retried with backoff."""

    retryable = True


class SourceNotFound(SourceError):
    """The repository, the ref or the path inside it that a source names does not exist."""


class SourceAuthError(SourceError):
    """The remote refused access: missing, wrong or expired credentials."""


class SourceNetworkError(SourceError):
    """The remote could not be reached or did not answer in time; a later fetch may work."""

    retryable = True


class SourceUnsupported(SourceError):
    """The source spec is malformed or names a kind of source this version cannot read."""


def bug_message(exc: Exception, where: str = "") -> str:
    """How an exception that is not one of ours (a bug) reads in a status or diagnostic."""
    at = f" in {where}" if where else ""
    return f"internal error{at}: {type(exc).__name__}: {exc}; please report this bug"
