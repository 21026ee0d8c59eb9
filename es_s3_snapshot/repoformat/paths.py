"""Where a shard's blobs are: ``<base>/indices/<id>/<shard>/`` or, for OpenSearch 2.17+ indices with
a hashed ``shard_path_type``, a folder whose name starts with a hash of the shard.

Seen on OpenSearch 2.19 and 3.3 repositories: the hash is FNV-1a 64 of ``<shard><index id>`` (the
shard number, then the index id, nothing between), written as one URL-safe base64 character for its
6 high bits followed by its next 14 bits as binary digits (``FNV_1A_COMPOSITE_1``). HASHED_PREFIX
puts it before the base path (``<hash>/<base>/indices/<id>/<shard>/``), HASHED_INFIX after it
(``<base>/<hash>/indices/<id>/<shard>/``). OpenSearch also writes
``<base>/snapshot_shard_paths/snapshot_path_<id>.<name>.<shards>.<type>.<algorithm>``, plain JSON
naming every shard folder of an index (``shard_paths``), best effort.
"""

from __future__ import annotations

import json

from .blob import FormatError

FIXED, HASHED_PREFIX, HASHED_INFIX = 0, 1, 2
SHARD_PATHS = "snapshot_shard_paths"
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_FNV_OFFSET, _FNV_PRIME, _MASK = 0xCBF29CE484222325, 0x100000001B3, 2**64 - 1


def fnv1a64(text: str) -> int:
    value = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * _FNV_PRIME) & _MASK
    return value


def shard_hash(index_id: str, shard: int) -> str:
    """The hash folder name of a shard (FNV_1A_COMPOSITE_1 of ``<shard><index id>``, 20 bits)."""
    bits = format(fnv1a64(f"{shard}{index_id}"), "064b")
    return _BASE64URL[int(bits[:6], 2)] + bits[6:20]


def join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def shard_folder(base: str, index_id: str, shard: int, path_type: int = FIXED) -> str:
    """The key prefix (with a trailing slash) of a shard's folder for a repository at ``base``."""
    sub = f"indices/{index_id}/{shard}"
    if path_type == HASHED_PREFIX:
        return join(shard_hash(index_id, shard), base, sub) + "/"
    if path_type == HASHED_INFIX:
        return join(base, shard_hash(index_id, shard), sub) + "/"
    if path_type != FIXED:
        raise FormatError(f"shard_path_type {path_type} of index {index_id} is not known (0, 1 or 2)")
    return join(base, sub) + "/"


def shard_paths(data: bytes) -> list[str]:
    """The shard folders a ``snapshot_shard_paths`` blob names, as written (with the writer's base
    path). Raises FormatError when it is not the JSON OpenSearch writes."""
    try:
        doc = json.loads(bytes(data).decode("utf-8"))
        paths = doc.get("paths", [])
    except (UnicodeDecodeError, ValueError, AttributeError) as err:
        raise FormatError(f"not the JSON OpenSearch writes: {err}") from None
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise FormatError("'paths' is not a list of folder names")
    return paths


def rebase(path: str, base: str) -> str | None:
    """A hashed-prefix folder ``<hash>/<their base>/indices/...`` moved onto ``base``, with a
    trailing slash; None when ``path`` has no ``indices/`` part."""
    head, _, rest = path.partition("/")
    at = rest.find("indices/")
    if at < 0:
        return None
    return join(head, base, rest[at:]) + "/"
