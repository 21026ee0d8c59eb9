"""The checksummed blob envelope of snapshot metadata, and the footer every Lucene file ends with.

A metadata blob (``snap-*.dat``, ``meta-*.dat``, shard ``index-<gen>``) is::

    3F D7 6C 17 | <len><codec> | 00 00 00 01 | body | C0 28 93 E8 | 00 00 00 00 | CRC32 (8 bytes)

The body is SMILE, or ``DFL\\0`` + raw DEFLATE of SMILE (``compress: true``), or ``ZSTD\\0`` + a zstd
frame (OpenSearch's zstd compressor). The CRC32 covers every byte before it, so it is checked on
the stored bytes. Every Lucene file ends with the same 16-byte footer.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

from .smile import SmileError, decode

CODEC_MAGIC = 0x3FD76C17
FOOTER_MAGIC = 0xC02893E8  # ~CODEC_MAGIC
FOOTER_LENGTH = 16
DEFLATE_HEADER = b"DFL\x00"
ZSTD_HEADER = b"ZSTD\x00"
MAX_INFLATED = 1024**3  # a metadata blob never inflates to more than this


class FormatError(ValueError):
    """Bytes that are not what the repository format says they should be; ``problem`` is one word
    for reports: "checksum" (the footer CRC does not match), "truncated", "format"."""

    def __init__(self, message: str, problem: str = "format"):
        super().__init__(message)
        self.problem = problem


class MissingDecoder(Exception):
    """The blob is compressed with a codec whose Python package is not installed (zstd): nothing
    can be said about it, and it is not damage."""


class ChecksumMismatch(FormatError):
    def __init__(self, message: str):
        super().__init__(message, "checksum")


@dataclass(frozen=True)
class Footer:
    checksum: int  # the CRC32 the footer holds
    algorithm: int


def read_footer(tail: bytes) -> Footer:
    """The Lucene footer in the last 16 bytes of ``tail``; raise FormatError if it is not one."""
    if len(tail) < FOOTER_LENGTH:
        raise FormatError(f"{len(tail)} bytes are too short for a Lucene footer", "truncated")
    magic, algorithm, checksum = struct.unpack(">IIQ", tail[-FOOTER_LENGTH:])
    if magic != FOOTER_MAGIC:
        raise FormatError(f"no Lucene footer (magic {magic:08X}, not {FOOTER_MAGIC:08X})")
    if algorithm != 0:
        raise FormatError(f"footer checksum algorithm {algorithm} is not CRC32 (0)")
    if checksum >> 32:
        raise FormatError(f"footer checksum {checksum:X} is not a CRC32 (high bits set)")
    return Footer(checksum, algorithm)


def verify(data: bytes) -> int:
    """Check the footer and the CRC32 of a whole checksummed blob or Lucene file; returns the CRC.

    Raises FormatError (no footer) or ChecksumMismatch."""
    footer = read_footer(data)
    actual = zlib.crc32(memoryview(data)[:-8])
    if actual != footer.checksum:
        raise ChecksumMismatch(f"CRC32 is {actual:08x}, the footer says {footer.checksum:08x}")
    return footer.checksum


@dataclass(frozen=True)
class Envelope:
    codec: str
    version: int
    compression: str  # "none", "deflate" or "zstd"
    body: bytes  # the SMILE document, decompressed


def open_envelope(data: bytes, codec: str | None = None) -> Envelope:
    """Check a checksummed blob (header, footer, CRC32) and return its decompressed body.

    ``codec``: the codec name expected in the header ("snapshot", "metadata", "index-metadata",
    "snapshots"), or None for any. Raises FormatError or ChecksumMismatch."""
    data = bytes(data)
    if len(data) < 4 + 1 + 4 + FOOTER_LENGTH:
        raise FormatError(f"{len(data)} bytes are too short for a checksummed blob", "truncated")
    if struct.unpack(">I", data[:4])[0] != CODEC_MAGIC:
        raise FormatError(f"no codec header (starts {data[:4].hex()}, not {CODEC_MAGIC:08x})")
    verify(data)
    length = data[4]
    if length & 0x80:
        raise FormatError("codec name longer than 127 bytes")
    name = data[5 : 5 + length].decode("ascii", "replace")
    if codec is not None and name != codec:
        raise FormatError(f"codec is {name!r}, not {codec!r}")
    (version,) = struct.unpack(">i", data[5 + length : 9 + length])
    body = data[9 + length : -FOOTER_LENGTH]
    if body.startswith(DEFLATE_HEADER):
        return Envelope(name, version, "deflate", _inflate(body[len(DEFLATE_HEADER) :]))
    if body.startswith(ZSTD_HEADER):
        return Envelope(name, version, "zstd", _unzstd(body[len(ZSTD_HEADER) :]))
    return Envelope(name, version, "none", body)


def _inflate(raw: bytes) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(raw, MAX_INFLATED)
    except zlib.error as err:
        raise FormatError(f"DEFLATE body does not inflate: {err}") from None
    if inflater.unconsumed_tail:
        raise FormatError(f"DEFLATE body inflates to more than {MAX_INFLATED} bytes")
    if not inflater.eof:
        raise FormatError("DEFLATE body is cut short", "truncated")
    return out


def _unzstd(raw: bytes) -> bytes:
    try:
        import zstandard  # optional: only OpenSearch repositories with compression_type zstd need it
    except ImportError:
        raise MissingDecoder(
            "the blob is zstd-compressed (OpenSearch compression_type: zstd) and the Python package zstandard "
            "is not installed: pip install zstandard (or es-s3-snapshot[zstd])"
        ) from None
    try:
        return zstandard.ZstdDecompressor().decompress(raw, max_output_size=MAX_INFLATED)
    except zstandard.ZstdError as err:
        raise FormatError(f"zstd body does not decompress: {err}") from None


def read_checksummed(data: bytes, codec: str | None = None) -> Any:
    """The SMILE document inside a checksummed blob, decoded. Raises FormatError."""
    envelope = open_envelope(data, codec)
    try:
        return decode(envelope.body)
    except SmileError as err:
        raise FormatError(f"{envelope.codec} body is not valid SMILE: {err}") from None
