"""The command line: arguments, logging, running a mode, and the one place errors become exit codes.

Exit codes (README, "Exit codes"):
  0  success
  1  the operation failed (snapshot PARTIAL/FAILED, conflict, timeout, repository problem)
  2  a cluster could not be reached or refused the credentials
  3  usage or configuration error
  4  unexpected error (a bug; -v shows the traceback)
  130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 129 hung up (SIGHUP); a started snapshot or
      restore goes on in the cluster, and the last line says how to follow it
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from . import __version__
from .actions import MODES, SIDE, TWO_SIDED
from .config import SIDES, Overrides, find_config, load, require_seeds
from .errors import EXIT_CONFIG, EXIT_OK, EXIT_UNEXPECTED, ConfigError, EsS3SnapshotError, Interrupted, Signalled
from .redact import RedactingFormatter, Redactor

logger = logging.getLogger("es_s3_snapshot")

QUIET_LOGGERS = ("elastic_transport", "elasticsearch", "urllib3", "botocore", "boto3", "requests_aws4auth")

DESCRIPTION = """\
Push specified Elasticsearch/OpenSearch indices from a SOURCE cluster to a DESTINATION cluster
through a snapshot repository in S3, as set in the config file.

  backup   run on or near your SOURCE cluster: registers the repository, snapshots the
           configured indices into it and waits until the snapshot is finished.
  restore  run on or near your DESTINATION cluster: registers the same repository read-only,
           restores the indices and waits until they have recovered.
  sync     copies the repository from [source_store] to [destination_store] (two object stores,
           e.g. two clouds), only what is missing; no cluster is contacted.
"""

EPILOG = """\
config file: -c PATH, else $ES_S3_SNAPSHOT_CONFIG, else ./es-s3-snapshot.conf, else /etc/es-s3-snapshot.conf
exit codes: 0 ok, 1 operation failed, 2 cluster unreachable or credentials refused,
            3 usage or config error, 4 unexpected error, 130 interrupted (Ctrl-C),
            143 terminated (SIGTERM), 129 hung up (SIGHUP)
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
        help="Mode of operation. Choose 'backup' on your SOURCE cluster. Choose 'restore' on your DESTINATION cluster.",
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
        help="snapshot name (restore: a name or 'latest'), overriding the config",
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
    parser.add_argument("--json", action="store_true", help="check, verify: print the result as JSON")
    parser.add_argument("--final", action="store_true", help="migrate: the cutover round, then verify")
    parser.add_argument(
        "--block-writes", action="store_true", help="migrate --final: write-block the source indices first"
    )
    parser.add_argument(
        "--keep-blocked", action="store_true", help="migrate: leave the write block in place when the run fails"
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
        snapshot=args.snapshot,
        indices=indices,
        existing_indices=args.existing,
        confirm_delete=args.confirm_delete,
        delete=args.delete,
    )


def sides_of(mode: str) -> tuple[str, ...]:
    """The sides whose settings and secrets a mode needs: its own, the other for TWO_SIDED modes,
    none for a mode that works on no cluster (sync)."""
    if mode in TWO_SIDED:
        return SIDES
    return (SIDE[mode],) if SIDE[mode] else ()


STORE_MODES = ("sync", "migrate")  # the modes that copy between object stores read the stores' keys


def run_mode(args: argparse.Namespace, redactor: Redactor) -> None:
    """Load the config, build the side's cluster and run the mode; raises EsS3SnapshotError."""
    path = find_config(args.config)
    config = load(path, _overrides(args), sides=sides_of(args.mode), stores=args.mode in STORE_MODES)
    redactor.add(config.secrets)
    logger.debug("config loaded from %s", path)

    from .actions import Context, get_mode  # the HTTP stack is imported only once a mode runs

    echo = lambda text: print(redactor(text), flush=True)  # noqa: E731
    side_name = SIDE[args.mode]
    if side_name is None:  # a mode without a cluster (sync)
        get_mode(args.mode)(Context(config=config, cluster=None, echo=echo, dry_run=args.dry_run))
        return
    side = require_seeds(config, side_name, args.mode)
    if args.mode in TWO_SIDED:
        require_seeds(config, "destination" if side_name == "source" else "source", args.mode)
    if args.block_writes and not (args.mode == "migrate" and args.final):
        raise ConfigError("--block-writes goes with -m migrate --final")
    if config.s3_keys_in_file and side.auth != "sigv4":
        logger.warning(
            "%s: [aws_api_keys] is not sent to the cluster: S3 keys belong in each node's keystore "
            "(s3.client.default.access_key / secret_key); see README 'Where S3 keys belong'",
            path,
        )
    if not side.verify_certs and any(s.startswith("https://") for s in side.seeds):
        logger.warning("TLS certificate verification is OFF for the %s cluster (verify_certs = false)", side_name)

    clusters: dict = {}

    def open_cluster(name: str):
        if name not in clusters:
            settings = require_seeds(config, name, args.mode)
            if (
                not settings.verify_certs
                and any(s.startswith("https://") for s in settings.seeds)
                and name != side_name
            ):
                logger.warning("TLS certificate verification is OFF for the %s cluster (verify_certs = false)", name)
            clusters[name] = _build_cluster(config, name, args, echo, redactor)
        return clusters[name]

    context = Context(
        config=config,
        cluster=open_cluster(side_name),
        wait=not args.no_wait,
        echo=echo,
        open_cluster=open_cluster,
        json=args.json,
        final=args.final,
        block_writes=args.block_writes,
        keep_blocked=args.keep_blocked,
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


def _on_signal(signum: int, frame) -> None:
    """SIGTERM and SIGHUP end the run the way Ctrl-C does: with a line saying what goes on."""
    raise Signalled(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (README, "Exit codes")."""
    args = build_parser().parse_args(argv)
    redactor = Redactor()
    setup_logging(args.verbose, args.quiet, redactor)
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        run_mode(args, redactor)
    except EsS3SnapshotError as err:
        logger.error("%s", err, exc_info=args.verbose > 0)
        return err.exit_code
    except KeyboardInterrupt as err:  # before anything was started in a cluster
        interrupted = Interrupted.of(err, "nothing was started in a cluster")
        logger.error("%s", interrupted, exc_info=args.verbose > 0)
        return interrupted.exit_code
    except Exception as err:  # a bug: say so in one line, show the traceback with -v
        logger.error(
            "unexpected error: %s: %s%s",
            type(err).__name__,
            err,
            "" if args.verbose else " (run with -v for the traceback)",
            exc_info=args.verbose > 0,
        )
        return EXIT_UNEXPECTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def run() -> None:
    sys.exit(main())
