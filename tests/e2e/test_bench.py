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
    assert "| `--help` / `python -c pass`, s, median of 2 |" in completed.stdout
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


def test_bench_scrub_section_runs_on_moto_and_s3proxy(stack):
    from devstack.bench_scrub import bench_scrub

    lines = []
    results = bench_scrub(stack, rounds=1, megabytes=4, workers=4, echo=lines.append)
    assert results["requests_per_shard_folder"] > 0
    for server in ("moto", "s3proxy"):
        assert results[server]["ratio"] > 0 and results[server]["scrub --read-data"] > 0
    assert any("per shard folder" in line for line in lines)
    assert sum("scrub --read-data / parallel download" in line for line in lines) == 2
