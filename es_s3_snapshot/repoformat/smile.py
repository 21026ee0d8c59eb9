"""A strict decoder of SMILE, the binary JSON that Elasticsearch and OpenSearch write their snapshot
metadata in (written from Jackson's SMILE format specification).

``decode(data)`` turns one SMILE document into Python values: dict, list, str, int, float, Decimal,
bool, None and bytes (binary values such as ``meta_hash``). It handles every token of the format
version 0: shared property names and shared string values (the header says which are in use), long
and short strings, raw binary (0xFD) and 7-bit binary, 32/64-bit and big integers, floats, doubles
and big decimals. Anything else (a reserved token, a back-reference to nothing, a document cut
short, bytes after the end) raises SmileError: corrupt metadata is never read as something else.
"""

from __future__ import annotations

import struct
from typing import Any

HEADER = b":)\n"
_TABLE_SIZE = 1024  # both back-reference tables are cleared when they fill up
_MAX_DEPTH = 512


class SmileError(ValueError):
    """The bytes are not a well-formed SMILE document."""


class _Reader:
    def __init__(self, data: bytes, shared_names: bool, shared_values: bool):
        self.data = data
        self.pos = 0
        self.names: list[str] | None = [] if shared_names else None
        self.values: list[str] | None = [] if shared_values else None
        self.name_count = 0
        self.value_count = 0

    # --- primitives ---------------------------------------------------------------------------

    def fail(self, what: str) -> SmileError:
        return SmileError(f"{what} at byte {self.pos}")

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("document cut short")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if count < 0 or end > len(self.data):
            raise self.fail(f"document cut short (wanted {count} bytes)")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def vint(self) -> int:
        """An unsigned VInt: 7 bits a byte, the last byte marked by its high bit and holding 6 bits."""
        value = 0
        for _ in range(11):
            b = self.byte()
            if b & 0x80:
                if b & 0x40:
                    raise self.fail(f"bad VInt end byte 0x{b:02X}")
                return (value << 6) | (b & 0x3F)
            value = (value << 7) | b
        raise self.fail("VInt too long")

    @staticmethod
    def zigzag(value: int) -> int:
        return (value >> 1) ^ -(value & 1)

    def seven_bit(self, length: int) -> bytes:
        """``length`` bytes stored 7 bits per byte: each 7 bytes in 8, a tail of n bytes in n + 1."""
        whole, tail = divmod(length, 7)
        encoded = self.take(whole * 8 + (tail + 1 if tail else 0))
        if any(b & 0x80 for b in encoded):
            raise self.fail("7-bit binary holds a byte with its high bit set")
        out = bytearray()
        for group in range(whole):
            acc = 0
            for b in encoded[group * 8 : group * 8 + 8]:
                acc = (acc << 7) | b
            out += acc.to_bytes(7, "big")
        if tail:
            rest = encoded[whole * 8 :]
            acc = 0
            for b in rest[:-1]:
                acc = (acc << 7) | b
            acc = (acc << tail) | (rest[-1] & ((1 << tail) - 1))
            out += acc.to_bytes(tail, "big")
        return bytes(out)

    def text(self, count: int) -> str:
        raw = self.take(count)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise self.fail(f"string is not UTF-8 ({err.reason})") from None

    def long_text(self) -> str:
        end = self.data.find(b"\xfc", self.pos)
        if end < 0:
            raise self.fail("long string has no end marker")
        value = self.text(end - self.pos)
        self.pos += 1
        return value

    # --- back-reference tables ----------------------------------------------------------------

    def remember_name(self, name: str) -> None:
        if self.names is None:
            return
        if self.name_count >= _TABLE_SIZE:
            self.name_count = 0
        if self.name_count < len(self.names):
            self.names[self.name_count] = name
        else:
            self.names.append(name)
        self.name_count += 1

    def remember_value(self, value: str) -> None:
        if self.values is None:
            return
        if self.value_count >= _TABLE_SIZE:
            self.value_count = 0
        if self.value_count < len(self.values):
            self.values[self.value_count] = value
        else:
            self.values.append(value)
        self.value_count += 1

    def shared_name(self, index: int) -> str:
        if self.names is None or index >= self.name_count:
            raise self.fail(f"reference to shared name {index}, which was never seen")
        return self.names[index]

    def shared_value(self, index: int) -> str:
        if self.values is None or index >= self.value_count:
            raise self.fail(f"reference to shared string value {index}, which was never seen")
        return self.values[index]

    # --- values -------------------------------------------------------------------------------

    def value(self, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise self.fail("nested too deep")
        b = self.byte()
        kind = b >> 5
        if kind == 0:  # 0x01-0x1F: short shared value reference (0x00 is not a token)
            if b == 0:
                raise self.fail("token 0x00")
            return self.shared_value(b - 1)
        if kind == 1:
            return self.literal_or_number(b)
        if kind in (2, 3):  # tiny / short ASCII, 1-64 bytes
            value = self.text((b & 0x3F) + 1)
            self.remember_value(value)
            return value
        if kind in (4, 5):  # tiny / short Unicode, 2-65 bytes
            value = self.text((b & 0x3F) + 2)
            self.remember_value(value)
            return value
        if kind == 6:  # small integer, -16..15
            return self.zigzag(b & 0x1F)
        return self.misc(b, depth)

    def literal_or_number(self, b: int) -> Any:
        if b == 0x20:
            return ""
        if b == 0x21:
            return None
        if b == 0x22:
            return False
        if b == 0x23:
            return True
        if b in (0x24, 0x25):  # 32-bit / 64-bit integer, zigzag VInt
            return self.zigzag(self.vint())
        if b == 0x26:  # BigInteger: two's complement bytes, 7-bit encoded
            return int.from_bytes(self.seven_bit(self.vint()), "big", signed=True)
        if b == 0x28:  # float: 32 bits in 5 bytes
            raw = self.take(5)
            bits = 0
            for x in raw:
                bits = (bits << 7) | x
            return struct.unpack(">f", (bits & 0xFFFFFFFF).to_bytes(4, "big"))[0]
        if b == 0x29:  # double: 64 bits in 10 bytes
            raw = self.take(10)
            bits = 0
            for x in raw:
                bits = (bits << 7) | x
            return struct.unpack(">d", (bits & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big"))[0]
        if b == 0x2A:  # BigDecimal: zigzag scale, then the unscaled value as a BigInteger
            scale = self.zigzag(self.vint())
            unscaled = int.from_bytes(self.seven_bit(self.vint()), "big", signed=True)
            from decimal import Decimal  # 3 ms of imports, for a type repositories rarely hold

            return Decimal(unscaled).scaleb(-scale)
        raise self.fail(f"reserved value token 0x{b:02X}")

    def misc(self, b: int, depth: int) -> Any:
        if b in (0xE0, 0xE4):  # long ASCII / Unicode text, up to the 0xFC end marker
            return self.long_text()
        if b == 0xE8:
            return self.seven_bit(self.vint())
        if 0xEC <= b <= 0xEF:
            return self.shared_value(((b & 0x03) << 8) | self.byte())
        if b == 0xF8:
            items = []
            while True:
                if self.pos < len(self.data) and self.data[self.pos] == 0xF9:
                    self.pos += 1
                    return items
                items.append(self.value(depth + 1))
        if b == 0xFA:
            return self.object(depth + 1)
        if b == 0xFD:
            return bytes(self.take(self.vint()))
        raise self.fail(f"unexpected value token 0x{b:02X}")

    def key(self) -> str | None:
        """The next property name, or None at the end of the object."""
        b = self.byte()
        if b == 0xFB:
            return None
        if b == 0x20:
            return ""
        if 0x30 <= b <= 0x33:
            return self.shared_name(((b & 0x03) << 8) | self.byte())
        if b == 0x34:
            name = self.long_text()
            self.remember_name(name)
            return name
        if 0x40 <= b <= 0x7F:
            return self.shared_name(b & 0x3F)
        if 0x80 <= b <= 0xBF:
            name = self.text((b & 0x3F) + 1)
            self.remember_name(name)
            return name
        if 0xC0 <= b <= 0xF7:
            name = self.text((b & 0x3F) + 2)
            self.remember_name(name)
            return name
        raise self.fail(f"unexpected key token 0x{b:02X}")

    def object(self, depth: int) -> dict:
        result: dict[str, Any] = {}
        while True:
            name = self.key()
            if name is None:
                return result
            result[name] = self.value(depth)


def decode(data: bytes) -> Any:
    """The value of the SMILE document ``data`` (header required); raise SmileError when the bytes
    are not exactly one well-formed document (an optional 0xFF end marker may follow it)."""
    data = bytes(data)
    if len(data) < 4 or data[:3] != HEADER:
        raise SmileError("no SMILE header (:)\\n)")
    flags = data[3]
    if flags >> 4:
        raise SmileError(f"SMILE version {flags >> 4} is not known (only 0)")
    reader = _Reader(data, shared_names=bool(flags & 0x01), shared_values=bool(flags & 0x02))
    reader.pos = 4
    value = reader.value(0)
    if reader.pos < len(data) and data[reader.pos] == 0xFF:
        reader.pos += 1
    if reader.pos != len(data):
        raise reader.fail(f"{len(data) - reader.pos} bytes after the end of the document")
    return value
