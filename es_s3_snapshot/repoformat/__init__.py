"""Reading a snapshot repository without a cluster: the blobs' formats (``blob``, ``smile``,
``model``), where a shard's blobs are (``paths``) and the stores they are read from (``storage``).

Readers take bytes and return plain dataclasses; they raise FormatError (ChecksumMismatch for a
footer CRC that does not match). Nothing here imports boto3 until an S3 store is read.
"""

from .blob import ChecksumMismatch, FormatError, open_envelope, read_checksummed, read_footer, verify
from .model import (
    FileInfo,
    IndexEntry,
    IndexMetadata,
    RepositoryData,
    ShardGeneration,
    ShardSnapshot,
    SnapshotEntry,
    SnapshotInfo,
    global_metadata,
    index_metadata,
    latest_generation,
    looks_encrypted,
    numbered_generation,
    repository_data,
    shard_generation,
    shard_snapshot,
    snapshot_info,
)
from .paths import SHARD_PATHS, rebase, shard_folder, shard_hash, shard_paths
from .smile import SmileError, decode

__all__ = [
    "ChecksumMismatch",
    "FormatError",
    "SmileError",
    "FileInfo",
    "IndexEntry",
    "IndexMetadata",
    "RepositoryData",
    "ShardGeneration",
    "ShardSnapshot",
    "SnapshotEntry",
    "SnapshotInfo",
    "SHARD_PATHS",
    "decode",
    "global_metadata",
    "index_metadata",
    "latest_generation",
    "looks_encrypted",
    "numbered_generation",
    "open_envelope",
    "read_checksummed",
    "read_footer",
    "rebase",
    "repository_data",
    "shard_folder",
    "shard_generation",
    "shard_hash",
    "shard_paths",
    "shard_snapshot",
    "snapshot_info",
    "verify",
]
