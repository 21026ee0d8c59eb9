"""Reading a snapshot repository without a cluster: the blobs' formats (``blob``, ``smile``,
``model``), where a shard's blobs are (``paths``) and the stores they are read from (``storage``).

Readers take bytes and return plain dataclasses; they raise FormatError (ChecksumMismatch for a
footer CRC that does not match). Nothing here imports boto3 until an S3 store is read.

Each name below loads its module when first used (PEP 562): sync reads one kind of blob
and should not pay for the imports of every reader (9 ms, before its first copy).
"""

from __future__ import annotations

import importlib

# name -> the module of this package that defines it
_WHERE = {
    "ChecksumMismatch": "blob",
    "FormatError": "blob",
    "open_envelope": "blob",
    "read_checksummed": "blob",
    "read_footer": "blob",
    "verify": "blob",
    "FileInfo": "model",
    "IndexEntry": "model",
    "IndexMetadata": "model",
    "RepositoryData": "model",
    "ShardGeneration": "model",
    "ShardSnapshot": "model",
    "SnapshotEntry": "model",
    "SnapshotInfo": "model",
    "global_metadata": "model",
    "index_metadata": "model",
    "latest_generation": "model",
    "looks_encrypted": "model",
    "numbered_generation": "model",
    "repository_data": "model",
    "shard_generation": "model",
    "shard_snapshot": "model",
    "snapshot_info": "model",
    "SHARD_PATHS": "paths",
    "rebase": "paths",
    "shard_folder": "paths",
    "shard_hash": "paths",
    "shard_paths": "paths",
    "SmileError": "smile",
    "decode": "smile",
}
__all__ = sorted(_WHERE)


MODULES = ("blob", "crc", "model", "paths", "smile", "storage")


def __getattr__(name: str):
    if name in MODULES:  # repoformat.model and the like, as when this file imported them all
        return importlib.import_module(f"{__name__}.{name}")
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # asked once
    return value
