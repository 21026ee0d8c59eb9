from devstack.bench import Options, Phases, Results, Run, parse, phases, report
from tests.support.counting_proxy import Exchange


def ex(method, target, started, body_bytes=100):
    return Exchange(method, target, len(f"{method} {target} HTTP/1.1"), 200, body_bytes, started, started + 0.01)


def test_phases_split_a_polling_backup_into_before_polls_and_after():
    exchanges = [
        ex("GET", "/", 0.0),
        ex("GET", "/_snapshot/r", 0.1),
        ex("PUT", "/_snapshot/r?verify=false", 0.2),
        ex("POST", "/_snapshot/r/_verify", 0.3),
        ex("GET", "/_cat/indices?format=json&h=index", 0.4, body_bytes=5000),
        ex("PUT", "/_snapshot/r/s1?wait_for_completion=false", 1.0),
        ex("GET", "/_snapshot/r/s1/_status", 1.1, body_bytes=300),
        ex("GET", "/_snapshot/r/s1/_status", 6.1, body_bytes=300),
        ex("GET", "/_snapshot/r/s1/_status", 11.1, body_bytes=300),
        ex("GET", "/_snapshot/r/s1", 11.2),
    ]
    found = phases(exchanges, "backup", engine_end=10.0)
    assert (found.total, found.before, found.before_bytes) == (10, 5, 5400)
    assert (found.polls, found.poll_requests, found.bytes_per_poll, found.per_poll) == (3, 3, 300, 1.0)
    assert (found.after, found.after_bytes) == (1, 100)
    assert found.longest_line == len("PUT /_snapshot/r/s1?wait_for_completion=false HTTP/1.1")


def test_phases_of_a_blocking_restore_count_no_polls_and_nothing_after():
    exchanges = [
        ex("PUT", "/_snapshot/r", 0.0),
        ex("POST", "/_snapshot/r/s1/_restore?wait_for_completion=true", 0.1),
    ]
    found = phases(exchanges, "restore", engine_end=3.0)
    assert (found.started, found.before, found.polls, found.after) == (True, 1, 0, 0)
    assert found.bytes_per_poll is None


def test_phases_count_a_restores_per_index_counts_as_after_and_two_endpoints_per_poll():
    exchanges = [ex("POST", "/_snapshot/r/s1/_restore", 0.0)]
    for t in (0.1, 5.1):
        exchanges += [ex("GET", "/_cat/recovery/a,b", t), ex("GET", "/_cluster/health/a,b", t + 0.01)]
    exchanges += [ex("GET", "/a/_count", 5.2), ex("GET", "/b/_count", 5.3)]
    found = phases(exchanges, "restore", engine_end=4.0)
    assert (found.polls, found.per_poll, found.after) == (2, 2.0, 2)


def test_phases_without_the_start_request_put_everything_before():
    found = phases([ex("GET", "/", 0.0), ex("GET", "/_snapshot/r", 0.1)], "backup", engine_end=None)
    assert (found.started, found.before, found.polls) == (False, 2, 0)


def test_report_marks_missed_targets_and_pairs_ratios():
    results = Results(data_bytes=127_000_000, startup={"help": [0.5, 0.6, 0.4], "pass": [0.05, 0.05, 0.05]})
    results.pairs["backup"] = [
        (Run(0, 6.0, 100.0, engine_end=98.5), Run(0, 4.0, 200.0, engine_end=199.5)),
        (Run(0, 5.0, 300.0, engine_end=299.5), Run(0, 5.0, 400.0, engine_end=399.9)),
    ]
    results.polls.append(("restore", "tool", 1000, Run(0, 30.0, 0.0, maxrss_mb=80.0), Phases(started=True, after=1000)))
    text = report(results, Options(rounds=2))
    assert "| backup wall time, s, median (min-max) | 5.50 (5.00-6.00) | 4.50 (4.00-5.00) | 1.25 (1.00-1.50)" in text
    assert "| <= 1.10 | MISSED |" in text
    assert "-> exit, backup, s | 1.00 (0.50-1.50) | 0.30 (0.10-0.50)" in text
    assert "| 10.0x | <= 4x | MISSED |" in text
    assert "| requests after the end, restore of 1000 indices | 1000 |" in text
    assert "| peak RSS, restore of 1000 indices, MB | 80 | | | < 100 | ok |" in text


def test_bench_options_small_and_only():
    options = parse(["--small", "--only", "startup", "--only", "poll"])
    assert (options.rounds, options.data_mb, options.poll_sizes, options.only) == (
        2,
        8,
        (1, 10, 100),
        ("startup", "poll"),
    )
    assert parse([]).rounds == 5 and parse([]).poll_sizes == (1, 100, 1000)
