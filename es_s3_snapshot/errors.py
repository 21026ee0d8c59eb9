"""One exception tree for everything the tool expects to go wrong.

Each class carries the exit code the command line returns for it; ``cli.main`` is the only place
that turns an exception into an exit code. Anything that is not an ``EsS3SnapshotError`` is a bug
and exits with ``EXIT_UNEXPECTED``.
"""

EXIT_OK = 0
EXIT_FAILED = 1  # the operation ran and failed: snapshot PARTIAL/FAILED, conflict, timeout, ...
EXIT_UNREACHABLE = 2  # a cluster could not be reached or refused the credentials
EXIT_CONFIG = 3  # usage or configuration error
EXIT_UNEXPECTED = 4  # a bug: the traceback is shown with -v
EXIT_BUSY = 75  # another run of the same config and mode holds the lock (EX_TEMPFAIL)
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); a signal ends the run with 128 + its number (SIGTERM 143, SIGHUP 129)


class EsS3SnapshotError(Exception):
    """Base of every expected failure; its message is one line meant for the user."""

    exit_code = EXIT_FAILED


class ConfigError(EsS3SnapshotError):
    """The configuration file or the command line is missing something or holds a bad value."""

    exit_code = EXIT_CONFIG


class UnsafeFile(ConfigError):
    """A file or directory the tool would create or write is not safely its own: a symbolic link,
    not a regular file, owned by another user, or in a directory others can change."""


class OperationFailed(EsS3SnapshotError):
    """The cluster answered, and what we asked for did not happen."""

    exit_code = EXIT_FAILED


class EngineError(OperationFailed):
    """An error answer from the engine that no caller turned into something more specific."""

    def __init__(self, message: str, *, status: int, error_type: str = "", reason: str = "", body=None):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.reason = reason
        self.body = body


class UnexpectedAnswer(OperationFailed):
    """The cluster (or something in front of it) answered what the API does not promise: HTML,
    broken JSON, an empty body."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


class RepositoryError(OperationFailed):
    """The snapshot repository could not be registered or verified."""


class SnapshotExists(OperationFailed):
    """A snapshot of that name is already in the repository: we never overwrite it."""


class SnapshotFailed(OperationFailed):
    """The snapshot finished PARTIAL, FAILED or ABORTED, or could not be started."""


class RestoreFailed(OperationFailed):
    """The restore was refused, or the restored indices did not recover."""


class IndexConflict(RestoreFailed):
    """Indices with the restored names exist on the destination and the policy forbids touching them."""


class WaitTimeout(OperationFailed):
    """The operation did not finish within the configured maximum wait; it goes on in the cluster."""


class ClusterUnreachable(EsS3SnapshotError):
    """No seed of a side answered (connection refused, DNS, timeout, TLS)."""

    exit_code = EXIT_UNREACHABLE


class AuthenticationFailed(EsS3SnapshotError):
    """The cluster refused our credentials or our signature (HTTP 401/403)."""

    exit_code = EXIT_UNREACHABLE


class Busy(EsS3SnapshotError):
    """Another run of the same config and mode holds the run lock."""

    exit_code = EXIT_BUSY


class Signalled(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised by the cli's handler so that they end a run the way Ctrl-C does."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_SIGNAL_WORDS = {2: "interrupted (SIGINT)", 15: "terminated (SIGTERM)", 1: "hung up (SIGHUP)"}


class Interrupted(EsS3SnapshotError):
    """Ctrl-C, SIGTERM or SIGHUP: the message says what goes on in the cluster and how to follow it."""

    def __init__(self, message: str, signum: int = 2):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum

    @classmethod
    def of(cls, err: BaseException, what: str) -> "Interrupted":
        """The Interrupted for a KeyboardInterrupt (or Signalled) ``err``; ``what`` says what goes on."""
        signum = getattr(err, "signum", 2)
        return cls(f"{_SIGNAL_WORDS.get(signum, f'signal {signum}')}: {what}", signum)


class StoreError(OperationFailed):
    """An object store of -m sync refused or failed an operation (missing bucket, a failed copy)."""


class StoreUnreachable(EsS3SnapshotError):
    """An object store of -m sync could not be reached, or refused our keys."""

    exit_code = EXIT_UNREACHABLE
