"""On a shared host, as root, with another local user (nobody) at work in a world-writable sticky
lock directory: the installed CLI refuses what that user planted (exit 3, one line naming it and its
owner), follows no link, truncates nothing and is not held busy. No engine is needed: the lock is
taken before any cluster is contacted, and the seeds point at a closed port."""

import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time

import pytest

from es_s3_snapshot.lock import lock_path

NOBODY = 65534
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="playing another user needs root (CI runs as root)")

# run as nobody: plant a symlink at one lock path, create and flock a file at another, then hold it
OTHER_USER = """
import fcntl, os, sys
link, target, held = sys.argv[1:4]
os.symlink(target, link)
fd = os.open(held, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("ready", flush=True)
sys.stdin.read()
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def shared_dir():
    """A directory like /tmp (mode 1777) that nobody can reach (pytest's tmp_path is root-only)."""
    path = tempfile.mkdtemp(prefix="es-s3-shared-", dir="/tmp")
    os.chmod(path, 0o1777)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def config(tmp_path, shared_dir):
    path = tmp_path / "es-s3-snapshot.conf"
    path.write_text(
        textwrap.dedent(
            f"""\
            [aws_s3_config]
            s3_bucket_name = b
            [elasticsearch_config]
            es_repository_name = r
            index_names = a
            es_src_seed1 = 127.0.0.1:{closed_port()}
            [retention]
            keep_last = 1
            [lock]
            dir = {shared_dir}
            wait = 30
            """
        )
    )
    path.chmod(0o600)
    return str(path)


def test_another_users_symlink_and_held_lock_are_refused_exit_3_nothing_followed(cli, config, shared_dir, tmp_path):
    target = tmp_path / "root-only"
    target.write_text("root's own data\n")
    target.chmod(0o600)
    link, held = lock_path(config, "list", shared_dir), lock_path(config, "prune", shared_dir)
    other = subprocess.Popen(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "/usr/bin/python3", "-c", OTHER_USER]
        + [link, str(target), held],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout.readline().strip() == "ready"
        assert os.lstat(link).st_uid == NOBODY and os.stat(held).st_uid == NOBODY

        listed = cli("-m", "list", "-c", config)
        started = time.monotonic()
        pruned = cli("-m", "prune", "-c", config)
        took = time.monotonic() - started
    finally:
        other.stdin.close()
        other.wait(timeout=10)

    assert listed.code == 3, listed
    lines = listed.err.strip().splitlines()
    assert len(lines) == 1, listed
    assert f"{link} is a symbolic link owned by nobody (uid {NOBODY})" in lines[0] and "refusing" in lines[0]
    assert target.read_text() == "root's own data\n" and os.path.islink(link)

    assert pruned.code == 3, pruned  # refused, not 75 "busy" (nor a wait of [lock] wait = 30 s)
    lines = pruned.err.strip().splitlines()
    assert len(lines) == 1 and f"{held} is owned by nobody (uid {NOBODY}), not by root (uid 0)" in lines[0], pruned
    assert took < 20
    assert "could not connect" not in listed.err + pruned.err  # refused before any cluster was contacted


def test_a_config_others_can_write_is_refused_exit_3_with_the_fix(cli, config):
    os.chmod(config, 0o666)
    result = cli("-m", "list", "-c", config)
    assert result.code == 3, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and f"{config} is writable by others (mode 0666)" in lines[0], result
    assert lines[0].endswith(f"chmod o-w {config}")
