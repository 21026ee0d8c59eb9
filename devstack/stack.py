"""Start/stop a moto S3 server and real OpenSearch / Elasticsearch nodes on 127.0.0.1."""

from __future__ import annotations

import atexit
import base64
import concurrent.futures
import dataclasses
import http.client
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import engines
from .engines import FetchedEngine, FetchError

log = logging.getLogger("devstack")

HOST = "127.0.0.1"


@dataclasses.dataclass(frozen=True)
class NodeKind:
    engine: str  # "opensearch" | "elasticsearch"
    fetch: str  # key for engines.spec_for / fetch_all: "opensearch", "elasticsearch", "es8", ...
    s3: bool = False  # repository-s3 installed and s3.client.default pointed at moto
    s3b: bool = False  # also s3.client.second pointed at s3proxy (the second S3 implementation)
    security: bool = False  # Elasticsearch security on (users, API keys)


#: Every node name a Stack accepts.  ``source``/``destination`` are OpenSearch with repository-s3
#: pointed at the moto server; ``es`` is Elasticsearch with security on (fs repositories).  The
#: matrix nodes ``es8``/``es7``/``os2``/``os1`` are plain integ-test zips with security off and
#: fs repositories only (versions: engines.MATRIX).
NODE_KINDS = {
    "source": NodeKind("opensearch", "opensearch", s3=True, s3b=True),
    "destination": NodeKind("opensearch", "opensearch", s3=True, s3b=True),
    "es": NodeKind("elasticsearch", "elasticsearch", security=True),
    **{key: NodeKind(engine, key) for key, (engine, *_rest) in engines.MATRIX.items()},
}
#: node name -> engine
NODE_ENGINES = {name: kind.engine for name, kind in NODE_KINDS.items()}
DEFAULT_NODES = ("source", "destination", "es")
MATRIX_NODES = tuple(engines.MATRIX)

DEFAULT_TIMEOUT = float(os.environ.get("DEVSTACK_START_TIMEOUT", "180"))
DEFAULT_HEAP = os.environ.get("DEVSTACK_HEAP", "512m")
#: heap of each node of a multi-node cluster (5 engine nodes must fit on a small shared machine)
MULTI_HEAP = os.environ.get("DEVSTACK_MULTI_HEAP", "384m")
#: the clusters that may have several nodes (OpenSearch with repository-s3; no security to set up)
MULTI_NODE_KINDS = ("source", "destination")
WORKDIR_PREFIX = "es-s3-snapshot-devstack-"
STATE_FILE = "devstack-state.json"
STOP_GRACE = 20.0  # seconds between SIGTERM and SIGKILL
TAIL_LINES = 40
MIN_MOTO = (5, 1, 14)

S3_BUCKET = "es-s3-snapshot-devstack"
S3B_BUCKET = "es-s3-snapshot-devstack-b"
S3_REGION = "us-east-1"
ES_EXTRA_USER = "snapuser"

_UNSHARE_CHECKED: list[str] | None = None
_UNSHARE_LOCK = threading.Lock()


class StackError(RuntimeError):
    """Startup/teardown failure.  ``summary`` is one line; ``details`` holds log tails."""

    def __init__(self, summary: str, details: str = ""):
        self.summary = summary
        self.details = details
        super().__init__(summary + ("\n" + details if details else ""))


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def parse_clusters(spec: Iterable[str] | dict[str, int]) -> dict[str, int]:
    """Cluster name -> number of nodes, from ``("source:3", "destination:2", "es")`` or a dict.

    Raises ValueError for unknown or repeated names, a count below 1, or several nodes of a kind
    that only runs as one node (see MULTI_NODE_KINDS).
    """
    items = list(spec.items()) if isinstance(spec, dict) else []
    if not isinstance(spec, dict):
        for entry in spec:
            name, _, count = str(entry).strip().partition(":")
            if count and not count.isdigit():
                raise ValueError(f"node count must be a whole number: {entry!r}")
            items.append((name, int(count) if count else 1))
    names = [name for name, _ in items]
    unknown = [n for n in names if n not in NODE_ENGINES]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"nodes must be distinct names from {sorted(NODE_ENGINES)}, got {tuple(names)!r}")
    for name, count in items:
        if count < 1:
            raise ValueError(f"{name}: a cluster needs at least 1 node, got {count}")
        if count > 1 and name not in MULTI_NODE_KINDS:
            raise ValueError(f"{name}: only {', '.join(MULTI_NODE_KINDS)} can have several nodes")
    return dict(items)


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")


def tail_file(path: str | None, n: int = TAIL_LINES) -> str:
    """Last ``n`` interesting lines of a log (Java stack frames dropped)."""
    if not path or not os.path.exists(path):
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 512 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln for ln in text.splitlines() if ln.strip() and not _FRAME.match(ln)]
    return "\n".join(lines[-n:])


def _root_prefix() -> list[str]:
    """Command prefix so the engines do not run as root.

    OpenSearch and Elasticsearch refuse uid 0 ("can not run opensearch as root").
    When we are root, start them in a fresh user namespace where our uid 0 is
    mapped to uid 1000: inside they see a normal user, outside every file they
    write still belongs to root, and no system user has to be created.
    """
    global _UNSHARE_CHECKED
    if os.geteuid() != 0:
        return []
    with _UNSHARE_LOCK:
        if _UNSHARE_CHECKED is None:
            unshare = shutil.which("unshare")
            prefix = [unshare or "unshare", "--user", "--map-user=1000", "--map-group=1000", "--"]
            try:
                ok = (
                    unshare
                    and subprocess.run(
                        prefix + ["true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30
                    ).returncode
                    == 0
                )
            except (OSError, subprocess.TimeoutExpired):
                ok = False
            if not ok:
                raise StackError(
                    "running as root: the engines refuse uid 0 and `unshare --user` (util-linux, user "
                    "namespaces) is not usable here; run devstack as a non-root user"
                )
            _UNSHARE_CHECKED = prefix
        return list(_UNSHARE_CHECKED)


def _pgroup_alive(pgid: int) -> bool:
    return _alive(os.killpg, pgid)


def _proc_pgids() -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z":
            groups.setdefault(int(fields[2]), []).append(int(entry))
    return groups


def _group_members(pgid: int) -> list[int]:
    return _proc_pgids().get(pgid, [])


def kill_groups(procs: Iterable[subprocess.Popen], grace: float = STOP_GRACE) -> None:
    """SIGTERM every process group, wait up to ``grace`` s, then SIGKILL what is left."""
    procs = list(procs)
    pgids = [p.pid for p in procs]
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for p in procs:
            p.poll()  # reap leaders so a zombie leader does not look alive
        if not any(_group_members(g) for g in pgids):
            break
        time.sleep(0.2)
    for pgid in pgids:
        if _group_members(pgid):
            log.warning("process group %d still alive after %.0fs, sending SIGKILL", pgid, grace)
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("pid %d did not exit after SIGKILL", p.pid)


def http_request(
    url: str, method: str = "GET", body: Any = None, *, headers: dict[str, str] = None, timeout: float = 60
) -> tuple[int, Any]:
    """(status, parsed JSON | text | None) for one HTTP call; HTTP errors are returned, not raised."""
    hdrs = {"Accept": "application/json"}
    data = None
    if body is not None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        else:
            data = body.encode() if isinstance(body, str) else body
            # _bulk / _msearch bodies are newline-delimited JSON
            ndjson = data.endswith(b"\n") and data.rstrip(b"\n").count(b"\n") > 0
            hdrs["Content-Type"] = "application/x-ndjson" if ndjson else "application/json"
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method.upper(), headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    if not raw:
        return status, None
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


_CONN_ERRORS = (urllib.error.URLError, ConnectionError, socket.timeout, http.client.HTTPException, OSError)


# --------------------------------------------------------------------------
# S3 (moto)
# --------------------------------------------------------------------------


class S3Server:
    """A ``moto_server`` subprocess plus one bucket."""

    def __init__(self, workdir: Path):
        self.host = HOST
        self.port = 0
        self.endpoint = ""
        self.access_key = "AKIADEVSTACK" + secrets.token_hex(4).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.region = S3_REGION
        self.bucket = S3_BUCKET
        self.dir = workdir / "moto"
        self.log_path = str(self.dir / "moto.log")
        self.process: subprocess.Popen | None = None
        self.version = ""

    def client(self, **kwargs):
        """A boto3 S3 client pointed at the moto server (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
            **kwargs,
        )

    def object_keys(self, prefix: str = "") -> list[str]:
        keys = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return keys

    def start(self, spawn, deadline: float, *, port: int = 0) -> None:
        """Start moto (on ``port`` when given: a restart in place) and create the bucket."""
        try:
            import moto
        except ImportError:
            raise StackError(
                "moto[server] is not installed in this Python (pip install 'moto[server]>=5.1.14')"
            ) from None
        self.version = moto.__version__
        parsed = tuple(int(x) for x in re.findall(r"\d+", self.version)[:3])
        if parsed < MIN_MOTO:
            raise StackError(
                f"moto {self.version} is too old: repository-s3 (AWS SDK v2) needs moto >= "
                + ".".join(map(str, MIN_MOTO))
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or _free_ports(1)[0]
        self.endpoint = f"http://{self.host}:{self.port}"
        cmd = [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]
        self.process = spawn("s3", cmd, cwd=str(self.dir), env=dict(os.environ), log_path=self.log_path)
        while True:
            if self.process.poll() is not None:
                raise StackError(
                    f"moto server exited with code {self.process.returncode} during startup",
                    f"--- {self.log_path} ---\n{tail_file(self.log_path)}",
                )
            try:
                status, _ = http_request(self.endpoint + "/moto-api/", timeout=2)
                if status < 500:
                    break
            except _CONN_ERRORS:
                pass
            if time.monotonic() > deadline:
                raise StackError("moto server did not answer in time", tail_file(self.log_path))
            time.sleep(0.2)
        self.client().create_bucket(Bucket=self.bucket)

    def temporary_keys(self) -> tuple[str, str, str]:
        """Temporary keys of an assumed role allowed ``s3:*`` (access key, secret key, session
        token); then moto's IAM auth is turned on: from now on it checks every request's SigV4
        signature and its session token, and refuses the static keys of ``client()``. Only for a
        moto of one's own (the stack's shared moto accepts any request)."""
        import boto3

        where = {"endpoint_url": self.endpoint, "region_name": self.region}
        keys = {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key}
        iam, sts = boto3.client("iam", **where, **keys), boto3.client("sts", **where, **keys)
        trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
        anything = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        for policy in (trust, anything):
            policy["Version"] = "2012-10-17"
        role = iam.create_role(RoleName="devstack", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName="devstack", PolicyName="s3", PolicyDocument=json.dumps(anything))
        granted = sts.assume_role(RoleArn=role, RoleSessionName="devstack")["Credentials"]
        status, answer = http_request(self.endpoint + "/moto-api/reset-auth", "POST", b"0")
        if status != 200:
            raise StackError(f"moto did not turn IAM auth on: {status} {answer}")
        return granted["AccessKeyId"], granted["SecretAccessKey"], granted["SessionToken"]

    def info(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "region": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "moto_version": self.version,
            "log_path": self.log_path,
        }


class S3ProxyServer(S3Server):
    """An s3proxy subprocess (filesystem backend, data on disk in the workdir) plus one bucket: the
    second S3 implementation, for copies across vendors. Same attributes and client() as S3Server."""

    def __init__(
        self,
        workdir: Path,
        jar: Path,
        jdk: engines.Jdk,
        *,
        tls: bool = False,
        virtual_host: str | None = None,
        heap: str = "256m",
        signed_body_limit: int = 0,
    ):
        """``tls``: also serve HTTPS (``https_endpoint``) with a self-signed certificate made by the
        JDK's keytool for IP 127.0.0.1, ``localhost`` and ``virtual_host`` / ``*.virtual_host``; its
        PEM is ``ca_file``. ``virtual_host``: answer virtual host style requests
        (``<bucket>.<virtual_host>``) and path style ones at ``virtual_host`` itself; the names must
        resolve to 127.0.0.1 for a client to use them, and ``client()`` (at 127.0.0.1) no longer
        works: s3proxy takes any other host name for a bucket name. ``heap``: the JVM's -Xmx (s3proxy
        holds a PUT's body in memory when its payload is signed, as boto3 signs it over HTTP), and
        ``signed_body_limit``: the largest such body it takes (0: its default, 32 MiB)."""
        super().__init__(workdir)
        self.access_key = "s3proxy-" + secrets.token_hex(6)  # s3proxy's identity / credential: checked
        self.bucket = S3B_BUCKET
        self.dir = workdir / "s3proxy"
        self.log_path = str(self.dir / "s3proxy.log")
        self.jar, self.jdk = jar, jdk
        self.version = engines.S3PROXY_VERSION
        self.tls, self.virtual_host = tls, virtual_host
        self.heap, self.signed_body_limit = heap, signed_body_limit
        self.https_port = 0
        self.https_endpoint = ""
        self._keystore_password = secrets.token_hex(12)
        self.ca_file = ""

    def _make_keystore(self) -> list[str]:
        """A PKCS12 keystore with a self-signed certificate (keytool), its PEM in ``ca_file``; returns
        the s3proxy properties that serve it."""
        keytool = str(Path(self.jdk.home) / "bin" / "keytool")
        keystore, password = self.dir / "keystore.p12", self._keystore_password
        props = [f"s3proxy.keystore-path={keystore}", f"s3proxy.keystore-password={password}"]
        self.ca_file = str(self.dir / "ca.pem")
        if keystore.exists():  # a restart in place keeps its certificate
            return props
        names = ["ip:127.0.0.1", "dns:localhost"]
        if self.virtual_host:
            names += [f"dns:{self.virtual_host}", f"dns:*.{self.virtual_host}"]
        common = ["-keystore", str(keystore), "-storepass", password, "-storetype", "PKCS12", "-alias", "s3proxy"]
        for args in (
            ["-genkeypair", "-keyalg", "RSA", "-keysize", "2048", "-validity", "7", "-dname", "CN=127.0.0.1",
             "-ext", "SAN=" + ",".join(names), "-ext", "BC:c=ca:true", "-ext", "KU:c=digitalSignature,keyCertSign",
             "-keypass", password],
            ["-exportcert", "-rfc", "-file", str(self.dir / "ca.pem")],
        ):  # fmt: skip
            done = subprocess.run([keytool, *args, *common], capture_output=True, text=True)
            if done.returncode != 0:
                raise StackError(f"keytool {args[0]} failed for s3proxy's certificate", done.stdout + done.stderr)
        return props

    def launch(self, spawn, *, port: int = 0) -> None:
        """Start the JVM without waiting (it starts while the engines do); ``wait_ready`` waits.
        On ``port`` when given (a restart in place: the data directory is kept)."""
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        if self.virtual_host:  # s3proxy then takes 127.0.0.1 for a bucket name: the bucket is made as a folder
            (self.dir / "data" / self.bucket).mkdir(exist_ok=True)
        if not port:
            self.port, self.https_port = _free_ports(2)
        self.endpoint = f"http://{self.host}:{self.port}"
        extra = []
        if self.tls:
            self.https_endpoint = f"https://{self.host}:{self.https_port}"
            extra = [f"s3proxy.secure-endpoint={self.https_endpoint}", *self._make_keystore()]
        if self.virtual_host:
            extra.append(f"s3proxy.virtual-host={self.virtual_host}")
        if self.signed_body_limit:
            extra.append(f"s3proxy.v4-max-non-chunked-request-size={self.signed_body_limit}")
        props = self.dir / "s3proxy.conf"
        props.write_text(
            f"s3proxy.endpoint={self.endpoint}\n"
            "s3proxy.authorization=aws-v2-or-v4\n"
            f"s3proxy.identity={self.access_key}\n"
            f"s3proxy.credential={self.secret_key}\n"
            "s3proxy.ignore-unknown-headers=true\n"
            "jclouds.provider=filesystem\n"
            f"jclouds.filesystem.basedir={self.dir / 'data'}\n" + "".join(line + "\n" for line in extra)
        )
        cmd = [
            str(Path(self.jdk.home) / "bin" / "java"),
            f"-Xmx{self.heap}",
            "-jar",
            str(self.jar),
            "--properties",
            str(props),
        ]
        self.process = spawn("s3proxy", cmd, cwd=str(self.dir), env=dict(os.environ), log_path=self.log_path)

    def wait_ready(self, deadline: float) -> None:
        while True:
            if self.process.poll() is not None:
                raise StackError(
                    f"s3proxy exited with code {self.process.returncode} during startup",
                    f"--- {self.log_path} ---\n{tail_file(self.log_path)}",
                )
            try:
                status, _ = http_request(self.endpoint + "/", timeout=2)
                if status < 500:  # 403 AccessDenied to an unsigned request: it is up
                    break
            except _CONN_ERRORS:
                pass
            if time.monotonic() > deadline:
                raise StackError("s3proxy did not answer in time", tail_file(self.log_path))
            time.sleep(0.2)
        if not self.virtual_host and self.bucket not in [b["Name"] for b in self.client().list_buckets()["Buckets"]]:
            self.client().create_bucket(Bucket=self.bucket)

    def info(self) -> dict[str, Any]:
        found = {**super().info(), "moto_version": None, "s3proxy_version": self.version}
        if self.tls:
            found.update(https_endpoint=self.https_endpoint, ca_file=self.ca_file)
        return found


# --------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------


class Node:
    """One engine node: a single-node cluster, or one node of a multi-node cluster (``peers``).
    Attributes are filled in while it starts."""

    def __init__(
        self,
        name: str,
        fetched: FetchedEngine,
        workdir: Path,
        heap: str,
        kind: NodeKind = None,
        repo_path: str = None,
        cluster: str = None,
    ):
        self.name = name
        self.cluster = cluster or name  # the Stack's cluster key: "source" for node "source-2"
        self.peers: list[Node] = [self]  # every node of this cluster, this one included (set by the Stack)
        self.kind = kind or NODE_KINDS[self.cluster]
        self.engine = fetched.engine
        self.version = fetched.version
        self.home = fetched.home
        self.java_home = fetched.java_home
        self.java_version = fetched.java_version
        self.heap = heap
        self.host = HOST
        self.port = 0
        self.transport_port = 0
        self.url = ""
        self.cluster_name = f"devstack-{self.cluster}"
        self.dir = workdir / name
        self.config_dir = self.dir / "config"
        self.data_dir = self.dir / "data"
        self.logs_dir = self.dir / "logs"
        self.tmp_dir = self.dir / "tmp"
        self.repo_path = repo_path or str(self.dir / "repo")  # shared by every node with Stack(shared_repo=...)
        self.log_path = str(self.logs_dir / f"{self.cluster_name}.log")
        self.stdout_path = str(self.dir / "stdout.log")
        self.process: subprocess.Popen | None = None
        self.ready_seconds: float | None = None
        self.s3b: S3ProxyServer | None = None  # set by the Stack for kinds with s3b
        self.extra_settings: list[str] = []  # set by the Stack (its node_settings)
        # Elasticsearch security (None on OpenSearch and the matrix nodes, which run without security)
        self.username: str | None = None
        self.password: str | None = None
        self.admin_username: str | None = None
        self.admin_password: str | None = None
        if self.kind.security:
            self.admin_username = "elastic"
            self.admin_password = secrets.token_urlsafe(18)
            self.username = ES_EXTRA_USER
            self.password = secrets.token_urlsafe(18)

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.engine} {self.version} {self.url or '(not started)'}>"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- HTTP ------------------------------------------------------------

    def auth_headers(self, auth: Any = "user") -> dict[str, str]:
        """``auth``: "user" (extra ES user), "admin" (elastic), None, (user, password) or a dict of headers."""
        if isinstance(auth, dict):
            return dict(auth)
        if auth is None or (not self.kind.security and auth in ("user", "admin")):
            return {}
        if auth == "user":
            auth = (self.username, self.password)
        elif auth == "admin":
            auth = (self.admin_username, self.admin_password)
        user, pw = auth
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: Any = "user",
        headers: dict[str, str] = None,
        timeout: float = 60,
    ) -> tuple[int, Any]:
        """(status, parsed JSON) of ``method path`` on this node, with this node's credentials."""
        hdrs = self.auth_headers(auth)
        hdrs.update(headers or {})
        if not path.startswith("/"):
            path = "/" + path
        return http_request(self.url + path, method, body, headers=hdrs, timeout=timeout)

    # -- setup -----------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for k in (
            "ES_JAVA_OPTS",
            "OPENSEARCH_JAVA_OPTS",
            "CLI_JAVA_OPTS",
            "JAVA_TOOL_OPTIONS",
            "ES_PATH_CONF",
            "OPENSEARCH_PATH_CONF",
            "JAVA_HOME",
            "ES_JAVA_HOME",
            "OPENSEARCH_JAVA_HOME",
        ):
            env.pop(k, None)
        if self.engine == "opensearch":
            env.update(
                JAVA_HOME=self.java_home,
                OPENSEARCH_JAVA_HOME=self.java_home,
                OPENSEARCH_PATH_CONF=str(self.config_dir),
                OPENSEARCH_TMPDIR=str(self.tmp_dir),
            )
        else:
            env.update(ES_JAVA_HOME=self.java_home, ES_PATH_CONF=str(self.config_dir), ES_TMPDIR=str(self.tmp_dir))
            if tuple(int(p) for p in self.version.split(".")[:2]) < (7, 12):
                env["JAVA_HOME"] = self.java_home  # before 7.12 Elasticsearch reads JAVA_HOME only
        return env

    def _cli(self, tool: str, args: list[str], stdin: str = None) -> None:
        cmd = [str(Path(self.home) / "bin" / tool)] + args
        p = subprocess.run(
            cmd,
            env=self._env(),
            input=stdin,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
            cwd=str(self.dir),
        )
        if p.returncode != 0:
            raise StackError(f"{self.name}: {tool} {args[0]} failed (exit {p.returncode})", p.stdout[-4000:])

    def prepare(self, s3: S3Server | None) -> None:
        """Per-node config dir, data/log dirs and keystore (the cached home stays read-only)."""
        for d in (self.data_dir, self.logs_dir, self.tmp_dir, Path(self.repo_path)):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copytree(Path(self.home) / "config", self.config_dir)
        jvm = self.config_dir / "jvm.options"
        text = jvm.read_text()
        # OpenSearch 3.x loads its agent with a path relative to the working dir.
        text = re.sub(r"-javaagent:(?!/)(\S+)", lambda m: f"-javaagent:{self.home}/{m.group(1)}", text)
        jvm.write_text(text)
        (self.config_dir / "jvm.options.d").mkdir(exist_ok=True)
        if self.kind.s3:
            self._cli("opensearch-keystore", ["create"])
            names = ["s3.client.default.access_key", "s3.client.default.secret_key"]
            values = [s3.access_key, s3.secret_key]
            if self.kind.s3b:  # in the same call: each keystore tool run starts a JVM
                names += ["s3.client.second.access_key", "s3.client.second.secret_key"]
                values += [self.s3b.access_key, self.s3b.secret_key]
            self._cli("opensearch-keystore", ["add", "--stdin", *names], stdin="".join(v + "\n" for v in values))
        elif self.kind.security:
            # The integ-test zip has bin/elasticsearch-keystore; bootstrap.password
            # sets the `elastic` superuser's password until it is changed through
            # the API (the reserved realm reads it from the keystore).
            self._cli("elasticsearch-keystore", ["create"])
            self._cli("elasticsearch-keystore", ["add", "-x", "bootstrap.password"], stdin=self.admin_password + "\n")

    def assign_ports(self) -> None:
        """Pick free HTTP and transport ports (before the settings of any node of its cluster are written)."""
        self.port, self.transport_port = _free_ports(2)
        self.url = f"http://{self.host}:{self.port}"

    def discovery_settings(self) -> list[str]:
        """``discovery.type: single-node`` alone; in a multi-node cluster every node is a seed and
        every node is named for the first election (all master-eligible data nodes)."""
        if len(self.peers) == 1:
            return ["discovery.type: single-node"]
        q = json.dumps
        seeds = ", ".join(q(f"{p.host}:{p.transport_port}") for p in self.peers)
        names = ", ".join(q(p.name) for p in self.peers)
        return [f"discovery.seed_hosts: [{seeds}]", f"cluster.initial_cluster_manager_nodes: [{names}]"]

    def write_settings(self, s3: S3Server | None) -> None:
        if not self.port:
            self.assign_ports()
        q = json.dumps
        lines = [
            f"cluster.name: {q(self.cluster_name)}",
            f"node.name: {q(self.name)}",
            *self.discovery_settings(),
            f"network.host: {self.host}",
            f"http.port: {self.port}",
            f"transport.port: {self.transport_port}",
            f"path.data: {q(str(self.data_dir))}",
            f"path.logs: {q(str(self.logs_dir))}",
            f"path.repo: [{q(self.repo_path)}]",
            "cluster.routing.allocation.disk.threshold_enabled: false",
        ]
        if self.kind.s3:
            lines += [
                f"s3.client.default.endpoint: {q(f'{s3.host}:{s3.port}')}",
                "s3.client.default.protocol: http",
                "s3.client.default.path_style_access: true",
                f"s3.client.default.region: {s3.region}",
            ]
        if self.kind.s3b:
            lines += [
                f"s3.client.second.endpoint: {q(f'{self.s3b.host}:{self.s3b.port}')}",
                "s3.client.second.protocol: http",
                "s3.client.second.path_style_access: true",
                f"s3.client.second.region: {self.s3b.region}",
            ]
        if self.kind.security:
            lines += [
                "xpack.security.enabled: true",
                "xpack.security.http.ssl.enabled: false",
                "xpack.security.transport.ssl.enabled: false",
            ]
        elif self.engine == "elasticsearch" and (Path(self.home) / "modules" / "x-pack-security").is_dir():
            # 8.x+ turns security on by default; the 7.x integ-test zip is OSS (no x-pack
            # modules), where an xpack.* setting would be rejected as unknown.
            lines.append("xpack.security.enabled: false")
        lines += self.extra_settings
        name = "opensearch.yml" if self.engine == "opensearch" else "elasticsearch.yml"
        (self.config_dir / name).write_text("# written by devstack\n" + "\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return _root_prefix() + [str(Path(self.home) / "bin" / self.engine)]

    def server_env(self) -> dict[str, str]:
        env = self._env()
        opts = f"-Xms{self.heap} -Xmx{self.heap}"
        env["OPENSEARCH_JAVA_OPTS" if self.engine == "opensearch" else "ES_JAVA_OPTS"] = opts
        return env

    def failure(self, summary: str) -> StackError:
        parts = []
        for label, path in (("log", self.log_path), ("stdout", self.stdout_path)):
            t = tail_file(path)
            if t:
                parts.append(f"--- {self.name} {label}: {path} (last lines, stack frames omitted) ---\n{t}")
        return StackError(f"{self.name} ({self.engine} {self.version}): {summary}", "\n".join(parts))

    def bind_failed(self) -> bool:
        pat = re.compile(r"BindException|Address already in use|BindTransportException|BindHttpException")
        return any(pat.search(tail_file(p, 400)) for p in (self.log_path, self.stdout_path))

    def info(self) -> dict[str, Any]:
        d = {
            k: getattr(self, k)
            for k in (
                "name",
                "cluster",
                "engine",
                "version",
                "url",
                "port",
                "transport_port",
                "log_path",
                "stdout_path",
                "repo_path",
                "java_home",
                "java_version",
                "pid",
                "username",
                "password",
                "admin_username",
                "admin_password",
            )
        }
        d["dir"] = str(self.dir)
        return d


# --------------------------------------------------------------------------
# Stack
# --------------------------------------------------------------------------


class Stack:
    """moto S3 and s3proxy (only when ``source``/``destination`` are wanted) + clusters.  Use as a
    context manager.  ``nodes`` names the clusters; ``"source:3"`` (or ``{"source": 3}``) makes a
    cluster of 3 nodes (``source-1`` .. ``source-3``, see ``clusters``).

    >>> with Stack(nodes=("source:3", "destination:2", "es")) as stack:
    ...     status, body = stack.node_request("source", "GET", "/_cluster/health")  # its first node
    ...     stack.kill_node("source-2"); stack.start_node("source-2")
    """

    def __init__(
        self,
        nodes: Iterable[str] | dict[str, int] = DEFAULT_NODES,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        heap: str = None,
        keep_workdir: bool = None,
        workdir_parent: str = None,
        shared_repo: bool | str = False,
        node_settings: dict[str, list[str]] | None = None,
    ):
        """``shared_repo``: True gives every node one path.repo (``<workdir>/shared-repo``), a path
        gives them that directory (so nodes of two stacks can share it); nodes of different versions
        then read each other's fs repositories. ``node_settings``: cluster -> extra lines for each of
        its nodes' opensearch.yml/elasticsearch.yml, where ``{repo}`` stands for the node's path.repo
        (e.g. OpenSearch's remote-store node attributes)."""
        self.shared_repo = shared_repo
        self.node_settings = dict(node_settings or {})
        unknown = set(self.node_settings) - set(parse_clusters(nodes))
        if unknown:
            raise ValueError(f"node_settings names clusters that are not started: {sorted(unknown)}")
        self.sizes = parse_clusters(nodes)  # cluster -> number of nodes
        self.wanted = tuple(self.sizes)
        self.timeout = timeout
        self.heap = heap  # None: DEFAULT_HEAP for a single node, MULTI_HEAP for each node of a larger cluster
        if keep_workdir is None:
            keep_workdir = os.environ.get("DEVSTACK_KEEP_WORKDIR", "") not in ("", "0")
        self.keep_workdir = keep_workdir
        self.workdir_parent = workdir_parent
        self.workdir: str | None = None
        self.s3: S3Server | None = None
        self.s3b: S3ProxyServer | None = None  # s3proxy, started beside moto
        self.nodes: dict[str, Node] = {}  # cluster -> its first node (the whole cluster: clusters)
        self.clusters: dict[str, list[Node]] = {}  # cluster -> every node of it
        self.timings: dict[str, float] = {}
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._started = False
        self._stopped = False
        self._old_handlers: dict[int, Any] = {}

    # -- context manager -------------------------------------------------

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- process bookkeeping ---------------------------------------------

    def _spawn(self, label: str, cmd: list[str], *, cwd: str, env: dict[str, str], log_path: str) -> subprocess.Popen:
        with self._lock:
            if self._stopping.is_set():
                raise StackError("stack is stopping")
            with open(log_path, "ab") as out:
                proc = subprocess.Popen(
                    cmd,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self._procs.append(proc)
            self._write_state()
        log.debug("started %s pid %d: %s", label, proc.pid, " ".join(cmd))
        return proc

    def _write_state(self) -> None:
        if self.workdir:
            write_state(self.workdir, self._procs, keep=self.keep_workdir)

    def _start_reaper(self) -> None:
        self._reaper = start_reaper(self.workdir)

    def _stop_reaper(self) -> None:
        stop_reaper(getattr(self, "_reaper", None))

    def _on_signal(self, signum, frame):
        raise SystemExit(128 + signum)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            self._old_handlers[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._old_handlers.clear()

    # -- start -----------------------------------------------------------

    def start(self) -> Stack:
        if self._started:
            return self
        self._started = True
        atexit.register(self.stop)
        try:
            self._install_signal_handlers()
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        t0 = time.monotonic()
        needed = sorted({NODE_KINDS[n].fetch for n in self.wanted})
        try:
            fetched = engines.fetch_all(needed)
        except FetchError as e:
            first, _, rest = str(e).partition("\n")
            raise StackError(first, rest) from None
        self.timings["fetch"] = time.monotonic() - t0

        self.workdir = tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=self.workdir_parent)
        workdir = Path(self.workdir)
        self._write_state()
        self._start_reaper()
        t1 = time.monotonic()
        deadline = t1 + self.timeout
        if any(NODE_KINDS[n].s3 for n in self.wanted):
            try:
                self.s3b = S3ProxyServer(workdir, *engines.fetch_s3proxy())
            except FetchError as e:
                raise StackError(str(e)) from None
            self.s3b.launch(self._spawn)
            self.s3 = S3Server(workdir)
            self.s3.start(self._spawn, deadline)
            self.timings["s3"] = time.monotonic() - t1
        shared = None
        if self.shared_repo:
            shared = str(workdir / "shared-repo") if self.shared_repo is True else str(self.shared_repo)
            os.makedirs(shared, exist_ok=True)
        for name, size in self.sizes.items():
            heap = self.heap or (DEFAULT_HEAP if size == 1 else MULTI_HEAP)
            fetched_engine = fetched[NODE_KINDS[name].fetch]
            names = [name] if size == 1 else [f"{name}-{i}" for i in range(1, size + 1)]
            members = [Node(n, fetched_engine, workdir, heap, repo_path=shared, cluster=name) for n in names]
            for node in members:
                node.peers = members
                node.s3b = self.s3b
                node.extra_settings = [
                    line.replace("{repo}", node.repo_path) for line in self.node_settings.get(name, [])
                ]
                if size > 1:
                    node.assign_ports()  # every node's transport port goes into every node's seed list
            self.clusters[name] = members
            self.nodes[name] = members[0]

        t2 = time.monotonic()
        deadline = t2 + self.timeout
        errors: list[StackError] = []
        every = [node for members in self.clusters.values() for node in members]
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(every), thread_name_prefix="devstack") as ex:
            futures = {ex.submit(self._bring_up, node, deadline): node for node in every}
            try:
                pending = set(futures)
                while pending:
                    done, pending = concurrent.futures.wait(
                        pending, timeout=0.5, return_when=concurrent.futures.FIRST_EXCEPTION
                    )
                    for f in done:
                        exc = f.exception()
                        if exc is not None and not (
                            isinstance(exc, StackError) and exc.summary.endswith("start aborted")
                        ):
                            errors.append(
                                exc
                                if isinstance(exc, StackError)
                                else StackError(f"{futures[f].name}: {type(exc).__name__}: {exc}")
                            )
                    if errors:
                        self._stopping.set()  # let the other threads give up quickly
            except BaseException:
                self._stopping.set()
                raise
        if errors:
            first = errors[0]
            others = "; ".join(e.summary for e in errors[1:])
            raise StackError(
                first.summary + (f" (also: {others})" if others else ""),
                "\n".join(e.details for e in errors if e.details),
            )
        for members in self.clusters.values():
            if len(members) > 1:
                self._wait_joined(members[0], len(members), deadline)
        self.timings["nodes"] = time.monotonic() - t2
        if self.s3b:
            t3 = time.monotonic()
            self.s3b.wait_ready(t3 + self.timeout)
            self.timings["s3b_extra"] = time.monotonic() - t3  # what s3proxy added after the engines were up
        self.timings["total"] = time.monotonic() - t0
        log.info(
            "stack ready in %.1fs (fetch %.1fs, nodes %.1fs)",
            self.timings["total"],
            self.timings["fetch"],
            self.timings["nodes"],
        )

    def _bring_up(self, node: Node, deadline: float) -> None:
        started = time.monotonic()
        node.prepare(self.s3)
        for attempt in range(3):
            if attempt:
                node.assign_ports()
            node.write_settings(self.s3)
            node.process = self._spawn(
                node.name, node.command(), cwd=str(node.dir), env=node.server_env(), log_path=node.stdout_path
            )
            log.info(
                "%s: %s %s starting on %s (pid %d, java %s)",
                node.name,
                node.engine,
                node.version,
                node.url,
                node.pid,
                node.java_version,
            )
            try:
                self._wait_ready(node, deadline)
                break
            except StackError:
                if attempt < 2 and node.process.poll() is not None and node.bind_failed():
                    log.warning("%s: port clash, retrying with new ports", node.name)
                    with self._lock:
                        self._procs.remove(node.process)
                    kill_groups([node.process], grace=5)
                    continue
                raise
        if node.kind.security:
            self._setup_es_security(node)
        node.ready_seconds = time.monotonic() - started
        log.info("%s: ready after %.1fs", node.name, node.ready_seconds)

    def _wait_ready(self, node: Node, deadline: float) -> None:
        root_ok = node.engine != "opensearch"  # the ES integ-test zip has no GET / handler
        last = "no HTTP answer yet"
        while True:
            if self._stopping.is_set():
                raise StackError(f"{node.name}: start aborted")
            rc = node.process.poll()
            if rc is not None:
                raise node.failure(f"process exited with code {rc} during startup")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise node.failure(f"not ready within {self.timeout:.0f}s (last: {last})")
            try:
                if not root_ok:
                    status, body = node.request("GET", "/", timeout=3)
                    root_ok = status == 200
                    last = f"GET / -> {status} {json.dumps(body)[:200]}"
                if root_ok:
                    wait = max(1, min(5, int(remaining)))
                    status, body = node.request(
                        "GET",
                        f"/_cluster/health?wait_for_status=yellow&timeout={wait}s",
                        auth="admin",
                        timeout=wait + 5,
                    )
                    if status == 200 and isinstance(body, dict) and not body.get("timed_out"):
                        return
                    last = f"GET /_cluster/health -> {status} {json.dumps(body)[:200]}"
            except _CONN_ERRORS as e:
                if "no HTTP" not in last:
                    last = f"{type(e).__name__}: {e}"
            time.sleep(0.5)

    def _setup_es_security(self, node: Node) -> None:
        """Create the extra user and check that API keys work (needs the .security index)."""
        status, body = node.request(
            "POST",
            f"/_security/user/{node.username}",
            {
                "password": node.password,
                "roles": ["superuser"],
                "full_name": "devstack snapshot user",
            },
            auth="admin",
        )
        if status != 200:
            raise node.failure(f"creating user {node.username} answered {status}: {json.dumps(body)[:500]}")
        status, key = node.request("POST", "/_security/api_key", {"name": "devstack-selfcheck", "expiration": "1h"})
        if status != 200 or not isinstance(key, dict) or "encoded" not in key:
            raise node.failure(f"POST /_security/api_key as {node.username} answered {status}: {json.dumps(key)[:500]}")
        status, who = node.request(
            "GET", "/_security/_authenticate", auth={"Authorization": "ApiKey " + key["encoded"]}
        )
        if status != 200 or who.get("authentication_type") != "api_key":
            raise node.failure(f"authenticating with an API key answered {status}: {json.dumps(who)[:500]}")
        node.request("DELETE", "/_security/api_key", {"ids": [key["id"]]})

    # -- stop ------------------------------------------------------------

    def stop(self) -> None:
        """Kill every process group we started and remove the working directory.  Idempotent."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        self._stopping.set()
        main = threading.current_thread() is threading.main_thread()
        saved = {}
        if main:  # do not let a second Ctrl-C interrupt the teardown
            for s in (signal.SIGINT, signal.SIGTERM):
                saved[s] = signal.signal(s, signal.SIG_IGN)
        try:
            with self._lock:
                procs = list(self._procs)
            if procs:
                log.info("stopping %d process group(s)", len(procs))
                kill_groups(procs)
            self._stop_reaper()
            if self.workdir and os.path.isdir(self.workdir):
                if self.keep_workdir:
                    os.remove(os.path.join(self.workdir, STATE_FILE))
                    log.info("kept working directory %s", self.workdir)
                else:
                    shutil.rmtree(self.workdir, ignore_errors=True)
        finally:
            if main:
                for s, h in saved.items():
                    signal.signal(s, h)
            self._restore_signal_handlers()
            try:
                atexit.unregister(self.stop)
            except Exception:
                pass

    # -- helpers for tests -----------------------------------------------

    def node_request(self, name: str, method: str, path: str, body: Any = None, **kwargs) -> tuple[int, Any]:
        """(status, parsed JSON) of a request to node ``name`` (a cluster: its first node; or a node
        name such as ``source-2``) with its credentials (see Node.request)."""
        return self.node(name).request(method, path, body, **kwargs)

    def all_nodes(self) -> list[Node]:
        return [node for members in self.clusters.values() for node in members]

    def node(self, name: str) -> Node:
        """The node called ``name`` (``source-2``), or the first node of cluster ``name``."""
        if name in self.nodes:
            return self.nodes[name]
        for node in self.all_nodes():
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r} in this stack (nodes: {', '.join(n.name for n in self.all_nodes())})")

    def urls(self, cluster: str) -> list[str]:
        """The HTTP URL of every node of ``cluster``, first node first."""
        return [node.url for node in self.clusters[cluster]]

    def master(self, cluster: str, timeout: float = 60) -> Node:
        """The elected cluster manager of ``cluster``, asked of its running nodes (waits up to
        ``timeout`` s while an election goes on). Raises StackError if none is known in time."""
        deadline = time.monotonic() + timeout
        last = "no node answered"
        while True:
            for node in self.clusters[cluster]:
                if not node.running:
                    continue
                try:
                    status, body = node.request("GET", "/_cat/cluster_manager?format=json", timeout=10)
                except _CONN_ERRORS as e:
                    last = f"{node.name}: {type(e).__name__}"
                    continue
                if status == 200 and body and isinstance(body, list):
                    name = body[0].get("node")
                    for candidate in self.clusters[cluster]:
                        if candidate.name == name and candidate.running:
                            return candidate
                last = f"{node.name}: {status} {json.dumps(body)[:200]}"
            if time.monotonic() > deadline:
                raise StackError(f"{cluster}: no elected cluster manager within {timeout:.0f}s ({last})")
            time.sleep(0.5)

    def kill_node(self, name: str) -> None:
        """SIGKILL one node (its whole process group) and wait until it is gone; its data dir stays."""
        self._end_node(self.node(name), signal.SIGKILL)

    def stop_node(self, name: str, grace: float = STOP_GRACE) -> None:
        """Stop one node gracefully (SIGTERM, SIGKILL after ``grace`` s); its data dir stays."""
        self._end_node(self.node(name), signal.SIGTERM, grace)

    def _end_node(self, node: Node, signum: int, grace: float = STOP_GRACE) -> None:
        proc = node.process
        if proc is None or proc.poll() is not None:
            return
        if signum == signal.SIGKILL:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            kill_groups([proc], grace=5)  # reaps, and kills what survived
        else:
            kill_groups([proc], grace=grace)
        with self._lock:
            if proc in self._procs:
                self._procs.remove(proc)
            self._write_state()
        log.info("%s: %s", node.name, "killed" if signum == signal.SIGKILL else "stopped")

    def start_node(self, name: str, *, wait: bool = True, timeout: float = None) -> None:
        """Start a stopped or killed node again, same ports, config and data dir. With ``wait``,
        returns once it answers and its cluster has all its nodes again. Raises StackError."""
        node = self.node(name)
        if node.running:
            return
        node.process = self._spawn(
            node.name, node.command(), cwd=str(node.dir), env=node.server_env(), log_path=node.stdout_path
        )
        log.info("%s: restarting on %s (pid %d)", node.name, node.url, node.pid)
        if wait:
            self.wait_node(name, timeout=timeout)

    def wait_node(self, name: str, *, timeout: float = None) -> None:
        """Wait until a (re)started node answers and its cluster counts all its nodes."""
        node = self.node(name)
        self._wait_joined(node, len(node.peers), time.monotonic() + (timeout or self.timeout))

    def restart_node(self, name: str, *, wait: bool = True, grace: float = STOP_GRACE) -> None:
        """Stop (SIGTERM) and start one node again; with ``wait``, until its cluster is whole again."""
        self.stop_node(name, grace)
        self.start_node(name, wait=wait)

    def _wait_joined(self, node: Node, count: int, deadline: float) -> None:
        last = "no HTTP answer yet"
        while True:
            rc = node.process.poll() if node.process else None
            if rc is not None:
                raise node.failure(f"process exited with code {rc} while joining its cluster")
            if time.monotonic() > deadline:
                raise node.failure(f"its cluster did not count {count} nodes in time (last: {last})")
            try:
                status, body = node.request(
                    "GET", f"/_cluster/health?wait_for_nodes={count}&timeout=5s", auth="admin", timeout=15
                )
                if status == 200 and isinstance(body, dict) and not body.get("timed_out"):
                    return
                last = f"GET /_cluster/health -> {status} {json.dumps(body)[:200]}"
            except _CONN_ERRORS as e:
                last = f"{type(e).__name__}: {e}"
                time.sleep(0.5)

    def restart_s3(self, which: str = "s3b", down: float = 0.0, *, wait: bool = True) -> None:
        """Kill the S3 server ``which`` ("s3": moto, "s3b": s3proxy), leave it down ``down`` s, and
        start it again on the same port. s3proxy keeps its data on disk; moto keeps everything in
        memory, so a restarted moto holds an empty bucket. ``wait=False`` returns right after the
        start (call ``wait_s3``)."""
        server = self.s3 if which == "s3" else self.s3b
        if server is None or server.process is None:
            raise StackError(f"no {which} server in this stack")
        proc = server.process
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # a crash, not a shutdown
        except ProcessLookupError:
            pass
        kill_groups([proc], grace=5)  # reaps it
        with self._lock:
            if proc in self._procs:
                self._procs.remove(proc)
        log.info("%s: stopped, down for %.0fs", which, down)
        if down:
            time.sleep(down)
        if which == "s3":
            server.start(self._spawn, time.monotonic() + self.timeout, port=server.port)
        else:
            server.launch(self._spawn, port=server.port)
            if wait:
                server.wait_ready(time.monotonic() + self.timeout)
        log.info("%s: running again on port %d", which, server.port)

    def wait_s3(self) -> None:
        """Wait until a restarted s3proxy answers (after ``restart_s3("s3b", wait=False)``)."""
        self.s3b.wait_ready(time.monotonic() + self.timeout)

    def check_alive(self) -> str | None:
        """Name of the first service whose process has exited, or None."""
        if self.s3 and self.s3.process and self.s3.process.poll() is not None:
            return "s3"
        if self.s3b and self.s3b.process and self.s3b.process.poll() is not None:
            return "s3b"
        for node in self.all_nodes():
            if node.process and node.process.poll() is not None:
                return node.name
        return None

    def info(self) -> dict[str, Any]:
        return {
            "workdir": self.workdir,
            "s3": self.s3.info() if self.s3 else None,
            "s3b": self.s3b.info() if self.s3b else None,
            "nodes": {n: node.info() for n, node in self.nodes.items()},
            "clusters": {c: [node.info() for node in members] for c, members in self.clusters.items()},
            "timings": self.timings,
        }


# --------------------------------------------------------------------------
# cleanup of stacks whose owner died without tearing down (e.g. SIGKILL)
# --------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    return _alive(os.kill, pid)


def _alive(kill, ident: int) -> bool:
    """Whether a process (os.kill) or process group (os.killpg) exists: signal 0 probes it."""
    try:
        kill(ident, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _belongs_to(pid: int, workdir: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if workdir.encode() in fh.read():
                return True
        return os.readlink(f"/proc/{pid}/cwd").startswith(workdir)
    except OSError:
        return False


def _read_state(workdir: Path) -> dict[str, Any]:
    try:
        return json.loads((workdir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def write_state(workdir: str | Path, procs: list[subprocess.Popen], *, keep: bool = False) -> None:
    """Record the process groups started for ``workdir`` (each process leads its own), for the
    reaper and ``clean_workdir``."""
    state = {"owner_pid": os.getpid(), "pgids": [p.pid for p in procs], "keep": keep}
    tmp = os.path.join(workdir, STATE_FILE + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(state, fh)
    os.replace(tmp, os.path.join(workdir, STATE_FILE))


def start_reaper(workdir: str | Path) -> subprocess.Popen:
    """A watchdog in its own session: if this process dies without stopping what it started for
    ``workdir`` (SIGKILL, an unhandled SIGTERM), it kills the recorded process groups and removes
    the workdir (devstack/_reaper.py)."""
    log_path = os.path.join(workdir, "reaper.log")
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "devstack._reaper", str(os.getpid()), str(workdir)],
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(
                os.environ,
                PYTHONPATH=os.pathsep.join(
                    [str(Path(__file__).resolve().parent.parent)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
                ),
            ),
        )


def stop_reaper(reaper: subprocess.Popen | None) -> None:
    if reaper and reaper.poll() is None:
        reaper.terminate()
        try:
            reaper.wait(timeout=5)
        except subprocess.TimeoutExpired:
            reaper.kill()
            reaper.wait()


def clean_workdir(workdir: Path, state: dict[str, Any] = None) -> int:
    """Kill the process groups recorded in ``workdir``'s state file (only those whose
    members really run from that workdir) and delete it, unless it is marked keep."""
    workdir = Path(workdir)
    state = state if state is not None else _read_state(workdir)
    groups = _proc_pgids()
    victims = [
        pgid for pgid in state.get("pgids", []) if any(_belongs_to(pid, str(workdir)) for pid in groups.get(pgid, []))
    ]
    for pgid in victims:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_GRACE
    while victims and time.monotonic() < deadline and any(_group_members(g) for g in victims):
        time.sleep(0.2)
    for pgid in victims:
        if _group_members(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if state.get("keep"):
        try:
            os.remove(workdir / STATE_FILE)
        except OSError:
            pass
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return len(victims)


def clean_stale(parent: str = None) -> list[str]:
    """Kill leftovers of stacks whose owning process is gone and delete their workdirs."""
    parent = parent or tempfile.gettempdir()
    done = []
    for entry in sorted(Path(parent).glob(WORKDIR_PREFIX + "*")):
        state = _read_state(entry)
        owner = state.get("owner_pid")
        if not owner:
            continue  # no state file: a kept workdir (--keep-workdir) or not ours
        if owner != os.getpid() and _pid_alive(owner):
            continue  # still in use
        n = clean_workdir(entry, state)
        done.append(f"{entry} (killed {n} process group(s))")
    return done
