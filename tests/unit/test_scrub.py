"""-m scrub on copies of real repositories (tests/unit/data/repos), damaged on purpose, and through
the command line with the seeds at a dead port."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from es_s3_snapshot import cli, repoformat
from es_s3_snapshot.actions.scrub import scrub
from es_s3_snapshot.errors import OperationFailed
from es_s3_snapshot.repoformat.storage import FsStorage

from .upstream import dead_port

REPOS = Path(__file__).parent / "data" / "repos"
ALL = sorted(p.name for p in REPOS.iterdir() if p.is_dir())


@pytest.fixture
def copy(tmp_path):
    def copy(name: str = "es-8.19.21-plain") -> Path:
        target = tmp_path / name
        shutil.copytree(REPOS / name, target)
        return target

    return copy


class Layout:
    """Where things are in a fixture repository, read with the reader itself."""

    def __init__(self, root: Path):
        self.root = root
        generation = repoformat.latest_generation((root / "index.latest").read_bytes())
        self.generation = generation
        self.data = repoformat.repository_data((root / f"index-{generation}").read_bytes(), generation)
        self.uuid = {s.name: s.uuid for s in self.data.snapshots}

    def folder(self, index: str, shard: int = 0) -> Path:
        entry = self.data.indices[index]
        return self.root / repoformat.shard_folder("", entry.id, shard, entry.shard_path_type)

    def files(self, index: str, snapshot: str, shard: int = 0) -> dict[str, repoformat.FileInfo]:
        blob = self.folder(index, shard) / f"snap-{self.uuid[snapshot]}.dat"
        return {f.name: f for f in repoformat.shard_snapshot(blob.read_bytes()).files if not f.virtual}

    def only_in(self, index: str, snapshot: str, other: str) -> repoformat.FileInfo:
        mine, theirs = self.files(index, snapshot), self.files(index, other)
        return next(f for name, f in mine.items() if name not in theirs)

    def shared(self, index: str) -> repoformat.FileInfo:
        mine, theirs = self.files(index, "snap-1"), self.files(index, "snap-2")
        return max((f for name, f in mine.items() if name in theirs), key=lambda f: f.length)


def verdicts(result) -> dict[str, list]:
    return {v.entry.name: v.problems for v in result.verdicts}


@pytest.mark.parametrize("name", ALL)
def test_every_real_repository_scrubs_ok_with_and_without_reading_the_data(name):
    storage = FsStorage(str(REPOS / name))
    metadata = scrub(storage)
    assert metadata.restorable and [v.restorable for v in metadata.verdicts] == [True, True]
    assert metadata.tally.data_blobs == 0
    full = scrub(storage, fraction=1.0, workers=3)
    assert full.restorable, [p.text() for v in full.verdicts for p in v.problems]
    assert full.tally.data_blobs > 0
    folders = full.tally.shard_folders
    assert folders == sum(len(i.shard_generations) for i in Layout(REPOS / name).data.indices.values())


def test_a_deleted_data_blob_of_one_snapshot_damages_that_snapshot_only(copy):
    root = copy()
    layout = Layout(root)
    gone = layout.only_in("one", "snap-2", "snap-1")
    for blob, _ in gone.parts():
        (layout.folder("one") / blob).unlink()
    found = verdicts(scrub(FsStorage(str(root))))
    assert found["snap-1"] == []
    (problem, *_) = found["snap-2"]
    assert (problem.index, problem.shard, problem.file, problem.problem) == ("one", 0, gone.physical_name, "missing")
    assert problem.blob.startswith(f"indices/{layout.data.indices['one'].id}/0/{gone.name}")


def test_a_deleted_data_blob_shared_by_all_snapshots_damages_them_all(copy):
    root = copy()
    layout = Layout(root)
    shared = layout.shared("one")
    (layout.folder("one") / shared.parts()[-1][0]).unlink()
    found = verdicts(scrub(FsStorage(str(root))))
    assert [p.problem for p in found["snap-1"]] == [p.problem for p in found["snap-2"]] == ["missing"]


def test_a_truncated_data_blob_is_short(copy):
    root = copy()
    layout = Layout(root)
    shared = layout.shared("two")
    blob = layout.folder("two") / shared.parts()[0][0]
    blob.write_bytes(blob.read_bytes()[:-100])
    problems = verdicts(scrub(FsStorage(str(root))))["snap-1"]
    assert [(p.problem, p.file) for p in problems] == [("short", shared.physical_name)]
    assert "expected" in problems[0].detail


def test_a_flipped_byte_in_a_data_blob_is_found_only_by_reading_the_data(copy):
    root = copy("os-3.3.2-hashed")
    layout = Layout(root)
    shared = layout.shared("one")
    blob = layout.folder("one") / shared.parts()[0][0]
    data = bytearray(blob.read_bytes())
    data[len(data) // 3] ^= 0x40
    blob.write_bytes(bytes(data))
    storage = FsStorage(str(root))
    assert scrub(storage).restorable
    result = scrub(storage, fraction=1.0)
    assert not result.restorable
    for problems in verdicts(result).values():
        assert [(p.problem, p.file) for p in problems] == [("checksum", shared.physical_name)]
        assert "content CRC32" in problems[0].detail


def test_a_changed_footer_in_a_chunked_file_differs_from_the_recorded_checksum(copy):
    root = copy("es-7.17.29-plain")
    layout = Layout(root)
    chunked = next(f for f in layout.files("one", "snap-1").values() if len(f.parts()) > 1)
    last = layout.folder("one") / chunked.parts()[-1][0]
    data = bytearray(last.read_bytes())
    data[-1] ^= 0x01
    last.write_bytes(bytes(data))
    result = scrub(FsStorage(str(root)), fraction=1.0)
    problems = verdicts(result)["snap-1"]
    assert [p.problem for p in problems] == ["checksum"]
    assert "the snapshot recorded" in problems[0].detail


def test_a_flipped_byte_in_a_shard_level_blob_fails_its_footer(copy):
    root = copy("es-9.2.4-compress")
    layout = Layout(root)
    target = layout.folder("two", 1) / f"snap-{layout.uuid['snap-1']}.dat"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    found = verdicts(scrub(FsStorage(str(root))))
    assert [(p.index, p.shard, p.problem) for p in found["snap-1"]] == [("two", 1, "checksum")]
    assert found["snap-2"] == []


def test_a_flipped_byte_in_a_shard_generation_blob_damages_the_snapshots_of_that_shard(copy):
    root = copy("os-1.3.20-compress")
    layout = Layout(root)
    (generation,) = layout.folder("one").glob("index-*")
    data = bytearray(generation.read_bytes())
    data[20] ^= 0x01
    generation.write_bytes(bytes(data))
    found = verdicts(scrub(FsStorage(str(root))))
    for name in ("snap-1", "snap-2"):
        assert [(p.index, p.problem, Path(p.blob).name) for p in found[name]] == [("one", "checksum", generation.name)]


def test_a_deleted_index_metadata_blob_is_missing_for_the_snapshots_using_it(copy):
    root = copy("es-7.17.29-compress")
    layout = Layout(root)
    snapshot = layout.data.snapshots[0]
    blob = layout.data.index_metadata_blob(layout.data.indices["two"], snapshot)
    (root / blob).unlink()
    found = verdicts(scrub(FsStorage(str(root))))
    assert all(("two", None, "missing", blob) == (p.index, p.shard, p.problem, p.blob) for p in found[snapshot.name])
    assert found[snapshot.name]


def test_a_deleted_root_snap_blob_damages_that_snapshot_only(copy):
    root = copy("os-2.19.6-plain")
    layout = Layout(root)
    (root / f"snap-{layout.uuid['snap-1']}.dat").unlink()
    found = verdicts(scrub(FsStorage(str(root))))
    assert [(p.problem, p.blob) for p in found["snap-1"]] == [("missing", f"snap-{layout.uuid['snap-1']}.dat")]
    assert found["snap-2"] == []


def test_a_deleted_index_n_makes_the_repository_unreadable(copy):
    root = copy("es-8.19.21-compress")
    generation = Layout(root).generation
    (root / f"index-{generation}").unlink()
    result = scrub(FsStorage(str(root)))
    assert not result.restorable and result.verdicts == []
    assert [(p.problem, p.blob) for p in result.repository_problems] == [("missing", f"index-{generation}")]


def test_a_deleted_index_latest_is_reported_and_the_newest_index_n_read(copy):
    root = copy("es-8.19.21-compress")
    (root / "index.latest").unlink()
    result = scrub(FsStorage(str(root)))
    assert [p.problem for p in result.repository_problems] == ["missing"]
    assert [v.restorable for v in result.verdicts] == [True, True]


def test_a_missing_part_of_a_chunked_file_is_named(copy):
    root = copy("os-3.3.2-plain")
    layout = Layout(root)
    chunked = next(f for f in layout.files("one", "snap-1").values() if len(f.parts()) > 1)
    (layout.folder("one") / chunked.parts()[1][0]).unlink()
    problems = verdicts(scrub(FsStorage(str(root))))["snap-1"]
    assert [(p.problem, Path(p.blob).name) for p in problems] == [("missing", chunked.parts()[1][0])]


def test_a_subset_reads_a_different_random_sample_each_seed():
    storage = FsStorage(str(REPOS / "es-9.2.4-plain"))
    everything = scrub(storage, fraction=1.0).tally.data_blobs
    samples = {scrub(storage, fraction=0.5, seed=seed).tally.data_blobs for seed in range(12)}
    assert len(samples) > 1
    assert all(0 <= n < everything for n in samples - {everything})


def test_snapshot_patterns_select_and_a_pattern_matching_nothing_fails():
    storage = FsStorage(str(REPOS / "os-1.3.20-plain"))
    assert [v.entry.name for v in scrub(storage, patterns=("*-2",)).verdicts] == ["snap-2"]
    assert [v.entry.name for v in scrub(storage, patterns=("snap-1",)).verdicts] == ["snap-1"]
    with pytest.raises(OperationFailed, match="no snapshot"):
        scrub(storage, patterns=("nope*",))


# --- through the command line -------------------------------------------------------------------


def fs_config(tmp_path: Path, location: Path, extra: str = "") -> str:
    path = tmp_path / "scrub.conf"
    path.write_text(
        f"""
[elasticsearch_config]
es_repository_name = r
es_src_seed1 = 127.0.0.1:{dead_port()}
es_dest_seed1 = 127.0.0.1:{dead_port()}
index_names = *

[repository]
type = fs
location = {location}
{extra}
"""
    )
    path.chmod(0o600)
    return str(path)


def test_cli_scrub_of_a_good_repository_exits_0_with_a_line_per_snapshot_and_a_summary(tmp_path, copy, capsys):
    root = copy()
    code = cli.main(["-m", "scrub", "-c", fs_config(tmp_path, root), "--read-data"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out[:2] == ["snap-1: ok", "snap-2: ok"]
    assert out[-1].startswith("scrub: 2 snapshots checked (all data), 0 damaged;") and "MB/s" in out[-1]


def test_cli_scrub_of_a_damaged_repository_exits_1_and_json_says_which(tmp_path, copy, capsys):
    root = copy()
    layout = Layout(root)
    gone = layout.only_in("one", "snap-2", "snap-1")
    (layout.folder("one") / gone.parts()[0][0]).unlink()
    code = cli.main(["-m", "scrub", "-c", fs_config(tmp_path, root), "--json"])
    captured = capsys.readouterr()
    assert code == 1
    doc = json.loads(captured.out)
    assert doc["restorable"] is False
    by_name = {s["name"]: s for s in doc["snapshots"]}
    assert by_name["snap-1"]["restorable"] is True and by_name["snap-1"]["problems"] == []
    (problem,) = by_name["snap-2"]["problems"]
    assert {k: problem[k] for k in ("index", "shard", "problem")} == {"index": "one", "shard": 0, "problem": "missing"}
    assert "1 damaged" in captured.err.strip().splitlines()[-1]


def test_cli_scrub_of_a_missing_directory_exits_2_naming_it(tmp_path, capsys):
    code = cli.main(["-m", "scrub", "-c", fs_config(tmp_path, tmp_path / "nowhere")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and str(tmp_path / "nowhere") in err[0]


@pytest.mark.parametrize(
    "args",
    [
        ["--read-data-subset", "0%"],
        ["--read-data-subset", "abc"],
        ["--read-data", "--read-data-subset", "10%"],
    ],
)
def test_cli_scrub_refuses_bad_options_with_exit_3(tmp_path, copy, capsys, args):
    with pytest.raises(SystemExit) as exit_:
        code = cli.main(["-m", "scrub", "-c", fs_config(tmp_path, copy()), *args])
        raise SystemExit(code)
    assert exit_.value.code == 3


def test_read_data_is_refused_outside_scrub(tmp_path, copy, capsys):
    assert cli.main(["-m", "list", "-c", fs_config(tmp_path, copy()), "--read-data"]) == 3


def test_cli_scrub_of_an_s3_repository_without_a_store_section_is_a_config_error(tmp_path, capsys):
    path = tmp_path / "s3.conf"
    path.write_text(
        "[aws_s3_config]\ns3_bucket_name = b\n\n[elasticsearch_config]\nes_repository_name = r\nindex_names = *\n"
    )
    path.chmod(0o600)
    assert cli.main(["-m", "scrub", "-c", str(path)]) == 3
    assert "[source_store] is missing" in capsys.readouterr().err


def test_cli_scrub_with_a_wildcard_snapshot_and_subset_and_destination(tmp_path, copy, capsys):
    root = copy()
    extra = f"\n[destination_repository]\ntype = fs\nlocation = {root}\n"
    code = cli.main(
        ["-m", "scrub", "-c", fs_config(tmp_path, tmp_path / "nowhere", extra), "--on", "destination",
         "--snapshot", "snap-*2", "--read-data-subset", "50%"]
    )  # fmt: skip
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0, out
    assert out[0] == "snap-2: ok" and "(50% of the data)" in out[-1]


class ManyIndices:
    """A real repository seen with each of its indices repeated ``copies`` times under new ids
    (``<id>~<n>``), every copy reading the real index's blobs: a large repository for the price of
    a small one."""

    def __init__(self, root: Path, copies: int):
        self.real = FsStorage(str(root))
        self.base = ""
        layout = Layout(root)
        self.index_key = f"index-{layout.generation}"
        doc = json.loads((root / self.index_key).read_text())
        indices = {}
        for name, entry in doc["indices"].items():
            for n in range(copies):
                indices[f"{name}-{n}"] = {**entry, "id": f"{entry['id']}~{n}"}
        for snapshot in doc["snapshots"]:
            lookup = snapshot["index_metadata_lookup"]
            snapshot["index_metadata_lookup"] = {f"{i}~{n}": v for i, v in lookup.items() for n in range(copies)}
        doc["indices"] = indices
        self.index_n = json.dumps(doc).encode()

    def real_key(self, key: str) -> str:
        parts = key.split("/")
        if len(parts) > 1 and parts[0] == "indices":
            parts[1] = parts[1].split("~")[0]
        return "/".join(parts)

    def describe(self) -> str:
        return "many indices"

    def check(self) -> None:
        pass

    def list(self, prefix, *, delimiter=None):
        entries, prefixes = self.real.list(self.real_key(prefix), delimiter=delimiter)
        real = self.real_key(prefix)
        return [type(e)(prefix + e.key[len(real) :], e.size) for e in entries], prefixes

    def read(self, key):
        return self.index_n if key == self.index_key else self.real.read(self.real_key(key))

    def stream(self, key, chunk=1024**2):
        return self.real.stream(self.real_key(key), chunk)


def test_memory_stays_bounded_when_the_number_of_indices_grows_tenfold(copy):
    import tracemalloc

    root = copy("os-2.19.6-plain")
    peaks = {}
    for copies in (15, 150):
        storage = ManyIndices(root, copies)
        tracemalloc.start()
        result = scrub(storage, workers=4)
        peaks[copies] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.restorable and result.tally.shard_folders == 3 * copies
    # what grows is the repository's own index (index-N, about 1 KB an index here); what scrub holds
    # per shard folder does not pile up (a metadata read once allocated its 256 MB limit up front)
    per_index = (peaks[150] - peaks[15]) / (2 * 135)
    assert per_index < 4096 and peaks[150] < 5 * 1024**2, peaks


def test_a_slow_shard_holds_no_other_index_back(copy):
    """The first index's shard folder answers only once indices beyond the window (8) were listed:
    with a barrier between groups of indices this would never finish."""
    import threading

    root = copy("os-2.19.6-plain")
    storage = ManyIndices(root, 12)  # 24 indices: "one-0".."one-11", "two-0".."two-11"
    first = "indices/" + Layout(root).data.indices["one"].id + "~0/"
    later = threading.Event()
    listings = []
    real_list = storage.list

    def list_(prefix, *, delimiter=None):
        listings.append(prefix)
        if prefix.startswith(first):
            assert later.wait(30), "no index beyond the window started while a shard was slow"
        elif len({p.split("/")[1] for p in listings if p.startswith("indices/")}) > 9:
            later.set()
        return real_list(prefix, delimiter=delimiter)

    storage.list = list_
    result = scrub(storage, workers=2)
    assert result.restorable and result.tally.shard_folders == 3 * 12


@pytest.mark.parametrize("name", ["es-7.17.29-plain", "os-3.3.2-hashed"])
def test_blobs_read_in_ranges_combine_to_the_same_verdicts(name, copy, monkeypatch):
    monkeypatch.setattr("es_s3_snapshot.actions.scrub.SEGMENT", 1000)  # every data blob in several ranges
    root = copy(name)
    storage = FsStorage(str(root))
    result = scrub(storage, fraction=1.0, workers=3)
    assert result.restorable
    layout = Layout(root)
    shared = layout.shared("one")
    blob = layout.folder("one") / shared.parts()[-1][0]
    data = bytearray(blob.read_bytes())
    data[len(data) - 30] ^= 0x01  # in the last range, just before the footer
    blob.write_bytes(bytes(data))
    for problems in verdicts(scrub(storage, fraction=1.0, workers=3)).values():
        assert [p.problem for p in problems] == ["checksum"]


def test_a_zstd_repository_without_the_zstandard_package_cannot_be_judged_and_is_not_called_damaged(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(OperationFailed, match="cannot judge .* zstandard"):
        scrub(FsStorage(str(REPOS / "os-3.3.2-zstd")))


# --- what scrub cannot judge --------------------------------------------------------------------

SHALLOW = Path(__file__).parent / "data" / "shallow-repos"  # devstack/repo_fixtures.py --shallow


@pytest.mark.parametrize("name", sorted(p.name for p in SHALLOW.iterdir() if p.is_dir()))
def test_real_shallow_snapshots_cannot_be_judged_and_are_neither_ok_nor_damaged(name):
    root = SHALLOW / name
    generation = repoformat.latest_generation((root / "index.latest").read_bytes())
    data = repoformat.repository_data((root / f"index-{generation}").read_bytes(), generation)
    for snapshot in data.snapshots:
        assert repoformat.snapshot_info((root / f"snap-{snapshot.uuid}.dat").read_bytes()).shallow
    for fraction in (0.0, 1.0):
        result = scrub(FsStorage(str(root)), fraction=fraction, workers=3)
        assert [(v.entry.name, v.restorable, v.problems) for v in result.verdicts] == [
            ("snap-1", None, []),
            ("snap-2", None, []),
        ]
        assert all("remote-store (shallow)" in v.unjudged for v in result.verdicts)
        assert result.restorable is None and result.tally.data_blobs == 0  # nothing judged: nothing proven
        assert "2 cannot be judged" in result.summary()


def test_shallow_fixtures_hold_both_kinds_of_both_versions():
    names = {p.name for p in SHALLOW.iterdir() if p.is_dir()}
    assert names == {f"os-{v}-shallow{kind}" for v in ("2.19.6", "3.3.2") for kind in ("", "-v2")}
    for version in ("2.19.6", "3.3.2"):
        assert list((SHALLOW / f"os-{version}-shallow").rglob("shallow-snap-*.dat"))
        assert not list((SHALLOW / f"os-{version}-shallow-v2").rglob("shallow-snap-*.dat"))


def test_a_flipped_byte_in_a_shallow_snapshot_blob_is_damage_not_a_pass(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(SHALLOW / "os-3.3.2-shallow", root)
    blob = sorted(root.rglob("shallow-snap-*.dat"))[0]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    result = scrub(FsStorage(str(root)))
    damaged = [v for v in result.verdicts if v.problems]
    assert len(damaged) == 1 and [p.problem for p in damaged[0].problems] == ["checksum"]
    assert damaged[0].problems[0].blob.endswith(blob.name) and not result.restorable


def test_cli_scrub_of_only_shallow_snapshots_says_cannot_judge_and_exits_1_as_nothing_was_proven(tmp_path, capsys):
    config = fs_config(tmp_path, SHALLOW / "os-2.19.6-shallow")
    code = cli.main(["-m", "scrub", "-c", config, "--read-data"])
    captured = capsys.readouterr()
    out, err = captured.out.strip().splitlines(), captured.err.strip().splitlines()
    assert code == 1
    assert [line.split(":", 2)[:2] for line in out[:2]] == [["snap-1", " CANNOT JUDGE"], ["snap-2", " CANNOT JUDGE"]]
    assert "0 damaged, 2 cannot be judged" in err[-1] and "none of them could be judged" in err[-1]
    assert cli.main(["-m", "scrub", "-c", config, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["restorable"] is None
    assert [(s["restorable"], bool(s["cannot_judge"]), s["problems"]) for s in doc["snapshots"]] == [(None, True, [])] * 2


def test_cli_scrub_of_an_encrypted_repository_says_so_and_exits_1(tmp_path, copy, capsys):
    root = copy()
    index_n = max(root.glob("index-[0-9]*"), key=lambda p: int(p.name[6:]))
    index_n.write_bytes(b"\x02\x05\x78" + bytes(range(256)) * 4)  # an AWS Encryption SDK message's header
    code = cli.main(["-m", "scrub", "-c", fs_config(tmp_path, root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert "cannot judge" in err[-1] and "encrypted" in err[-1]


def test_scrub_feeds_progress_with_bytes_read_and_shard_folders_done():
    class Recorder:
        every = 1.0

        def __init__(self):
            self.updates = []

        def update(self, done_bytes, total_bytes, done_items, total_items, state=""):
            self.updates.append((done_bytes, total_bytes, done_items, total_items))

    name = ALL[0]
    progress = Recorder()
    result = scrub(FsStorage(str(REPOS / name)), fraction=1.0, workers=3, progress=progress)
    folders = sum(len(i.shard_generations) for i in Layout(REPOS / name).data.indices.values())
    assert progress.updates[0][2:] == (0, folders)
    assert progress.updates[-1] == (result.tally.bytes, 0, folders, folders)
    assert [u[2] for u in progress.updates] == sorted(u[2] for u in progress.updates)


def test_cli_scrub_logs_its_progress_off_a_terminal(tmp_path, copy, capsys):
    root = copy()
    assert cli.main(["-m", "scrub", "-c", fs_config(tmp_path, root, "[wait]\nprogress_interval = 1"), "--read-data"]) == 0
    folders = sum(len(i.shard_generations) for i in Layout(root).data.indices.values())
    lines = [line for line in capsys.readouterr().err.splitlines() if " INFO scrub: " in line]
    assert lines and re.search(rf" INFO scrub: 0\.0% \([\d.]+ KiB read, shards 0/{folders}\)$", lines[0]), lines
