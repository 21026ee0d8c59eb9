"""The command line: arguments, logging, running a mode, and the one place errors become exit codes.

Exit codes (README, "Exit codes"):
  0  success
  1  the operation failed (snapshot PARTIAL/FAILED, conflict, timeout, repository problem)
  2  a cluster could not be reached or refused the credentials
  3  usage or configuration error
  4  unexpected error (a bug; -v shows the traceback)
  75 busy: another run of the same config and mode holds the lock
  130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 129 hung up (SIGHUP); a started snapshot or
      restore goes on in the cluster, and the last line says how to follow it
"""

from __future__ import annotations

# --help, --version and a usage error end in the parser: this module imports only what they need
# (argparse, the modes' names, the exit codes), and each function the rest when a mode runs.
import argparse
import os
import sys

from . import __version__
from .errors import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_UNEXPECTED,
    ConfigError,
    EsS3SnapshotError,
    Interrupted,
    Signalled,
    UnsafeFile,
)
from .modes import MODES, SIDE, TWO_SIDED

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing's import
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .config import Config, Overrides
    from .redact import Redactor

LOGGER = "es_s3_snapshot"
QUIET_LOGGERS = ("elastic_transport", "elasticsearch", "urllib3", "botocore", "boto3", "requests_aws4auth")

DESCRIPTION = """\
Push specified Elasticsearch/OpenSearch indices from a SOURCE cluster to a DESTINATION cluster
through a snapshot repository in S3, as set in the config file.

  backup   run on or near your SOURCE cluster: registers the repository, snapshots the
           configured indices into it and waits until the snapshot is finished.
  restore  run on or near your DESTINATION cluster: registers the same repository read-only,
           restores the indices and waits until they have recovered.
  list     the snapshots in the repository, newest first (--json; --on destination).
  prune    deletes this tool's old snapshots from the repository as [retention] says
           (--dry-run prints the plan); on the source only.
  check    pre-flight of a migration: both sides, the repository, every index's compatibility,
           disk and shards; changes nothing.
  migrate  one round of a migration (backup, sync when two stores are set, restore, lag);
           --final [--block-writes] is the cutover, then verify.
  verify   compares every index on both sides: counts, fields, aliases, primaries.
  drill    a restore test: restores the latest snapshot under new names (drill-*) on the
           destination (--on source), checks every copy answers, prints the time to restore,
           and deletes the copies again.
  sync     copies the repository from [source_store] to [destination_store] (two object stores,
           e.g. two clouds), only what is missing; no cluster is contacted.
  scrub    checks the repository straight from its store or directory, without any cluster:
           every blob each snapshot needs is there, whole and with a good checksum
           (--read-data also reads the data; --on destination: the synced copy).
"""

EPILOG = """\
config file: -c PATH, else $ES_S3_SNAPSHOT_CONFIG, else ./es-s3-snapshot.conf, else /etc/es-s3-snapshot.conf
exit codes: 0 ok, 1 operation failed, 2 cluster unreachable or credentials refused,
            3 usage or config error, 4 unexpected error, 75 busy (another run of the same
            config and mode holds the lock), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM),
            129 hung up (SIGHUP)
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits with our code for usage errors (3), not argparse's 2."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message}\n")


class _Once(argparse.Action):
    """Store an option's value, refusing an option given twice (argparse would keep the last)."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault("_given", set())
        if self.dest in given:
            parser.error(f"{option_string} given twice")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


def _nonempty(raw: str) -> str:
    if not raw.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return raw


def _percent(raw: str) -> float:
    """``10%`` or ``10`` -> 0.1; more than 0 and at most 100."""
    text = raw.strip().removesuffix("%").strip()
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a percentage such as 10%, not {raw!r}") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"must be more than 0% and at most 100%, not {raw!r}")
    return value / 100


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="es-s3-snapshot",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    required = parser.add_argument_group("required named arguments")
    required.add_argument(
        "-m",
        "--mode",
        required=True,
        choices=MODES,
        action=_Once,
        help="Mode of operation. Choose 'backup' on your SOURCE cluster. Choose 'restore' on your DESTINATION cluster. "
        "'list' and 'prune' work on the repository; check, migrate and verify on both clusters; sync on two stores.",
    )
    parser.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        action=_Once,
        type=_nonempty,
        help="the config file (see above for where it is looked for)",
    )
    parser.add_argument(
        "--snapshot",
        metavar="NAME",
        action=_Once,
        type=_nonempty,
        help="snapshot name (restore: a name or 'latest'; drill: default latest), overriding the config",
    )
    parser.add_argument(
        "--indices",
        metavar="A,B",
        action=_Once,
        type=_nonempty,
        help="comma-separated indices or patterns, overriding index_names",
    )
    parser.add_argument(
        "--existing",
        action=_Once,
        choices=("refuse", "close", "rename", "delete"),
        help="restore: what to do with existing indices of the same names (default: refuse)",
    )
    parser.add_argument(
        "--confirm-delete", action="store_true", help="restore: allow --existing delete to delete the existing indices"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="connect and validate, print every request that would change something, change nothing",
    )
    parser.add_argument(
        "--delete", action="store_true", help="sync: delete destination objects the source no longer has"
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="start the snapshot or restore and return without waiting"
    )
    parser.add_argument("--json", action="store_true", help="list, check, verify, scrub: print the result as JSON")
    parser.add_argument(
        "--on",
        choices=("source", "destination"),
        help="list, scrub: the side whose repository to list or scrub (default: source); drill: the cluster to "
        "restore on (default: destination)",
    )
    parser.add_argument(
        "--read-data", action="store_true", help="scrub: also read every data blob and check its checksum"
    )
    parser.add_argument(
        "--read-data-subset",
        metavar="P%",
        action=_Once,
        type=_percent,
        help="scrub: read a random P percent of the data files (a different sample each run)",
    )
    parser.add_argument("--final", action="store_true", help="migrate: the cutover round, then verify")
    parser.add_argument(
        "--block-writes", action="store_true", help="migrate --final: write-block the source indices first"
    )
    parser.add_argument(
        "--keep-blocked", action="store_true", help="migrate: leave the write block in place when the run fails"
    )
    parser.add_argument(
        "--keep-failed",
        action="store_true",
        help="restore: keep the indices a failed restore created with no primary allocated (deleted otherwise)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more output; -v shows tracebacks, -vv HTTP requests"
    )
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less output: only warnings and errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _logger():
    import logging

    return logging.getLogger(LOGGER)


def setup_logging(verbose: int, quiet: int, redactor: Redactor) -> None:
    import logging

    from .redact import RedactingFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(message)s", redactor, "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.getLogger(LOGGER).setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 2 else logging.CRITICAL)


def _overrides(args: argparse.Namespace) -> Overrides:
    from .config import LATEST, Overrides

    indices = None
    if args.indices is not None:
        indices = tuple(p.strip() for p in args.indices.split(",") if p.strip())
        if not indices:
            raise ConfigError("--indices names no index")
    return Overrides(
        # a drill: the latest by default; scrub's --snapshot is a pattern, not a name
        snapshot=None if args.mode == "scrub" else args.snapshot or (LATEST if args.mode == "drill" else None),
        indices=indices,
        existing_indices=args.existing,
        confirm_delete=args.confirm_delete,
        delete=args.delete,
    )


def sides_of(mode: str, main: str | None = None) -> tuple[str, ...]:
    """The sides whose settings and secrets a mode needs: its own (``main``, default from SIDE), the
    other for TWO_SIDED modes, none for a mode that works on no cluster (sync)."""
    if mode in TWO_SIDED:
        from .config import SIDES

        return SIDES
    side = main or SIDE[mode]
    return (side,) if side else ()


STORE_MODES = ("sync", "migrate", "scrub")  # the modes that copy between object stores read the stores' keys


class Run:
    """One run as the reports see it: filled in as far as the run gets."""

    def __init__(self, mode: str):
        import time

        from .actions import RunResult

        self.mode = mode
        self.started = time.time()
        self.config: Config | None = None
        self.side: str | None = None
        self.result = RunResult()
        self.last_line: str | None = None  # the last line echoed, the message of a successful run
        self.report_files_refused = False  # said once before the run: not tried again after it


def _side(args: argparse.Namespace) -> str | None:
    """The side the mode works on: SIDE's, or --on for list."""
    if args.on and args.mode == "prune" and args.on != "source":
        raise ConfigError("prune runs on the source only: the destination registers the repository read-only")
    if args.on and args.mode not in ("list", "prune", "scrub", "drill"):
        raise ConfigError(f"--on is for list, scrub and drill only, not for {args.mode}")
    if args.json and args.mode not in ("list", "check", "verify", "scrub"):
        raise ConfigError(f"--json is for list, check, verify and scrub, not for {args.mode}")
    if (args.read_data or args.read_data_subset is not None) and args.mode != "scrub":
        raise ConfigError(f"--read-data and --read-data-subset are for scrub, not for {args.mode}")
    if args.read_data and args.read_data_subset is not None:
        raise ConfigError("--read-data reads everything, --read-data-subset a sample: choose one")
    if args.mode == "scrub":
        return None  # scrub works on no cluster, whichever side's repository it reads
    if args.block_writes and not (args.mode == "migrate" and args.final):
        raise ConfigError("--block-writes goes with -m migrate --final")
    return args.on or SIDE[args.mode]


def run_mode(args: argparse.Namespace, redactor: Redactor, run: Run) -> None:
    """Load the config, check the report files, take the run lock, build the side's cluster and run the mode.

    Raises EsS3SnapshotError (Busy when another run of the same config and mode holds the lock,
    UnsafeFile when the lock or a report file could be another user's).
    """
    from .config import find_config, load
    from .lock import run_lock

    side_name = _side(args)
    path = find_config(args.config)
    config = load(path, _overrides(args), sides=sides_of(args.mode, side_name), stores=args.mode in STORE_MODES)
    redactor.add(config.secrets)
    run.config, run.side = config, side_name
    _logger().debug("config loaded from %s", path)
    if config.report.json_file or config.report.prometheus_file:
        from .report import check_targets

        try:
            check_targets(config.report)
        except UnsafeFile:
            run.report_files_refused = True
            raise
    with run_lock(path, args.mode, directory=config.lock.dir, wait=config.lock.wait):
        if config.report.ping_url:
            from .report import ping

            ping(config.report.ping_url, "/start")
        _run_locked(args, redactor, run, config, side_name)


def _run_locked(args: argparse.Namespace, redactor: Redactor, run: Run, config: Config, side_name: str | None) -> None:
    from .actions import Context, get_mode  # the HTTP stack is imported only once a mode runs
    from .config import require_seeds

    logger = _logger()

    def echo(text: str) -> None:
        text = redactor(text)
        print(text, flush=True)
        lines = text.strip().splitlines()
        run.last_line = lines[-1] if lines else run.last_line

    if side_name is None:  # a mode without a cluster (sync, scrub)
        get_mode(args.mode)(
            Context(
                config=config,
                cluster=None,
                echo=echo,
                dry_run=args.dry_run,
                result=run.result,
                json=args.json,
                snapshot_patterns=tuple(p.strip() for p in (args.snapshot or "").split(",") if p.strip()),
                read_data=1.0 if args.read_data else args.read_data_subset or 0.0,
                scrub_on=args.on or "source",
            )
        )
        return
    side = require_seeds(config, side_name, args.mode)
    if args.mode in TWO_SIDED:
        require_seeds(config, "destination" if side_name == "source" else "source", args.mode)
    if config.s3_keys_in_file and side.auth != "sigv4":
        logger.warning(
            "%s: [aws_api_keys] is not sent to the cluster: S3 keys belong in each node's keystore "
            "(s3.client.default.access_key / secret_key); see README 'Where S3 keys belong'",
            config.path,
        )
    clusters: dict = {}

    def open_cluster(name: str):
        if name not in clusters:
            settings = require_seeds(config, name, args.mode)
            if not settings.verify_certs and any(s.startswith("https://") for s in settings.seeds):
                logger.warning("TLS certificate verification is OFF for the %s cluster (verify_certs = false)", name)
            clusters[name] = _build_cluster(config, name, args, echo, redactor)
        return clusters[name]

    context = Context(
        config=config,
        cluster=open_cluster(side_name),
        wait=not args.no_wait,
        echo=echo,
        open_cluster=open_cluster,
        result=run.result,
        as_json=args.json,
        json=args.json,
        final=args.final,
        block_writes=args.block_writes,
        keep_blocked=args.keep_blocked,
        keep_failed=args.keep_failed,
    )
    get_mode(args.mode)(context)


def _build_cluster(config, side_name: str, args: argparse.Namespace, echo, redactor: Redactor):
    """The Cluster for one side, over a transport with its seeds, auth, TLS, proxy and timeouts."""
    from .clients import build_transport
    from .cluster import Cluster

    side = config.side(side_name)
    cluster = Cluster(
        side_name,
        side.seeds,
        None,
        auth=side.auth,
        dry_run=args.dry_run,
        echo=echo,
        redact=redactor,
        request_timeout=side.request_timeout,
        long_request_timeout=side.long_request_timeout,
        max_retries=max(2, len(side.seeds)),
    )
    cluster.transport = build_transport(
        side, fallback_region=config.repository_for(side_name).region, on_node_failure=cluster.node_failed
    )
    return cluster


def finish(run: Run, exit_code: int, message: str, redactor: Redactor) -> None:
    """Write the run reports of [report] (JSON, Prometheus, ping), whatever the outcome."""
    import time
    from dataclasses import replace

    settings = run.config.report if run.config is not None else None
    if settings is not None and run.report_files_refused:
        settings = replace(settings, json_file=None, prometheus_file=None)
    if settings is None or not (settings.json_file or settings.prometheus_file or settings.ping_url):
        return  # the config could not be read, or it asks for no report
    from .report import Report, write_reports

    repository = run.config.repository_for(run.side or "source").name
    report = Report(
        mode=run.mode,
        config=run.config.path,
        repository=repository,
        started=run.started,
        finished=time.time(),
        exit_code=exit_code,
        message=redactor(message),
        snapshot=run.result.snapshot,
        indices=list(run.result.indices),
        bytes=run.result.bytes,
        deleted_snapshots=list(run.result.deleted),
        documents=run.result.documents,
        restore_seconds=run.result.restore_seconds,
        snapshots_checked=run.result.snapshots_checked,
        snapshots_damaged=run.result.snapshots_damaged,
    )
    write_reports(settings, report, run.config.lock.dir)


def _on_signal(signum: int, frame) -> None:
    """SIGTERM and SIGHUP end the run the way Ctrl-C does: with a line saying what goes on."""
    raise Signalled(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (README, "Exit codes")."""
    args = build_parser().parse_args(argv)  # --help, --version and a usage error end here
    import signal

    from .redact import Redactor

    logger = _logger()
    redactor = Redactor()
    setup_logging(args.verbose, args.quiet, redactor)
    run = Run(args.mode)
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        run_mode(args, redactor, run)
        code, message = EXIT_OK, run.result.message or run.last_line or f"{args.mode} done"
    except EsS3SnapshotError as err:
        logger.error("%s", err, exc_info=args.verbose > 0)
        code, message = err.exit_code, str(err)
    except KeyboardInterrupt as err:  # before anything was started in a cluster
        interrupted = Interrupted.of(err, "nothing was started in a cluster")
        logger.error("%s", interrupted, exc_info=args.verbose > 0)
        code, message = interrupted.exit_code, str(interrupted)
    except Exception as err:  # a bug: say so in one line, show the traceback with -v
        logger.error(
            "unexpected error: %s: %s%s",
            type(err).__name__,
            err,
            "" if args.verbose else " (run with -v for the traceback)",
            exc_info=args.verbose > 0,
        )
        code, message = EXIT_UNEXPECTED, f"unexpected error: {type(err).__name__}: {err}"
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    try:
        finish(run, code, message, redactor)
    except Exception as err:  # a report must never change the outcome of the run it reports
        logger.error("cannot write the run report: %s: %s", type(err).__name__, err, exc_info=args.verbose > 0)
    return code


def run() -> None:
    """The console entry point: run, then exit without the interpreter's teardown.

    Tearing down the modules of the HTTP stack takes about 35 ms, a tenth of what the tool adds to
    a restore. Everything is flushed and closed first (log handlers, stdout, stderr; the lock and
    the report files are closed by then), and the fast way is taken only when no thread is left
    that a normal exit would wait for (background calls are daemon threads, which it would not).
    """
    code = main()
    import logging
    import threading

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    os._exit(code)
