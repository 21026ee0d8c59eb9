"""End-to-end fixtures: one real engine stack per test session, and the CLI run as a user runs it.

The stack (devstack/) is an OpenSearch source and destination with repository-s3 pointed at a moto
S3 server, and an Elasticsearch node with security on and an fs repository path. Every test works
in its own indices, repository names and S3 base path, so tests share the stack without touching
each other's data.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devstack import Stack

CLI = str(Path(sys.executable).with_name("es-s3-snapshot"))
CLI_TIMEOUT = 300
_counter = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory):
    """The snapshot cache of list and prune ($XDG_CACHE_HOME, which every CLI run inherits) goes to
    a directory of this session's own, not to /var/cache or ~/.cache."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    os.chmod(cache, 0o700)
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    yield cache
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


# Every other version, started once for the whole session and only when a test asks for it: the
# engine matrix and the migrations share it. All nodes have the same path.repo (one fs repository
# seen by nodes of different versions). E2E_VERSION_NODES=es7,es8 starts only those (to run a few
# tests cheaply; a test whose node is not started fails with a KeyError).
VERSION_NODES = tuple(os.environ.get("E2E_VERSION_NODES", "es7,es8,es710,os1,os2,source,es").split(","))


@pytest.fixture(scope="session")
def versions():
    with Stack(nodes=VERSION_NODES, shared_repo=True, timeout=900) as running:
        yield running


# The multi-node clusters of tests/e2e/test_multinode.py: a 3-node source and a 2-node destination
# (all nodes master-eligible data nodes, 384m heaps), started once, all nodes in parallel, and only
# when a test asks for them. Their tests kill, stop and restart nodes and the S3 servers, and leave
# both clusters whole again.
MULTI_CLUSTERS = ("source:3", "destination:2")


@pytest.fixture(scope="session")
def multi():
    with Stack(nodes=MULTI_CLUSTERS, timeout=900) as running:
        yield running


@pytest.fixture(scope="session")
def stack():
    nodes = os.environ.get("E2E_NODES", "source,destination,es").split(",")  # fewer, to run one file cheaply
    with Stack(nodes=nodes) as running:
        yield running


@pytest.fixture(scope="session")
def tls_stores(tmp_path_factory):
    """Object stores without engines, for the transport of -m sync and scrub (test_store_transport.py):
    moto with IAM auth on (it accepts only an assumed role's temporary keys, ``token_keys``: access
    key, secret, session token) and an s3proxy that also serves HTTPS with a self-signed certificate
    (``proxy_a.https_endpoint``, ``proxy_a.ca_file``). Started once, only when a test asks for it;
    the JVM of ``named_proxy`` starts meanwhile."""
    from devstack import engines
    from devstack.bench_stores import Stores
    from devstack.stack import S3ProxyServer

    with Stores(tmp_path_factory.mktemp("tls-stores"), proxies=1, tls=True) as stores:
        stores.token_keys = stores.moto.temporary_keys()
        stores.named = S3ProxyServer(tmp_path_factory.mktemp("named"), *engines.fetch_s3proxy(), tls=True,
                                     virtual_host="s3.localhost")  # fmt: skip
        stores.named.launch(stores._spawn)
        yield stores


@pytest.fixture(scope="session")
def named_proxy(tls_stores):
    """An s3proxy (HTTPS too) that answers at the name ``s3.localhost``: path style there, virtual
    host style at ``<bucket>.s3.localhost`` (certificate for both). Nothing resolves those names
    on this machine: a client needs them mapped to 127.0.0.1. Stopped with ``tls_stores``."""
    import time

    tls_stores.named.wait_ready(time.monotonic() + 180)
    return tls_stores.named


class Api:
    """Direct JSON access to a stack node, to seed data and check what the CLI did."""

    def __init__(self, node, username=None, password=None):
        self.url = node.url
        self.auth = None
        if username:
            self.auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    def __call__(self, method, path, body=None, ndjson=None, ok=(200, 201)):
        data, ctype = None, "application/json"
        if ndjson is not None:
            data, ctype = ("\n".join(json.dumps(line) for line in ndjson) + "\n").encode(), "application/x-ndjson"
        elif body is not None:
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={"content-type": ctype})
        if self.auth:
            request.add_header("authorization", self.auth)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        answer = json.loads(raw) if raw else None
        if ok and status not in ok:
            raise AssertionError(f"{method} {path} answered {status}: {answer}")
        return answer

    def status(self, method, path):
        request = urllib.request.Request(self.url + path, method=method)
        if self.auth:
            request.add_header("authorization", self.auth)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code

    def seed(self, index, docs, shards=1, replicas=0, start=0):
        """Create ``index`` (if new) with a small mapping and ``docs`` documents, and refresh."""
        if self.status("HEAD", f"/{index}") == 404:
            self(
                "PUT",
                f"/{index}",
                {
                    "settings": {"number_of_shards": shards, "number_of_replicas": replicas},
                    "mappings": {"properties": {"n": {"type": "integer"}, "word": {"type": "keyword"}}},
                },
            )
        lines = []
        for n in range(start, start + docs):
            lines += [{"index": {"_index": index, "_id": str(n)}}, {"n": n, "word": f"w{n % 7}"}]
        if lines:
            result = self("POST", "/_bulk?refresh=true", ndjson=lines)
            assert not result["errors"], result
        return docs

    def count(self, index):
        return self("GET", f"/{index}/_count")["count"]

    def exists(self, index):
        return self.status("HEAD", f"/{index}") == 200


@pytest.fixture(scope="session")
def src(stack):
    return Api(stack.nodes["source"])


@pytest.fixture(scope="session")
def dest(stack):
    return Api(stack.nodes["destination"])


@pytest.fixture(scope="session")
def es(stack):
    node = stack.nodes["es"]
    return Api(node, node.admin_username, node.admin_password)


@pytest.fixture
def unique():
    """A short name unique in this test session (index, repository and base path names)."""
    return f"t{os.getpid() % 1000}x{next(_counter)}"


def s3_config(stack, *, repo, base_path, indices, extra=""):
    """A config in the new format for the OpenSearch source and destination of the stack."""
    return textwrap.dedent(f"""
        [aws_s3_config]
        s3_bucket_name = {stack.s3.bucket}
        s3_base_path = {base_path}

        [elasticsearch_config]
        es_repository_name = {repo}
        es_src_seed1 = {stack.nodes["source"].url}
        es_dest_seed1 = {stack.nodes["destination"].url}
        index_names = {indices}

        [wait]
        poll_interval = 1
        max_wait = 240
    """) + textwrap.dedent(extra)


def fs_config(node, unique, index, side_lines=""):
    """A config for an fs-repository round trip on one node: backup, then restore renamed (back-*)."""
    sides = f"\n[source]\n{side_lines}\n\n[destination]\n{side_lines}\n" if side_lines else ""
    return (
        textwrap.dedent(f"""
        [elasticsearch_config]
        es_repository_name = fs-{unique}
        es_src_seed1 = {node.url}
        es_dest_seed1 = {node.url}
        index_names = {index}

        [repository]
        type = fs
        location = {node.repo_path}/{unique}

        [restore]
        existing_indices = rename
        rename_pattern = (.+)
        rename_replacement = back-$1

        [wait]
        poll_interval = 1
    """)
        + sides
    )


def migration_config(stack, source, destination, unique, indices, extra=""):
    """A two-cluster config (check, migrate, verify) from node ``source`` to node ``destination``
    of ``stack`` through an fs repository that both nodes share, restoring without replicas."""
    src, dst = stack.nodes[source], stack.nodes[destination]

    def side(node):
        return f"username = {node.username}\npassword = {node.password}\n" if node.username else ""

    return (
        textwrap.dedent(f"""
        [elasticsearch_config]
        es_repository_name = mig-{unique}
        es_src_seed1 = {src.url}
        es_dest_seed1 = {dst.url}
        index_names = {indices}

        [repository]
        type = fs
        location = {src.repo_path}/{unique}

        [restore]
        index_settings = {{"index.number_of_replicas": 0}}

        [wait]
        poll_interval = 1
        max_wait = 240
    """)
        + f"\n[source]\n{side(src)}\n[destination]\n{side(dst)}\n"
        + textwrap.dedent(extra)
    )


def merge_sections(text: str) -> str:
    """Let tests append sections that already exist (the last value wins), as a user edits a file."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(text)
    lines = []
    for section in parser.sections():
        lines.append(f"[{section}]")
        lines += [f"{k} = {v}" for k, v in parser.items(section, raw=True)]
        lines.append("")
    return "\n".join(lines)


@pytest.fixture
def write(tmp_path):
    def write(text, name="es-s3-snapshot.conf"):
        path = tmp_path / name
        path.write_text(merge_sections(text))
        path.chmod(0o600)  # configs hold passwords: readable by others, the CLI would warn
        return str(path)

    return write


class Result:
    def __init__(self, completed):
        self.code = completed.returncode
        self.out = completed.stdout
        self.err = completed.stderr

    def __repr__(self):
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run_cli(*args, env=None, timeout=CLI_TIMEOUT, cwd=None):
    """Run the installed es-s3-snapshot command and return its exit code and output."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ES_S3_SNAPSHOT", "AWS_"))}
    full_env.update(env or {})
    completed = subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL
    )
    return Result(completed)


@pytest.fixture
def cli():
    return run_cli


# --- a backed-up index for the restore tests (restore and drill) -----------------------------------

# A restore of several seconds on the stack's destination: it reads the repository at 20 KB/s.
THROTTLED_RESTORE = "[destination_repository]\nmax_restore_bytes_per_sec = 20kb\n"


@pytest.fixture
def backed_up(src, cli, write):
    """Seeds an index on the source and backs it up: ``back_up(config_text, index, docs)`` writes
    the config, seeds ``index`` with ``docs`` documents, takes snapshot ``s1`` and returns (the
    config's path, the path of the same config with restores throttled: THROTTLED_RESTORE)."""

    def back_up(config_text, index, docs, *, snapshot="s1", **seed):
        src.seed(index, docs, **seed)
        config = write(config_text)
        result = cli("-m", "backup", "-c", config, "--snapshot", snapshot)
        assert result.code == 0, result
        return config, write(config_text + THROTTLED_RESTORE, "throttled.conf")

    return back_up


def signalled(args, ready, signum, *, settle=0.5, limit=120):
    """Run the CLI with ``args``, send ``signum`` once ``ready()`` holds and ``settle`` seconds more
    have passed; returns (exit code, stderr)."""
    process = subprocess.Popen(
        [CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not ready():
            time.sleep(0.2)
        time.sleep(settle)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, err
