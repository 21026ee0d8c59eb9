"""The bench (scripts/bench) works: its smallest configuration, on the shared stack. Not a timing gate."""

import subprocess
import sys
from pathlib import Path

from devstack.bench import Options, report, run_sections

ROOT = Path(__file__).resolve().parents[2]


def test_bench_startup_section_runs_without_engines_and_prints_the_ratio():
    completed = subprocess.run(
        [sys.executable, "-m", "devstack.bench", "--only", "startup", "--startup-runs", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "| `--help` / `python -c pass`, plain install, s, median of 2 |" in completed.stdout
    assert "in this checkout's editable venv" in completed.stdout
    assert "cores" in completed.stdout
    assert (ROOT / "scripts" / "bench").stat().st_mode & 0o111


def test_bench_one_small_backup_round_times_tool_and_bare_rest(stack, tmp_path):
    options = Options(rounds=1, small=True, only=("backup",))
    results = run_sections(stack, options, tmp_path, log=print)
    ((tool, bare),) = results.pairs["backup"]
    assert (tool.code, bare.code) == (0, 0), (tool.error, bare.error)
    assert tool.late is not None and bare.late is not None
    assert 0 < bare.wall and 0 < tool.wall
    text = report(results, options)
    assert "| backup wall time, s, median (min-max) |" in text
    assert "-> exit, backup, s |" in text


def test_bench_scrub_section_runs_on_moto_and_s3proxy(stack, tmp_path, monkeypatch):
    from devstack import bench_scrub, bench_stores

    monkeypatch.setattr(bench_stores, "CACHE", tmp_path)  # writes its repository on the shared stack
    lines = []
    results = bench_scrub.bench_scrub(rounds=1, megabytes=4, workers=4, echo=lines.append, stack=stack)
    assert results["requests_per_shard_folder"] > 0
    for server in ("moto", "s3proxy"):
        row = results[server]
        assert row["ratio"] > 0 and row["cli_ratio"] > 0 and row["scrub --read-data (CLI)"] > 0
    assert any("per shard folder" in line for line in lines)
    assert sum("scrub --read-data / parallel download" in line for line in lines) == 4
    assert list(tmp_path.glob("scrub4-*/scrub/index.latest"))  # the base path is renamed to "scrub"
