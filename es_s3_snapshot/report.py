"""Run reports: a JSON file, a Prometheus textfile, and healthchecks.io-style pings.

Files are written atomically (a new temporary file in the same directory, then renamed over the
target; ``ownfiles.replace_own``), so a reader never sees half a report, and a target that is not a
regular file of the runner's, or a directory others could change, is refused. The Prometheus file
keeps the series of other modes and repositories, and the last success time across failed runs;
runs that update it at once take turns on a lock file in the run locks' directory. A ping that
fails is only a warning.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

from . import ownfiles
from .errors import EsS3SnapshotError, UnsafeFile
from .lock import lock_name, open_lock_file
from .retention import iso

logger = logging.getLogger(__name__)

PING_TIMEOUT = 10.0
PREFIX = "es_s3_snapshot_"
OUTCOMES = {
    0: "success",
    1: "failed",
    2: "unreachable",
    3: "config_error",
    4: "unexpected_error",
    75: "busy",
    129: "hung_up",
    130: "interrupted",
    143: "terminated",
}
HINT = "remove it, or name another file in [report]"
METRICS = {
    "last_run_timestamp_seconds": ("gauge", "Unix time the last run finished."),
    "last_success_timestamp_seconds": ("gauge", "Unix time the last successful run finished."),
    "last_duration_seconds": ("gauge", "Duration of the last run in seconds."),
    "last_exit_code": ("gauge", "Exit code of the last run (0 is success)."),
    "last_bytes": ("gauge", "Bytes the last run added to the repository (backup) or restored (drill)."),
    "snapshots_deleted_total": ("counter", "Snapshots deleted by prune, over all runs."),
    # drill and scrub figures, set by the runs of those modes that got as far
    "last_indices": ("gauge", "Indices and data streams the last drill restored and read back."),
    "last_documents": ("gauge", "Documents the last drill restored and read back."),
    "last_restore_seconds": ("gauge", "Time to restore of the last drill: restore sent to every primary active."),
    "last_snapshots_checked": ("gauge", "Snapshots the last scrub checked."),
    "last_snapshots_damaged": ("gauge", "Snapshots the last scrub found damaged (not restorable)."),
}
# Figures of a drill or a scrub: in the JSON report when the run has them, and as gauges.
FIGURES = ("documents", "restore_seconds", "snapshots_checked", "snapshots_damaged")
_LINE = re.compile(r'^(\w+)\{mode="([^"]*)",repository="([^"]*)"\}\s+(\S+)')


@dataclass
class Report:
    """What one run did, as the JSON report holds it."""

    mode: str
    config: str
    repository: str | None
    started: float
    finished: float
    exit_code: int
    message: str
    snapshot: str | None = None
    indices: list[str] = field(default_factory=list)
    bytes: int | None = None
    deleted_snapshots: list[str] = field(default_factory=list)
    documents: int | None = None  # drill
    restore_seconds: float | None = None  # drill
    snapshots_checked: int | None = None  # scrub
    snapshots_damaged: int | None = None  # scrub

    @property
    def outcome(self) -> str:
        return OUTCOMES.get(self.exit_code, "failed")

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "config": self.config,
            "repository": self.repository,
            "snapshot": self.snapshot,
            "started": iso(self.started),
            "finished": iso(self.finished),
            "duration_s": round(self.finished - self.started, 3),
            "exit_code": self.exit_code,
            "outcome": self.outcome,
            "message": self.message,
            "indices": self.indices,
            "bytes": self.bytes,
            "deleted_snapshots": self.deleted_snapshots,
            **{name: getattr(self, name) for name in FIGURES if getattr(self, name) is not None},
        }


def write_atomically(path: str, text: str) -> None:
    """Replace ``path`` by ``text`` in one step (``ownfiles.replace_own``)."""
    ownfiles.replace_own(path, text, hint=HINT)


def check_targets(settings) -> None:
    """Refuse, before the run, report files that would be refused after it: ``json_file`` or
    ``prometheus_file`` that exist and are not regular files of the runner's, or that lie in a
    directory others can change. A directory that does not exist is left to the write (an error
    then). Raises UnsafeFile."""
    for path in (settings.json_file, settings.prometheus_file):
        if not path:
            continue
        directory, name = os.path.split(os.path.abspath(path))
        try:
            with ownfiles.open_dir(directory, hint=HINT) as dir_fd:
                info = os.lstat(name, dir_fd=dir_fd)
        except OSError:
            continue
        problem = ownfiles.file_problem(info, path)
        if problem:
            raise UnsafeFile(f"{problem}: refusing to write the run report there ({HINT})")


def write_json(path: str, report: Report) -> None:
    write_atomically(path, json.dumps(report.as_json(), indent=2) + "\n")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(previous: str, report: Report) -> str:
    """The textfile after this run: other (mode, repository) series kept, this one's replaced."""
    key = (_escape(report.mode), _escape(report.repository or ""))
    series: dict[str, dict[tuple[str, str], str]] = {name: {} for name in METRICS}
    for line in previous.splitlines():
        match = _LINE.match(line)
        if match and match.group(1).startswith(PREFIX) and match.group(1)[len(PREFIX) :] in series:
            series[match.group(1)[len(PREFIX) :]][(match.group(2), match.group(3))] = match.group(4)
    ours = {
        "last_run_timestamp_seconds": f"{report.finished:.3f}",
        "last_duration_seconds": f"{report.finished - report.started:.3f}",
        "last_exit_code": str(report.exit_code),
    }
    if report.exit_code == 0:
        ours["last_success_timestamp_seconds"] = f"{report.finished:.3f}"
    if report.bytes is not None:
        ours["last_bytes"] = str(report.bytes)
    if report.mode == "drill" and report.documents is not None:  # a drill that read its copies back
        ours["last_indices"] = str(len(report.indices))
    for name in FIGURES:
        if getattr(report, name) is not None:
            ours[f"last_{name}"] = str(getattr(report, name))
    previous_deleted = float(series["snapshots_deleted_total"].get(key, "0"))
    ours["snapshots_deleted_total"] = str(int(previous_deleted) + len(report.deleted_snapshots))
    for name, value in ours.items():
        series[name][key] = value
    lines = []
    for name, (kind, help_text) in METRICS.items():
        if not series[name]:
            continue
        lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} {kind}"]
        lines += [f'{PREFIX}{name}{{mode="{m}",repository="{r}"}} {v}' for (m, r), v in sorted(series[name].items())]
    return "\n".join(lines) + "\n"


def write_prometheus(path: str, report: Report, lock_dir: str | None = None) -> None:
    """Update the textfile; runs of other modes may update it at the same time: they take turns on
    a lock file in ``lock_dir`` (default: the runner's private directory) named after the file."""
    guard = open_lock_file(
        os.path.join(lock_dir or ownfiles.default_dir(), lock_name(path, "prometheus")), own_dir=lock_dir is None
    )
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)
        write_atomically(path, prometheus_text(ownfiles.read_own(path, hint=HINT), report))
    finally:
        os.close(guard)


def ping(url: str | None, suffix: str = "", body: str = "") -> None:
    """POST to ``url + suffix`` ("/start", "" or "/fail") with a 10 s timeout; a failure is a warning."""
    if not url:
        return
    import urllib.request  # only runs that ping pay for the HTTP client

    target = url + suffix
    try:
        request = urllib.request.Request(target, data=body.encode("utf-8"), method="POST")
        request.add_header("content-type", "text/plain; charset=utf-8")
        with urllib.request.urlopen(request, timeout=PING_TIMEOUT) as response:
            response.read()
    except Exception as err:  # any failure to ping must not change the run's outcome
        logger.warning("ping %s failed: %s", target, getattr(err, "reason", None) or err)


def write_reports(settings, report: Report, lock_dir: str | None = None) -> None:
    """Write the JSON report and the Prometheus file that ``settings`` ([report]) names, then ping.

    ``lock_dir`` is [lock] dir (the Prometheus file's lock goes there). A file that cannot be
    written, or is refused (``ownfiles``), is logged as an error and does not change the exit code.
    """
    writers = (
        (settings.json_file, write_json),
        (settings.prometheus_file, lambda path, report: write_prometheus(path, report, lock_dir)),
    )
    for path, writer in writers:
        if not path:
            continue
        try:
            writer(path, report)
        except OSError as err:
            logger.error("cannot write the run report %s: %s", path, err.strerror or err)
        except EsS3SnapshotError as err:
            logger.error("cannot write the run report %s: %s", path, err)
    if report.exit_code == 0:
        ping(settings.ping_url, "", report.message)
    else:
        ping(settings.ping_url, "/fail", report.message)
