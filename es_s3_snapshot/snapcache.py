"""The local cache of ended snapshots' details that list and prune keep, as restic and borg keep a
metadata cache: one JSON file per (cluster, repository).

A snapshot that has ended (SUCCESS, PARTIAL, FAILED, INCOMPATIBLE) never changes, and its UUID
names it alone (a name deleted and taken again gets a new UUID). So the details that list and
prune use (``retention.Snapshot``) are kept here by UUID, and a run reads from the engine only
those of the snapshots it has not seen ended before. IN_PROGRESS snapshots are never kept.

The file lives in ``[cache] dir``, by default the runner's cache directory:
``$XDG_CACHE_HOME/es-s3-snapshot`` when that directory is the runner's own and only the runner can
write it, else ``/var/cache/es-s3-snapshot`` for root (when ``/var/cache`` is writable), else
``~/.cache/es-s3-snapshot``; the tool creates it with mode 0700. It is read and replaced as ``ownfiles`` does (no
symbolic link followed, only a regular file of the runner's, in a directory nobody else can
change, replaced in one step). A file that cannot be read, is damaged, is not the runner's or is
of an unknown format is ignored with one log line and written anew: the cache is never a reason
for a run to fail.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping

from . import ownfiles
from .errors import UnsafeFile
from .retention import Snapshot

logger = logging.getLogger(__name__)

FORMAT = "es-s3-snapshot snapshot cache"
VERSION = 1
ENDED = frozenset({"SUCCESS", "PARTIAL", "FAILED", "INCOMPATIBLE"})
HINT = "remove it, or set dir in [cache] to a directory only you can write"
# the fields of a Snapshot kept for each UUID, in this order
FIELDS = ("name", "state", "start", "end", "indices", "shards_total", "shards_failed", "shards_ok", "taken_by")
_TYPES = (str, str, (float, int, type(None)), (float, int, type(None)), int, int, int, int, (str, type(None)))


def default_dir(environ: Mapping[str, str] = os.environ, euid: int | None = None, var: str = "/var/cache") -> str:
    """The runner's cache directory (see the module's docstring); not created here."""
    euid = os.geteuid() if euid is None else euid
    base = environ.get("XDG_CACHE_HOME", "")
    if ownfiles.runners_dir(base, euid, lambda mode: not mode & 0o022):
        return os.path.join(base, ownfiles.APP)
    if euid == 0 and ownfiles.writable_dir(var):  # a read-only /var/cache: the home's
        return os.path.join(var, ownfiles.APP)
    return os.path.join(os.path.expanduser("~"), ".cache", ownfiles.APP)


def file_name(cluster: str, repository: str) -> str:
    """The cache file's name for a cluster (its UUID, or what stands for it) and repository name."""
    digest = hashlib.sha256(f"{cluster}\0{repository}".encode()).hexdigest()[:16]
    return f"snapshots-{digest}.json"


class SnapshotCache:
    """The cache file of one cluster and repository: ``load`` it, ``save`` what a listing found.

    ``directory`` None means the default one, created when first written.
    """

    def __init__(self, directory: str | None, cluster: str, repository: str):
        self.own_dir = directory is None
        self.directory = default_dir() if directory is None else directory
        self.cluster = cluster
        self.repository = repository
        self.path = os.path.join(self.directory, file_name(cluster, repository))
        self._loaded: dict[str, Snapshot] = {}
        self._unsafe = False  # the file or its directory was refused: not written either

    def load(self) -> dict[str, Snapshot]:
        """The snapshots kept, by UUID; empty when there is no usable file (logged, never raised)."""
        self._loaded = self._read()
        return dict(self._loaded)

    def _read(self) -> dict[str, Snapshot]:
        """The file's entries; {} when it is absent, refused, unreadable, damaged or of another format."""
        try:
            with ownfiles.open_dir(self.directory, hint=HINT):
                text = ownfiles.read_own(self.path, hint=HINT)
        except FileNotFoundError:
            return {}
        except UnsafeFile as err:
            self._unsafe = True
            logger.warning("the snapshot cache %s is not used: %s", self.path, err)
            return {}
        except OSError as err:
            logger.warning("the snapshot cache %s is not used: %s", self.path, _why(err))
            return {}
        if not text:
            return {}
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            logger.warning("the snapshot cache %s is damaged (not JSON); it is written anew", self.path)
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            logger.debug("the snapshot cache %s is of an unknown format; it is written anew", self.path)
            return {}
        found = _entries(data.get("snapshots"))
        if found is None:
            logger.warning("the snapshot cache %s is damaged (a bad entry); it is written anew", self.path)
            return {}
        return found

    def save(self, snapshots: Mapping[str, Snapshot]) -> None:
        """Replace the file by these snapshots (by UUID), keeping the ended ones only; a failure to
        write is logged, never raised. Nothing is written when that is what ``load`` found, or
        when ``load`` refused the file or its directory (it said so)."""
        ended = {uuid: s for uuid, s in snapshots.items() if s.state in ENDED}
        if self._unsafe or ended == self._loaded:
            return
        kept = {uuid: [getattr(s, f) for f in FIELDS] for uuid, s in ended.items()}
        text = json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "cluster": self.cluster,
                "repository": self.repository,
                "snapshots": kept,
            },
            separators=(",", ":"),
        )
        try:
            if self.own_dir:
                with ownfiles.open_dir(self.directory, hint=HINT, create=True):
                    pass
            ownfiles.replace_own(self.path, text + "\n", hint=HINT)
        except UnsafeFile as err:
            logger.warning("the snapshot cache %s could not be written: %s", self.path, err)
            return
        except OSError as err:
            logger.warning("the snapshot cache %s could not be written: %s", self.path, _why(err))
            return
        logger.debug("kept the details of %d ended snapshots in %s", len(kept), self.path)


def _why(err: OSError) -> str:
    return err.strerror or str(err)


def _entries(raw: object) -> dict[str, Snapshot] | None:
    """The entries of a cache file's ``snapshots``, or None when one of them is not as written."""
    if not isinstance(raw, dict):
        return None
    found = {}
    for uuid, values in raw.items():
        if (
            not isinstance(values, list)
            or len(values) != len(FIELDS)
            or not all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(values, _TYPES, strict=True))
            or values[1] not in ENDED
        ):
            return None
        found[uuid] = Snapshot(*values)
    return found
