"""CRC32 of a file read in pieces: ``crc32`` (zlib-ng's SIMD one, a dependency, about seven times
the speed of the standard library's here; ``zlib.crc32``, the same values, when it cannot load),
and ``combine``, which joins the CRC32s of two consecutive pieces (zlib's crc32_combine, which
Python's zlib does not expose), so that a file's parts can be read in parallel."""

from __future__ import annotations

import zlib

try:  # a dependency (setup.py); the standard library's when it cannot load
    from zlib_ng.zlib_ng import crc32
except ImportError:  # pragma: no cover - depends on what is installed
    crc32 = zlib.crc32

_POLY = 0xEDB88320


def _times(matrix: list[int], vector: int) -> int:
    total = 0
    row = 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _square(matrix: list[int]) -> list[int]:
    return [_times(matrix, matrix[n]) for n in range(32)]


def combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC32 of A + B from crc1 = CRC32(A), crc2 = CRC32(B) and length2 = len(B)."""
    if length2 <= 0:
        return crc1
    odd = [_POLY] + [1 << n for n in range(31)]  # the operator for one zero bit
    even = _square(odd)  # two zero bits
    odd = _square(even)  # four zero bits
    while True:  # apply len2 zero bytes to crc1, one bit of length2 at a time
        even = _square(odd)
        if length2 & 1:
            crc1 = _times(even, crc1)
        length2 >>= 1
        if not length2:
            break
        odd = _square(even)
        if length2 & 1:
            crc1 = _times(odd, crc1)
        length2 >>= 1
        if not length2:
            break
    return crc1 ^ crc2
