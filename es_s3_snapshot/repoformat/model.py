"""Readers of the repository's metadata blobs: each takes the blob's bytes and returns what it holds.

| blob | reader |
|---|---|
| ``index.latest`` | ``latest_generation`` |
| ``index-N`` (root, JSON) | ``repository_data`` -> RepositoryData |
| ``snap-<uuid>.dat`` (root) | ``snapshot_info`` -> SnapshotInfo |
| ``meta-<uuid>.dat`` (root) | ``global_metadata`` -> dict |
| ``indices/<id>/meta-<blob>.dat`` | ``index_metadata`` -> IndexMetadata |
| ``indices/<id>/<shard>/index-<gen>`` | ``shard_generation`` -> ShardGeneration |
| ``indices/<id>/<shard>/snap-<uuid>.dat`` | ``shard_snapshot`` -> ShardSnapshot |

Every reader raises FormatError (or ChecksumMismatch) for bytes that are not such a blob.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .blob import FormatError, read_checksummed

STATES = {0: "IN_PROGRESS", 1: "SUCCESS", 2: "FAILED", 3: "PARTIAL", 4: "INCOMPATIBLE"}
NO_GENERATION = (None, "_new", "_deleted")  # shard_generations entries with no shard-level index blob
NUMBERED = re.compile(r"index-(\d+)")
LONG_MAX = 2**63 - 1


# --- root ------------------------------------------------------------------------------------


def latest_generation(data: bytes) -> int:
    """The generation N that ``index.latest`` points at (8 bytes, big-endian)."""
    if len(data) != 8:
        raise FormatError(f"index.latest holds {len(data)} bytes, not 8", "truncated" if len(data) < 8 else "format")
    value = int.from_bytes(data, "big", signed=True)
    if value < 0:
        raise FormatError(f"index.latest holds a negative generation {value}")
    return value


@dataclass(frozen=True)
class SnapshotEntry:
    name: str
    uuid: str
    state: str | None  # SUCCESS, PARTIAL, ...; None when the repository does not say (old formats)
    version: str | None
    index_metadata_lookup: dict[str, str] = field(default_factory=dict)  # index id -> identifier
    start_millis: int | None = None


@dataclass(frozen=True)
class IndexEntry:
    name: str
    id: str
    snapshots: tuple[str, ...]  # snapshot uuids
    shard_generations: tuple[str | None, ...]  # empty: a repository older than Elasticsearch 7.6
    shard_path_type: int = 0  # OpenSearch: 0 FIXED, 1 HASHED_PREFIX, 2 HASHED_INFIX


@dataclass(frozen=True)
class RepositoryData:
    generation: int
    snapshots: tuple[SnapshotEntry, ...]
    indices: dict[str, IndexEntry]
    index_metadata_identifiers: dict[str, str]  # identifier -> blob id
    raw_keys: tuple[str, ...] = ()

    def index_metadata_blob(self, index: IndexEntry, snapshot: SnapshotEntry) -> str:
        """The index metadata blob of ``index`` in ``snapshot``, below the base path."""
        identifier = snapshot.index_metadata_lookup.get(index.id)
        blob = self.index_metadata_identifiers.get(identifier) if identifier else None
        return f"indices/{index.id}/meta-{blob or snapshot.uuid}.dat"

    def indices_of(self, snapshot: SnapshotEntry) -> list[IndexEntry]:
        return [i for i in self.indices.values() if snapshot.uuid in i.snapshots]


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise FormatError(f"{what} is {value!r}, not a name")
    return value


def repository_data(data: bytes, generation: int) -> RepositoryData:
    """The RepositoryData in root blob ``index-<generation>`` (plain JSON)."""
    try:
        doc = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise FormatError(f"index-{generation} is not JSON: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("snapshots", []), list):
        raise FormatError(f"index-{generation} is JSON but not a RepositoryData")
    snapshots = []
    for entry in doc.get("snapshots", []):
        if not isinstance(entry, dict):
            raise FormatError(f"index-{generation}: a snapshot entry is {entry!r}")
        state = entry.get("state")
        snapshots.append(
            SnapshotEntry(
                name=_text(entry.get("name"), "a snapshot's name"),
                uuid=_text(entry.get("uuid"), "a snapshot's uuid"),
                state=STATES.get(state, str(state)) if state is not None else None,
                version=entry.get("version"),
                index_metadata_lookup=dict(entry.get("index_metadata_lookup") or {}),
                start_millis=entry.get("start_time_millis"),
            )
        )
    indices = {}
    for name, entry in (doc.get("indices") or {}).items():
        if not isinstance(entry, dict):
            raise FormatError(f"index-{generation}: index {name} is {entry!r}")
        indices[name] = IndexEntry(
            name=name,
            id=_text(entry.get("id"), f"index {name}'s id"),
            snapshots=tuple(entry.get("snapshots") or ()),
            shard_generations=tuple(entry.get("shard_generations") or ()),
            shard_path_type=int(entry.get("shard_path_type") or 0),
        )
    return RepositoryData(
        generation=generation,
        snapshots=tuple(snapshots),
        indices=indices,
        index_metadata_identifiers=dict(doc.get("index_metadata_identifiers") or {}),
        raw_keys=tuple(doc),
    )


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    uuid: str
    state: str
    indices: tuple[str, ...]
    failed_shards: frozenset[tuple[str, int]]  # (index name, shard) that the snapshot does not hold
    shallow: bool  # OpenSearch remote-store shallow copy: segments live in the remote store
    include_global_state: bool


def snapshot_info(data: bytes) -> SnapshotInfo:
    """The SnapshotInfo in a root ``snap-<uuid>.dat``."""
    doc = read_checksummed(data, "snapshot")
    info = doc.get("snapshot") if isinstance(doc, dict) else None
    if not isinstance(info, dict):
        raise FormatError("snap blob holds no 'snapshot' object")
    failures = set()
    for failure in info.get("failures") or ():
        if isinstance(failure, dict) and failure.get("index") is not None and failure.get("shard_id") is not None:
            failures.add((failure["index"], int(failure["shard_id"])))
    return SnapshotInfo(
        name=_text(info.get("name"), "the snapshot's name"),
        uuid=str(info.get("uuid") or ""),
        state=str(info.get("state") or ""),
        indices=tuple(info.get("indices") or ()),
        failed_shards=frozenset(failures),
        shallow=bool(info.get("remote_store_index_shallow_copy")) or bool(info.get("pinned_timestamp")),
        include_global_state=bool(info.get("include_global_state")),
    )


def global_metadata(data: bytes) -> dict:
    """The cluster metadata in a root ``meta-<uuid>.dat``."""
    doc = read_checksummed(data, "metadata")
    if not isinstance(doc, dict):
        raise FormatError("meta blob holds no object")
    return doc


@dataclass(frozen=True)
class IndexMetadata:
    name: str
    number_of_shards: int
    settings: dict


def index_metadata(data: bytes) -> IndexMetadata:
    """The IndexMetadata in ``indices/<id>/meta-<blob>.dat``: ``{<name>: {settings: ...}}``."""
    doc = read_checksummed(data, "index-metadata")
    if not isinstance(doc, dict) or len(doc) != 1:
        raise FormatError("index metadata blob does not hold one index")
    ((name, body),) = doc.items()
    settings = body.get("settings") if isinstance(body, dict) else None
    if not isinstance(settings, dict):
        raise FormatError(f"index metadata of {name} has no settings")
    flat = _flatten(settings)
    try:
        shards = int(flat["index.number_of_shards"])
    except (KeyError, ValueError):
        raise FormatError(f"index metadata of {name} has no index.number_of_shards") from None
    return IndexMetadata(name, shards, flat)


def _flatten(settings: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# --- shard level ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileInfo:
    """One Lucene file of a shard snapshot, as BlobStoreIndexShardSnapshot.FileInfo writes it."""

    name: str  # the blob's base name: __<uuid>, or v__<uuid> for a file held in meta_hash
    physical_name: str
    length: int
    checksum: str | None  # the file footer's CRC32 in base 36
    part_size: int | None
    meta_hash: bytes | None = field(default=None, repr=False)

    @property
    def virtual(self) -> bool:
        """The file's bytes are in ``meta_hash``: there is no blob."""
        return self.name.startswith("v__")

    @property
    def crc(self) -> int | None:
        try:
            return int(self.checksum, 36) if self.checksum else None
        except ValueError:
            return None  # a legacy "_na_"

    def parts(self) -> list[tuple[str, int]]:
        """(blob name, expected length) of every blob holding the file: the name alone, or
        ``name.part0`` ... when the file was cut into ``part_size`` chunks."""
        if self.virtual:
            return []
        size = self.part_size
        if not size or size >= LONG_MAX or self.length <= size:
            return [(self.name, self.length)]
        count = -(-self.length // size)
        return [
            (f"{self.name}.part{i}", size if i < count - 1 else self.length - size * (count - 1)) for i in range(count)
        ]


def file_info(entry: Any) -> FileInfo:
    if not isinstance(entry, dict):
        raise FormatError(f"a file entry is {entry!r}")
    name = _text(entry.get("name"), "a file's name")
    length = entry.get("length")
    if not isinstance(length, int) or length < 0:
        raise FormatError(f"file {name} has length {length!r}")
    part_size = entry.get("part_size")
    meta_hash = entry.get("meta_hash")
    return FileInfo(
        name=name,
        physical_name=str(entry.get("physical_name") or ""),
        length=length,
        checksum=entry.get("checksum"),
        part_size=part_size if isinstance(part_size, int) and part_size > 0 else None,
        meta_hash=bytes(meta_hash) if isinstance(meta_hash, (bytes, bytearray)) else None,
    )


@dataclass(frozen=True)
class ShardSnapshot:
    """One snapshot's files of one shard (``indices/<id>/<shard>/snap-<uuid>.dat``)."""

    name: str
    files: tuple[FileInfo, ...]


def shard_snapshot(data: bytes) -> ShardSnapshot:
    doc = read_checksummed(data, "snapshot")
    if not isinstance(doc, dict) or not isinstance(doc.get("files", []), list):
        raise FormatError("shard snap blob holds no file list")
    return ShardSnapshot(str(doc.get("name") or ""), tuple(file_info(f) for f in doc.get("files") or ()))


@dataclass(frozen=True)
class ShardGeneration:
    """Every file of every snapshot of one shard (``indices/<id>/<shard>/index-<gen>``)."""

    files: dict[str, FileInfo]
    snapshots: dict[str, tuple[str, ...]]  # snapshot name -> file (blob base) names


def shard_generation(data: bytes) -> ShardGeneration:
    doc = read_checksummed(data, "snapshots")
    if not isinstance(doc, dict):
        raise FormatError("shard index blob holds no object")
    files = {info.name: info for info in (file_info(f) for f in doc.get("files") or ())}
    snapshots = {}
    for name, entry in (doc.get("snapshots") or {}).items():
        snapshots[name] = tuple((entry or {}).get("files") or ()) if isinstance(entry, dict) else ()
    return ShardGeneration(files, snapshots)


def numbered_generation(names: list[str]) -> str | None:
    """The newest numeric ``index-N`` among ``names`` (shard folders of repositories older than
    Elasticsearch 7.6 have no uuid generations), as its blob name, or None."""
    numbers = [int(m.group(1)) for m in (NUMBERED.fullmatch(n) for n in names) if m]
    return f"index-{max(numbers)}" if numbers else None


def looks_encrypted(data: bytes) -> bool:
    """Whether a blob that should be JSON or a checksummed blob looks like the AWS Encryption SDK's
    message format, which OpenSearch's client-side encryption (``crypto_metadata``) writes."""
    if len(data) < 4:
        return False
    return (data[0] == 0x01 and data[1] == 0x80) or (data[0] == 0x02 and data[1] in (0x04, 0x05))
