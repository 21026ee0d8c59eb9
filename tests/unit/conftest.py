import textwrap

import pytest

from es_s3_snapshot import config as config_module
from es_s3_snapshot.actions import Context
from es_s3_snapshot.cluster import Cluster

from .fake_engine import FakeEngine

BASE = """
[aws_s3_config]
s3_bucket_name = backups
s3_base_path = es

[elasticsearch_config]
es_repository_name = repo1
es_src_seed1 = 127.0.0.1:19200
es_dest_seed1 = 127.0.0.1:19201
index_names = logs-a,logs-b
"""


class FakeClock:
    """A clock whose sleep only moves time forward."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def pause(self, event, seconds):
        """Wait for a background call: a blink of real time for the fake engine's thread to answer,
        then the fake clock moves on as if the whole pause had passed."""
        if event.wait(0.05):
            return True
        self.sleep(seconds)
        return False


class SilentProgress:
    every = 5.0

    def __init__(self):
        self.updates = []

    def update(self, *args):
        self.updates.append(args)

    def close(self):
        pass


@pytest.fixture(autouse=True)
def no_real_sleeping(monkeypatch):
    """Unit tests never really sleep: a sleep of more than a blink fails the test."""
    import time

    real_sleep = time.sleep

    def guarded(seconds):
        assert seconds <= 0.05, f"a unit test tried to really sleep {seconds}s"
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", guarded)


@pytest.fixture(autouse=True)
def private_runtime_dir(tmp_path_factory, monkeypatch):
    """Run locks go to a private directory of the test's own ($XDG_RUNTIME_DIR, mode 0700), not
    to /run or ~/.cache."""
    import os

    runtime = tmp_path_factory.mktemp("runtime")
    os.chmod(runtime, 0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return runtime


@pytest.fixture(autouse=True)
def private_cache_dir(tmp_path_factory, monkeypatch):
    """The snapshot cache of list and prune goes to a directory of the test's own
    ($XDG_CACHE_HOME, mode 0700), not to /var/cache or ~/.cache."""
    import os

    cache = tmp_path_factory.mktemp("cache")
    os.chmod(cache, 0o700)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


@pytest.fixture
def write_config(tmp_path):
    def write(extra="", base=BASE):
        path = tmp_path / "test.conf"
        path.write_text(textwrap.dedent(base) + textwrap.dedent(extra))
        path.chmod(0o600)  # private, as the docs advise: a config with secrets readable by others warns
        return str(path)

    return write


@pytest.fixture
def load_config(write_config):
    def load(extra="", overrides=None, environ=None, base=BASE):
        return config_module.load(write_config(extra, base), overrides or config_module.Overrides(), environ or {})

    return load


@pytest.fixture
def engine():
    return FakeEngine()


@pytest.fixture
def make_ctx(engine):
    """Build a Context over the fake engine; returns (ctx, echoed lines, clock)."""

    def make(config, side="source", dry_run=False, wait=True):
        lines, clock = [], FakeClock()
        seeds = config.side(side).seeds
        cluster = Cluster(side, seeds, engine, dry_run=dry_run, echo=lines.append)
        progress = SilentProgress()
        ctx = Context(
            config=config,
            cluster=cluster,
            wait=wait,
            echo=lines.append,
            clock=clock,
            sleep=clock.sleep,
            pause=clock.pause,
            progress=lambda label: progress,
        )
        return ctx, lines, clock

    return make


@pytest.fixture(scope="module")
def moto_url():
    """A moto S3 server in this process at 127.0.0.1 (one per test module); its base URL."""
    import logging
    import socket

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(moto_url):
    """A boto3 client of the module's moto server (checks what sync and scrub wrote)."""
    import boto3

    return boto3.client(
        "s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )


_buckets = iter(range(10**6))


@pytest.fixture
def buckets(s3):
    """Two new buckets on the module's moto server: (source, destination)."""
    n = next(_buckets)
    src, dst = f"src-{n}", f"dst-{n}"
    s3.create_bucket(Bucket=src)
    s3.create_bucket(Bucket=dst)
    return src, dst


@pytest.fixture
def silent_port():
    """A port that accepts connections (into the kernel's backlog) and never answers."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def full_backlog_port():
    """A port whose accept queue is full (backlog 0 and one connection never accepted): the kernel
    drops a new connection's SYN, so a connect never completes, as behind a firewall that drops
    packets."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    yield port
    filler.close()
    listener.close()
