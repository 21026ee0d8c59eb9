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
EXIT_INTERRUPTED = 130  # Ctrl-C


class EsS3SnapshotError(Exception):
    """Base of every expected failure; its message is one line meant for the user."""

    exit_code = EXIT_FAILED


class ConfigError(EsS3SnapshotError):
    """The configuration file or the command line is missing something or holds a bad value."""

    exit_code = EXIT_CONFIG


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


class Interrupted(EsS3SnapshotError):
    """Ctrl-C while waiting: the operation goes on in the cluster."""

    exit_code = EXIT_INTERRUPTED
