import io
import logging

import pytest

from es_s3_snapshot.errors import WaitTimeout
from es_s3_snapshot.wait import Progress, human_bytes, wait_until

from .conftest import FakeClock


def test_wait_until_returns_the_first_result_and_sleeps_between_checks():
    clock, answers = FakeClock(), iter([None, None, "done"])
    assert (
        wait_until(lambda: next(answers), interval=4, max_wait=60, timeout_message="x", clock=clock, sleep=clock.sleep)
        == "done"
    )
    assert clock.sleeps == [4, 4]


def test_wait_until_times_out_with_the_message_and_never_oversleeps():
    clock = FakeClock()
    with pytest.raises(WaitTimeout, match="took too long"):
        wait_until(
            lambda: None, interval=10, max_wait=25, timeout_message="took too long", clock=clock, sleep=clock.sleep
        )
    assert clock.sleeps == [10, 10, 5] and clock.now == 25


def test_progress_bar_on_a_terminal():
    stream = io.StringIO()
    progress = Progress("snapshot s1", interval=30, stream=stream, is_tty=True)
    progress.update(512, 2048, 1, 4, "STARTED")
    progress.close()
    out = stream.getvalue()
    assert out.startswith("\rsnapshot s1 [#######.......................]  25.0% 512 B of 2.0 KiB, shards 1/4, started")
    assert out.endswith("\n")


def test_progress_logs_once_per_interval_when_not_a_terminal(caplog):
    clock = FakeClock()
    progress = Progress("restore", interval=30, stream=io.StringIO(), is_tty=False, clock=clock)
    with caplog.at_level(logging.INFO, logger="es_s3_snapshot.wait"):
        for _ in range(7):
            progress.update(10, 100, 0, 2)
            clock.sleep(10)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert lines[0] == "restore: 10.0% (10 B of 100 B, shards 0/2)"


def test_human_bytes():
    assert [human_bytes(n) for n in (0, 1023, 1024, 5 * 1024**3)] == ["0 B", "1023 B", "1.0 KiB", "5.0 GiB"]


def test_progress_never_shows_zero_of_zero_and_says_finalising():
    stream = io.StringIO()
    progress = Progress("restore", interval=30, stream=stream, is_tty=True)
    progress.update(0, 0, 0, 0, "")
    assert "0 B of 0 B" not in stream.getvalue() and "starting" in stream.getvalue()
    progress.update(2048, 2048, 4, 4, "STARTED")
    assert stream.getvalue().rstrip("\x1b[K").endswith("shards 4/4, finalising")


def test_wait_for_call_notices_the_end_at_once_and_polls_meanwhile():
    import threading

    from es_s3_snapshot.wait import Background, wait_for_call

    release = threading.Event()
    polls = []
    now = [0.0]

    def pause(event, seconds):
        if event.wait(0.05):
            return True
        now[0] += seconds
        return False

    def poll():
        polls.append(now[0])
        if len(polls) == 2:
            release.set()

    call = Background(lambda: release.wait(5) and "done")
    result = wait_for_call(
        call, poll=poll, interval=5, max_wait=60, timeout_message="x", clock=lambda: now[0], pause=pause, first_poll=1
    )
    assert result == "done" and polls == [1, 6]


def test_progress_shows_rate_and_eta_on_a_terminal_with_a_fake_clock():
    clock = FakeClock()
    stream = io.StringIO()
    progress = Progress("sync", interval=30, stream=stream, is_tty=True, clock=clock, items="objects")
    progress.update(0, 100_000_000, 0, 10)
    clock.sleep(2)
    progress.update(20_000_000, 100_000_000, 2, 10)  # 10 MB/s: 80 MB left is 8 s
    last = stream.getvalue().split("\r")[-1]
    assert "19.1 MiB of 95.4 MiB, 10.0 MB/s, ETA 8s, objects 2/10" in last
    progress.close()


def test_progress_redraws_at_most_every_fifth_of_a_second_but_always_at_the_end():
    clock = FakeClock()
    stream = io.StringIO()
    progress = Progress("sync", interval=30, stream=stream, is_tty=True, clock=clock, items="objects")
    for done in range(1, 10):
        progress.update(done, 10, done, 10)  # no time passes: one draw, then only the last
    progress.update(10, 10, 10, 10)
    assert stream.getvalue().count("\r") == 2 and "objects 10/10" in stream.getvalue().split("\r")[-1]


def test_progress_log_lines_give_the_rate_over_their_interval(caplog):
    clock = FakeClock()
    progress = Progress("snapshot s1", interval=30, stream=io.StringIO(), is_tty=False, clock=clock)
    with caplog.at_level(logging.INFO, logger="es_s3_snapshot.wait"):
        for step in range(7):
            progress.update(step * 50_000_000, 1_000_000_000, step, 20)  # 5 MB/s
            clock.sleep(10)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "5.0 MB/s" in lines[1] and "ETA 2m50s" in lines[1]  # at 30 s: 150 MB done, 850 MB left at 5 MB/s


def test_eta_reads_like_rsync():
    from es_s3_snapshot.wait import eta

    assert [eta(s) for s in (0, 45.4, 185, 7620)] == ["0s", "45s", "3m05s", "2h07m"]


def test_progress_without_a_byte_total_shows_bytes_rate_and_the_time_left_by_items():
    """Scrub learns blob sizes as it goes: bytes read and their rate, and the ETA from the items."""
    clock = FakeClock()
    stream = io.StringIO()
    progress = Progress("scrub", interval=30, stream=stream, is_tty=True, clock=clock)
    progress.update(0, 0, 0, 8)
    clock.sleep(4)
    progress.update(40_000_000, 0, 2, 8)  # 2 shards in 4 s: 6 more take 12 s
    last = stream.getvalue().split("\r")[-1]
    assert "[#######.......................]  25.0% 38.1 MiB read, 10.0 MB/s, shards 2/8, ETA 12s" in last, last
    progress.close()
