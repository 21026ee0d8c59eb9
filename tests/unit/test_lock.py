"""The run lock: one holder per config and mode, a named holder, waiting, dead holders."""

import os
import subprocess
import sys

import pytest

from es_s3_snapshot.errors import Busy
from es_s3_snapshot.lock import lock_path, run_lock

from .conftest import FakeClock


def test_second_lock_of_the_same_config_and_mode_is_busy_naming_the_holder(tmp_path):
    with run_lock("/etc/a.conf", "backup", directory=str(tmp_path)):
        with pytest.raises(Busy) as busy:
            with run_lock("/etc/a.conf", "backup", directory=str(tmp_path)):
                pass
    assert busy.value.exit_code == 75
    assert f"pid {os.getpid()}, started 20" in str(busy.value)
    assert "another es-s3-snapshot backup run of /etc/a.conf holds the lock" in str(busy.value)


def test_a_holder_that_has_just_locked_is_named_once_it_writes_its_pid(tmp_path):
    """Two runs started together: the loser may find the file still empty; it reads it again for
    up to a second, so it names the winner instead of "a run that is just starting"."""
    import fcntl

    path = lock_path("/etc/a.conf", "backup", str(tmp_path))
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # locked, nothing written yet
    clock = FakeClock()

    def sleep(seconds):
        if len(clock.sleeps) == 3:  # the winner writes its pid while the loser reads again
            os.pwrite(fd, b"pid=4242 started=2026-12-07T15:00:00Z mode=backup\n", 0)
        clock.sleep(seconds)

    try:
        with pytest.raises(Busy, match=r"pid 4242, started 2026-12-07T15:00:00Z"):
            with run_lock("/etc/a.conf", "backup", directory=str(tmp_path), clock=clock, sleep=sleep):
                pass
        os.ftruncate(fd, 0)  # a holder that never writes: said so after a second
        clock.sleeps.clear()
        with pytest.raises(Busy, match="a run that is just starting"):
            with run_lock("/etc/a.conf", "backup", directory=str(tmp_path), clock=clock, sleep=clock.sleep):
                pass
        assert sum(clock.sleeps) == pytest.approx(1.0)
    finally:
        os.close(fd)


def test_other_modes_and_configs_do_not_share_a_lock(tmp_path):
    with run_lock("/etc/a.conf", "backup", directory=str(tmp_path)):
        with run_lock("/etc/a.conf", "prune", directory=str(tmp_path)):
            with run_lock("/etc/b.conf", "backup", directory=str(tmp_path)):
                pass


def test_lock_is_free_again_after_the_holder_ends(tmp_path):
    with run_lock("/etc/a.conf", "backup", directory=str(tmp_path)):
        pass
    with run_lock("/etc/a.conf", "backup", directory=str(tmp_path)) as path:
        assert path == lock_path("/etc/a.conf", "backup", str(tmp_path))


def test_waiting_polls_until_the_wait_runs_out_without_really_sleeping(tmp_path):
    clock = FakeClock()
    with run_lock("/etc/a.conf", "backup", directory=str(tmp_path)):
        with pytest.raises(Busy) as busy:
            with run_lock("/etc/a.conf", "backup", directory=str(tmp_path), wait=3, clock=clock, sleep=clock.sleep):
                pass
    assert clock.now == pytest.approx(3) and len(clock.sleeps) == 6
    assert "after waiting 3s" in str(busy.value)


def test_a_lock_left_by_a_killed_process_never_blocks(tmp_path):
    code = (
        "import os, sys; from es_s3_snapshot.lock import run_lock\n"
        f"with run_lock('/etc/a.conf', 'backup', directory={str(tmp_path)!r}):\n"
        "    print('held', flush=True); os.kill(os.getpid(), 9)\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert child.stdout.strip() == "held" and child.returncode == -9
    assert "pid=" in open(lock_path("/etc/a.conf", "backup", str(tmp_path))).read()  # stale content left
    with run_lock("/etc/a.conf", "backup", directory=str(tmp_path)):
        pass
