"""The command line: arguments, logging, running a mode, and the one place errors become exit codes.

Exit codes (README, "Exit codes"):
  0  success
  1  the operation failed (snapshot PARTIAL/FAILED, conflict, timeout, repository problem)
  2  a cluster could not be reached or refused the credentials
  3  usage or configuration error
  4  unexpected error (a bug; -v shows the traceback)
  75 busy: another run of the same config and mode holds the lock
  130 interrupted (Ctrl-C); a started snapshot or restore goes on in the cluster
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import __version__
from .actions import MODES, SIDE, Context, RunResult, get_mode
from .clients import build_transport
from .cluster import Cluster
from .config import Config, Overrides, find_config, load, require_seeds
from .errors import EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNEXPECTED, ConfigError, EsS3SnapshotError
from .lock import run_lock
from .redact import RedactingFormatter, Redactor
from .report import Report, ping, write_reports

logger = logging.getLogger("es_s3_snapshot")

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
"""

EPILOG = """\
config file: -c PATH, else $ES_S3_SNAPSHOT_CONFIG, else ./es-s3-snapshot.conf, else /etc/es-s3-snapshot.conf
exit codes: 0 ok, 1 operation failed, 2 cluster unreachable or credentials refused,
            3 usage or config error, 4 unexpected error, 75 busy (another run of the same
            config and mode holds the lock), 130 interrupted
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits with our code for usage errors (3), not argparse's 2."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message}\n")


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
        help="Mode of operation. Choose 'backup' on your SOURCE cluster. Choose 'restore' on your DESTINATION cluster. "
        "'list' and 'prune' work on the repository.",
    )
    parser.add_argument("-c", "--config", metavar="PATH", help="the config file (see above for where it is looked for)")
    parser.add_argument(
        "--snapshot", metavar="NAME", help="snapshot name (restore: a name or 'latest'), overriding the config"
    )
    parser.add_argument("--indices", metavar="A,B", help="comma-separated indices or patterns, overriding index_names")
    parser.add_argument(
        "--existing",
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
        "--no-wait", action="store_true", help="start the snapshot or restore and return without waiting"
    )
    parser.add_argument("--json", action="store_true", help="list: print the snapshots as a JSON array")
    parser.add_argument(
        "--on", choices=("source", "destination"), help="list: the cluster whose repository to list (default: source)"
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more output; -v shows tracebacks, -vv HTTP requests"
    )
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less output: only warnings and errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def setup_logging(verbose: int, quiet: int, redactor: Redactor) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(message)s", redactor, "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logger.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 2 else logging.CRITICAL)


def _overrides(args: argparse.Namespace) -> Overrides:
    indices = None
    if args.indices is not None:
        indices = tuple(p.strip() for p in args.indices.split(",") if p.strip())
        if not indices:
            raise ConfigError("--indices names no index")
    return Overrides(
        snapshot=args.snapshot, indices=indices, existing_indices=args.existing, confirm_delete=args.confirm_delete
    )


@dataclass
class Run:
    """One run as the reports see it: filled in as far as the run gets."""

    mode: str
    started: float = field(default_factory=time.time)
    config: Config | None = None
    side: str | None = None
    result: RunResult = field(default_factory=RunResult)
    last_line: str | None = None  # the last line echoed, the message of a successful run


def _side(args: argparse.Namespace) -> str:
    if args.on and args.mode == "prune" and args.on != "source":
        raise ConfigError("prune runs on the source only: the destination registers the repository read-only")
    if args.on and args.mode not in ("list", "prune"):
        raise ConfigError(f"--on is for list only, not for {args.mode}")
    if args.json and args.mode != "list":
        raise ConfigError(f"--json is for list only, not for {args.mode}")
    return args.on or SIDE[args.mode]


def run_mode(args: argparse.Namespace, redactor: Redactor, run: Run) -> None:
    """Load the config, take the run lock, build the side's cluster and run the mode.

    Raises EsS3SnapshotError (Busy when another run of the same config and mode holds the lock).
    """
    side_name = _side(args)
    path = find_config(args.config)
    config = load(path, _overrides(args))
    redactor.add(config.secrets)
    run.config, run.side = config, side_name
    logger.debug("config loaded from %s", path)
    with run_lock(path, args.mode, directory=config.lock.dir, wait=config.lock.wait):
        ping(config.report.ping_url, "/start")
        _run_locked(args, redactor, run, config, side_name)


def _run_locked(args: argparse.Namespace, redactor: Redactor, run: Run, config: Config, side_name: str) -> None:
    side = require_seeds(config, side_name, args.mode)
    if config.s3_keys_in_file and side.auth != "sigv4":
        logger.warning(
            "%s: [aws_api_keys] is not sent to the cluster: S3 keys belong in each node's keystore "
            "(s3.client.default.access_key / secret_key); see README 'Where S3 keys belong'",
            config.path,
        )
    if not side.verify_certs and any(s.startswith("https://") for s in side.seeds):
        logger.warning("TLS certificate verification is OFF for the %s cluster (verify_certs = false)", side_name)

    def echo(text: str) -> None:
        text = redactor(text)
        print(text, flush=True)
        lines = text.strip().splitlines()
        run.last_line = lines[-1] if lines else run.last_line

    cluster = Cluster(side_name, side.seeds, None, auth=side.auth, dry_run=args.dry_run, echo=echo, redact=redactor)
    cluster.transport = build_transport(
        side, fallback_region=config.repository.region, on_node_failure=cluster.node_failed
    )
    ctx = Context(
        config=config, cluster=cluster, wait=not args.no_wait, echo=echo, result=run.result, as_json=args.json
    )
    get_mode(args.mode)(ctx)


def finish(run: Run, exit_code: int, message: str, redactor: Redactor) -> None:
    """Write the run reports of [report] (JSON, Prometheus, ping), whatever the outcome."""
    if run.config is None:  # the config could not be read: there is nowhere to report to
        return
    repository = run.config.repository_for(run.side or SIDE[run.mode]).name
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
    )
    write_reports(run.config.report, report)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (README, "Exit codes")."""
    args = build_parser().parse_args(argv)
    redactor = Redactor()
    setup_logging(args.verbose, args.quiet, redactor)
    run = Run(args.mode)
    try:
        run_mode(args, redactor, run)
        code, message = EXIT_OK, run.result.message or run.last_line or f"{args.mode} done"
    except EsS3SnapshotError as err:
        logger.error("%s", err, exc_info=args.verbose > 0)
        code, message = err.exit_code, str(err)
    except KeyboardInterrupt:
        logger.error("interrupted", exc_info=args.verbose > 0)
        code, message = EXIT_INTERRUPTED, "interrupted"
    except Exception as err:  # a bug: say so in one line, show the traceback with -v
        logger.error(
            "unexpected error: %s: %s%s",
            type(err).__name__,
            err,
            "" if args.verbose else " (run with -v for the traceback)",
            exc_info=args.verbose > 0,
        )
        code, message = EXIT_UNEXPECTED, f"unexpected error: {type(err).__name__}: {err}"
    try:
        finish(run, code, message, redactor)
    except Exception as err:  # a report must never change the outcome of the run it reports
        logger.error("cannot write the run report: %s: %s", type(err).__name__, err, exc_info=args.verbose > 0)
    return code


def run() -> None:
    sys.exit(main())
