"""The repository format reader, on real repositories written by every engine version devstack runs
(tests/unit/data/repos, made by devstack/repo_fixtures.py), and on hand-made bytes for the edge cases."""

from __future__ import annotations

import json
import struct
import zlib
from decimal import Decimal
from pathlib import Path

import pytest

from es_s3_snapshot import repoformat
from es_s3_snapshot.repoformat import blob, smile
from es_s3_snapshot.repoformat.crc import combine
from es_s3_snapshot.repoformat.model import FileInfo
from es_s3_snapshot.repoformat.storage import BlobMissing, FsStorage

REPOS = Path(__file__).parent / "data" / "repos"
ALL = sorted(p.name for p in REPOS.iterdir() if p.is_dir())
ENGINES = {"es-7.17.29", "es-8.19.21", "es-9.2.4", "os-1.3.20", "os-2.19.6", "os-3.3.2"}


def test_fixtures_cover_every_engine_version_with_compress_on_and_off():
    for engine in ENGINES:
        assert f"{engine}-compress" in ALL and f"{engine}-plain" in ALL, engine
    assert {"os-2.19.6-hashed", "os-3.3.2-hashed"} <= set(ALL)
    assert {"os-2.19.6-zstd", "os-3.3.2-zstd"} & set(ALL), "no OpenSearch repository with compression_type zstd"


def metadata_blobs(repo: Path):
    for path in sorted(repo.rglob("*")):
        if path.is_file() and (path.suffix == ".dat" or ("indices" in path.parts and path.name.startswith("index-"))):
            yield path


@pytest.mark.parametrize("name", ALL)
def test_every_metadata_blob_of_a_real_repository_passes_its_footer_and_decodes(name):
    repo = REPOS / name
    compressions = set()
    count = 0
    for path in metadata_blobs(repo):
        data = path.read_bytes()
        envelope = blob.open_envelope(data)
        compressions.add(envelope.compression)
        assert envelope.codec in ("snapshot", "metadata", "index-metadata", "snapshots"), path
        assert envelope.version == 1
        assert isinstance(smile.decode(envelope.body), dict)
        count += 1
    assert count >= 10
    expected = {"compress": "deflate", "zstd": "zstd"}.get(name.rsplit("-", 1)[1], "none")
    assert compressions == {expected}


@pytest.mark.parametrize("name", ALL)
def test_the_root_of_a_real_repository_reads_as_two_snapshots_of_two_indices(name):
    repo = REPOS / name
    generation = repoformat.latest_generation((repo / "index.latest").read_bytes())
    data = repoformat.repository_data((repo / f"index-{generation}").read_bytes(), generation)
    assert sorted(s.name for s in data.snapshots) == ["snap-1", "snap-2"]
    assert all(s.state == "SUCCESS" for s in data.snapshots)
    assert {"one", "two"} <= set(data.indices)
    assert len(data.indices["two"].shard_generations) == 2
    for snapshot in data.snapshots:
        info = repoformat.snapshot_info((repo / f"snap-{snapshot.uuid}.dat").read_bytes())
        assert (info.name, info.uuid, info.state, info.shallow) == (snapshot.name, snapshot.uuid, "SUCCESS", False)
        assert {"one", "two"} <= set(info.indices)
        repoformat.global_metadata((repo / f"meta-{snapshot.uuid}.dat").read_bytes())
        for index in data.indices_of(snapshot):
            meta = repoformat.index_metadata((repo / data.index_metadata_blob(index, snapshot)).read_bytes())
            assert meta.name == index.name
            assert meta.number_of_shards == len(index.shard_generations)


@pytest.mark.parametrize("name", ALL)
def test_every_file_of_a_real_shard_snapshot_matches_its_recorded_checksum_whole_and_in_parts(name):
    repo = REPOS / name
    storage = FsStorage(str(repo))
    generation = repoformat.latest_generation((repo / "index.latest").read_bytes())
    data = repoformat.repository_data((repo / f"index-{generation}").read_bytes(), generation)
    seen_parts = virtual = 0
    for index in data.indices.values():
        for shard, shard_gen in enumerate(index.shard_generations):
            folder = repoformat.shard_folder("", index.id, shard, index.shard_path_type)
            listed = {e.key[len(folder) :]: e.size for e in storage.list(folder, delimiter="/")[0]}
            generation_blob = repoformat.shard_generation(storage.read(f"{folder}index-{shard_gen}"))
            for snapshot in data.snapshots:
                files = repoformat.shard_snapshot(storage.read(f"{folder}snap-{snapshot.uuid}.dat")).files
                assert set(generation_blob.snapshots[snapshot.name]) == {f.name for f in files}
                for info in files:
                    assert info.crc is not None
                    if info.virtual:
                        content = info.meta_hash
                        virtual += 1
                    else:
                        parts = info.parts()
                        seen_parts += len(parts) > 1
                        for blob_name, size in parts:
                            assert listed[blob_name] == size, (blob_name, size)
                        content = b"".join(storage.read(folder + b) for b, _ in parts)
                    assert len(content) == info.length
                    footer = blob.read_footer(content)
                    assert footer.checksum == info.crc == zlib.crc32(content[:-8])
    assert virtual
    if name.endswith("-plain"):
        assert seen_parts, "chunk_size 4kb cut no file into parts"


@pytest.mark.parametrize("name", ["os-2.19.6-hashed", "os-3.3.2-hashed"])
def test_hashed_prefix_shard_folders_are_computed_as_opensearch_writes_them_and_lists(name):
    repo = REPOS / name
    data = repoformat.repository_data((repo / "index-1").read_bytes(), 1)
    written = {}
    for path in (repo / repoformat.SHARD_PATHS).iterdir():
        doc = json.loads(path.read_text())
        written[doc["indexId"]] = repoformat.shard_paths(path.read_bytes())
    for index in data.indices.values():
        assert index.shard_path_type == 1
        computed = [
            repoformat.shard_folder("", index.id, s, index.shard_path_type)
            for s in range(2 if index.name == "two" else 1)
        ]
        assert computed == written[index.id]
        for folder in computed:
            assert (repo / folder).is_dir()
            assert not folder.startswith("indices/")


def test_shard_folders_for_each_path_type_under_a_base_path():
    assert repoformat.shard_folder("b/p", "ID", 3) == "b/p/indices/ID/3/"
    hashed = repoformat.shard_hash("ID", 3)
    assert len(hashed) == 15 and set(hashed[1:]) <= {"0", "1"}
    assert repoformat.shard_folder("b/p", "ID", 3, 1) == f"{hashed}/b/p/indices/ID/3/"
    assert repoformat.shard_folder("b/p", "ID", 3, 2) == f"b/p/{hashed}/indices/ID/3/"
    with pytest.raises(repoformat.FormatError):
        repoformat.shard_folder("", "ID", 0, 7)
    assert repoformat.rebase("H/old/base/indices/ID/0/", "new") == "H/new/indices/ID/0/"
    assert repoformat.rebase("H/nothing/", "new") is None


def test_shard_paths_refuses_what_is_not_opensearch_json():
    with pytest.raises(repoformat.FormatError):
        repoformat.shard_paths(b"not json")
    with pytest.raises(repoformat.FormatError):
        repoformat.shard_paths(b'{"paths": "x"}')


# --- the checksummed envelope ------------------------------------------------------------------


def real_blob() -> bytes:
    return next(metadata_blobs(REPOS / "es-8.19.21-compress")).read_bytes()


def test_a_flipped_byte_in_a_checksummed_blob_is_a_checksum_mismatch():
    data = bytearray(real_blob())
    data[len(data) // 2] ^= 0x01
    with pytest.raises(blob.ChecksumMismatch) as caught:
        blob.open_envelope(bytes(data))
    assert caught.value.problem == "checksum"


def test_a_cut_short_checksummed_blob_is_refused():
    data = real_blob()
    with pytest.raises(blob.FormatError):
        blob.open_envelope(data[:-3])
    with pytest.raises(blob.FormatError) as caught:
        blob.open_envelope(data[:10])
    assert caught.value.problem == "truncated"


def test_the_expected_codec_is_enforced():
    with pytest.raises(blob.FormatError, match="codec"):
        blob.open_envelope(real_blob(), codec="no-such-codec")


def envelope(body: bytes, codec: str = "snapshot") -> bytes:
    head = struct.pack(">I", blob.CODEC_MAGIC) + bytes([len(codec)]) + codec.encode() + struct.pack(">i", 1)
    without_crc = head + body + struct.pack(">II", blob.FOOTER_MAGIC, 0)
    return without_crc + struct.pack(">Q", zlib.crc32(without_crc))


def test_a_hand_made_deflate_envelope_round_trips_and_a_cut_deflate_stream_is_refused():
    doc = b":)\n\x05\xfa\x80a\xc2\xfb"  # {"a": 1}
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = packer.compress(doc) + packer.flush()
    assert blob.read_checksummed(envelope(blob.DEFLATE_HEADER + deflated)) == {"a": 1}
    with pytest.raises(blob.FormatError, match="cut short"):
        blob.read_checksummed(envelope(blob.DEFLATE_HEADER + deflated[:-2]))


def test_a_zstd_envelope_without_the_zstandard_package_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(blob.MissingDecoder, match="zstandard"):
        blob.open_envelope(envelope(blob.ZSTD_HEADER + b"\x28\xb5\x2f\xfd"))


def test_a_lucene_footer_is_read_and_a_non_footer_refused():
    content = b"x" * 40 + struct.pack(">II", blob.FOOTER_MAGIC, 0)
    content += struct.pack(">Q", zlib.crc32(content))
    assert blob.verify(content) == zlib.crc32(content[:-8])
    with pytest.raises(blob.FormatError):
        blob.read_footer(b"y" * 16)
    with pytest.raises(blob.FormatError) as caught:
        blob.read_footer(b"short")
    assert caught.value.problem == "truncated"


# --- SMILE, hand-made ---------------------------------------------------------------------------


def vint(value: int) -> bytes:
    """Smile's unsigned VInt: 7 bits a byte, the last byte 0x80 | 6 bits."""
    last = 0x80 | (value & 0x3F)
    value >>= 6
    out = [last]
    while value:
        out.append(value & 0x7F)
        value >>= 7
    return bytes(reversed(out))


def zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 63)


def seven_bit(raw: bytes) -> bytes:
    out = bytearray()
    for start in range(0, len(raw) - len(raw) % 7, 7):
        acc = int.from_bytes(raw[start : start + 7], "big")
        out += bytes((acc >> (7 * (7 - i))) & 0x7F for i in range(8))
    tail = raw[len(raw) - len(raw) % 7 :]
    if tail:
        n = len(tail)
        acc = int.from_bytes(tail, "big")
        out += bytes((acc >> (n + 7 * (n - 1 - i))) & 0x7F for i in range(n))
        out.append(acc & ((1 << n) - 1))
    return bytes(out)


def doc(body: bytes, flags: int = 0x07) -> bytes:
    return b":)\n" + bytes([flags]) + body


def test_smile_scalars_literals_and_numbers():
    body = (
        b"\xfa"
        + b"\x80a" + b"\x21"  # a: null
        + b"\x80b" + b"\x23"  # b: true
        + b"\x80c" + b"\x22"  # c: false
        + b"\x80d" + b"\x20"  # d: ""
        + b"\x80e" + b"\xdf"  # e: small int -16
        + b"\x80f" + b"\x24" + vint(zigzag(123456))
        + b"\x80g" + b"\x25" + vint(zigzag(-(2**40)))
        + b"\x80h" + b"\x26" + vint(9) + seven_bit((2**70).to_bytes(9, "big"))
        + b"\x80i" + b"\x2a" + vint(zigzag(2)) + vint(2) + seven_bit((12345).to_bytes(2, "big"))
        + b"\x80j" + b"\x29" + seven_bit_float(struct.pack(">d", 2.5), 10)
        + b"\x80k" + b"\x28" + seven_bit_float(struct.pack(">f", -0.75), 5)
        + b"\xfb"
    )  # fmt: skip
    assert smile.decode(doc(body)) == {
        "a": None,
        "b": True,
        "c": False,
        "d": "",
        "e": -16,
        "f": 123456,
        "g": -(2**40),
        "h": 2**70,
        "i": Decimal("123.45"),
        "j": 2.5,
        "k": -0.75,
    }


def seven_bit_float(raw: bytes, count: int) -> bytes:
    value = int.from_bytes(raw, "big")
    return bytes((value >> (7 * (count - 1 - i))) & 0x7F for i in range(count))


def test_smile_strings_binary_and_arrays():
    long_ascii = "x" * 100
    unicode_short = "häh"  # 4 bytes in UTF-8
    raw = bytes(range(256))
    body = (
        b"\xf8"
        + b"\xe0" + long_ascii.encode() + b"\xfc"
        + b"\xe4" + ("ü" * 40).encode() + b"\xfc"
        + bytes([0x80 + len(unicode_short.encode()) - 2]) + unicode_short.encode()
        + b"\xfd" + vint(len(raw)) + raw
        + b"\xe8" + vint(10) + seven_bit(raw[:10])
        + b"\xf8\xf9"
        + b"\xf9"
    )  # fmt: skip
    assert smile.decode(doc(body)) == [long_ascii, "ü" * 40, unicode_short, raw, raw[:10], []]


def test_smile_shared_names_and_values_resolve_and_long_references_work():
    names = [f"k{n}" for n in range(70)]
    body = b"\xf8"
    for name in names:  # one object per name, each with the name once: the table fills
        body += b"\xfa" + bytes([0x80 + len(name) - 1]) + name.encode() + b"\x40v" + b"\xfb"
    body += b"\xfa" + b"\x40" + b"\x01" + b"\xfb"  # short name ref 0 (k0), short value ref 1 -> index 0 ("v")
    body += b"\xfa" + b"\x30\x45" + b"\xec\x00" + b"\xfb"  # long name ref 69 (k69), long value ref 0
    body += b"\xf9"
    decoded = smile.decode(doc(body, flags=0x03))
    assert decoded[0] == {"k0": "v"}
    assert decoded[-2] == {"k0": "v"}
    assert decoded[-1] == {"k69": "v"}


def test_smile_shared_name_table_starts_over_after_1024_names():
    body = b"\xfa"
    for n in range(1025):
        name = f"n{n:04d}"
        body += bytes([0x80 + len(name) - 1]) + name.encode() + b"\xc0"
    body += b"\xfb"
    decoded = smile.decode(doc(b"\xf8" + body + b"\xfa\x40\xc2\xfb\xf9", flags=0x01))
    assert decoded[1] == {"n1024": 1}  # index 0 was overwritten by the 1025th name


@pytest.mark.parametrize(
    "body, message",
    [
        (b"\xfa\x40\x21\xfb", "never seen"),  # a name reference before any name
        (b"\x01", "never seen"),  # a value reference without shared values
        (b"\xfa\x80a", "cut short"),
        (b"\x21\x21", "after the end"),
        (b"\x2c", "reserved"),
        (b"\xe0abc", "end marker"),
        (b"\xfa\xf8", "key token"),
        (b"\x00", "0x00"),
    ],
)
def test_smile_refuses_malformed_documents(body, message):
    with pytest.raises(smile.SmileError, match=message):
        smile.decode(doc(body, flags=0x05))


def test_smile_refuses_a_missing_header_and_an_unknown_version():
    with pytest.raises(smile.SmileError, match="header"):
        smile.decode(b"{}")
    with pytest.raises(smile.SmileError, match="version"):
        smile.decode(b":)\n\x15\x21")
    assert smile.decode(b":)\n\x00\x21\xff") is None  # the optional end marker


# --- the rest -----------------------------------------------------------------------------------


def test_crc32_of_consecutive_pieces_combines_to_the_whole():
    import os

    for a, b in [(0, 5), (7, 0), (100, 1), (1000, 4096), (12345, 70001)]:
        left, right = os.urandom(a), os.urandom(b)
        assert combine(zlib.crc32(left), zlib.crc32(right), len(right)) == zlib.crc32(left + right)


def test_file_parts_follow_part_size_and_a_long_max_part_size_means_one_blob():
    info = FileInfo("__a", "_0.cfs", 10_000, "x", 4096)
    assert info.parts() == [("__a.part0", 4096), ("__a.part1", 4096), ("__a.part2", 1808)]
    assert FileInfo("__a", "_0.cfs", 4096, "x", 4096).parts() == [("__a", 4096)]
    assert FileInfo("__a", "_0.cfs", 10, "x", 2**63 - 1).parts() == [("__a", 10)]
    assert FileInfo("v__a", "_0.si", 10, "x", None, b"0123456789").parts() == []
    assert FileInfo("__a", "x", 1, "_na_", None).crc is None


def test_index_latest_must_be_eight_bytes():
    assert repoformat.latest_generation(b"\0" * 7 + b"\x05") == 5
    with pytest.raises(repoformat.FormatError):
        repoformat.latest_generation(b"\x05")


def test_repository_data_that_is_not_json_is_a_format_error_and_encryption_is_recognised():
    with pytest.raises(repoformat.FormatError):
        repoformat.repository_data(b"\x02\x05\x78garbage", 3)
    assert repoformat.looks_encrypted(b"\x02\x05\x78garbage")
    assert not repoformat.looks_encrypted(b'{"snapshots": []}')


def test_fs_storage_lists_reads_ranges_and_streams(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "x").write_bytes(b"0123456789")
    (tmp_path / "a" / "b" / "y").write_bytes(b"")
    storage = FsStorage(str(tmp_path))
    entries, prefixes = storage.list("a/", delimiter="/")
    assert [(e.key, e.size) for e in entries] == [("a/x", 10)] and prefixes == ["a/b/"]
    assert sorted(e.key for e in storage.list("a/")[0]) == ["a/b/y", "a/x"]
    assert storage.list("nothing/") == ([], [])
    assert storage.read_range("a/x", 2, 3) == b"234"
    assert [bytes(c) for c in storage.stream("a/x", 3)] == [b"012", b"345", b"678", b"9"]  # one reused buffer
    assert [bytes(c) for c in storage.stream_range("a/x", 2, 5, 3)] == [b"234", b"56"]
    with pytest.raises(BlobMissing):
        storage.read("a/missing")


def test_the_crc32_in_use_gives_zlibs_values():
    import os

    from es_s3_snapshot.repoformat.crc import crc32

    data = os.urandom(100_000)
    assert crc32(data) == zlib.crc32(data) and crc32(data[50:], crc32(data[:50])) == zlib.crc32(data)
