"""A small threaded HTTP(S) reverse proxy on 127.0.0.1, shared by the test proxies.

``RelayProxy`` accepts requests on a free loopback port, optionally lets a
subclass inspect (and reject) each request, forwards the rest to one upstream
node and relays the answer back.  ``SigV4VerifyingProxy`` (sigv4_proxy.py) and
``TLSTerminatingProxy`` (tls.py) are both built on it.

Standard library only.  Every socket has a timeout, and ``stop()`` closes
client and upstream sockets so that no handler thread outlives the proxy.

Usage::

    with RelayProxy("http://127.0.0.1:9200") as proxy:
        requests.get(proxy.url + "/_cluster/health")
        assert proxy.requests == [("GET", "/_cluster/health", 200)]
"""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "HOP_BY_HOP_HEADERS",
    "IncomingRequest",
    "Rejection",
    "RequestRecord",
    "RelayProxy",
    "server_ssl_context",
]

# RFC 9110 section 7.6.1 plus the legacy names still seen in the wild.
HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)

MAX_BODY_BYTES = 256 * 1024 * 1024  # the tests send small bodies; this is a safety bound


class RequestRecord(NamedTuple):
    """One handled request; ``path`` is the raw target (path and ?query) as received."""

    method: str
    path: str
    status: int


@dataclass(frozen=True)
class IncomingRequest:
    """A request as it arrived, before it is forwarded."""

    method: str
    target: str  # origin-form: path plus "?query" exactly as sent on the wire
    headers: list[tuple[str, str]]  # in arrival order, original spelling
    body: bytes
    client_address: tuple[str, int]

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def header(self, name: str, default: str | None = None) -> str | None:
        """First value of a header (case-insensitive)."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return default

    def header_values(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]


@dataclass(frozen=True)
class Rejection:
    """Answer a request locally instead of forwarding it."""

    status: int
    body: dict
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real node
    server_version = "es-s3-snapshot-test-relay"
    timeout = 30  # idle keep-alive connections time out (bounded loop)

    server: _Server

    # -- plumbing -------------------------------------------------------
    def setup(self) -> None:
        owner = self.server.owner
        owner._track(self.request)
        if owner.ssl_context is not None:
            # Handshake here, in the per-connection thread, so a client that
            # never completes it cannot block the accept loop.
            raw = self.request
            raw.settimeout(self.timeout)
            try:
                self.request = owner.ssl_context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                owner._record_handshake_failure(exc)
                owner._untrack(raw)
                raise
            owner._untrack(raw)
            owner._track(self.request)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._untrack(self.request)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature from stdlib
        pass  # the owner keeps structured records instead

    # -- request handling -------------------------------------------------
    def _handle_any(self) -> None:
        owner = self.server.owner
        body = self._read_body()
        if body is None:
            return
        incoming = IncomingRequest(
            method=self.command,
            target=_origin_form(self.path),
            headers=list(self.headers.items()),
            body=body,
            client_address=self.client_address,
        )
        rejection = owner.inspect(incoming)
        if rejection is not None:
            owner._record(incoming, rejection.status, rejected=True, reason=rejection.reason)
            self._send_json(rejection.status, rejection.body, rejection.headers)
            return
        status, reason, headers, payload = owner._forward(incoming)
        owner._record(incoming, status, rejected=False)
        self._send(status, reason, headers, payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle_any

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            self._send_json(400, {"message": "bad Content-Length"})
            return None
        if size < 0 or size > MAX_BODY_BYTES:
            self._send_json(413, {"message": "body too large for the test relay"})
            return None
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes | None:
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self._send_json(400, {"message": "bad chunk size"})
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers are dropped
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                self._send_json(413, {"message": "body too large for the test relay"})
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # CRLF after each chunk

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response_only(status, reason or None)
        has_length = False
        for name, value in headers:
            if name.lower() == "content-length":
                has_length = True
            self.send_header(name, value)
        if not has_length and not (self.command == "HEAD" or status in (204, 304) or 100 <= status < 200):
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)
        self.wfile.flush()

    def _send_json(self, status: int, obj: dict, extra_headers=()) -> None:
        payload = json.dumps(obj).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        headers.extend(extra_headers)
        self._send(status, http.client.responses.get(status, ""), headers, payload)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True  # server_close() joins the handler threads
    allow_reuse_address = False
    owner: RelayProxy

    def handle_error(self, request, client_address) -> None:
        # Client disconnects and TLS handshake failures are expected in tests;
        # keep them out of stderr, but keep them available for debugging.
        import sys

        exc = sys.exc_info()[1]
        self.owner._record_error(exc)


def server_ssl_context(cert, key=None) -> ssl.SSLContext:
    """Server-side TLS context for a PEM certificate (chain) and key (None: key inside cert file)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), None if key is None else str(key))
    return context


def _origin_form(target: str) -> str:
    """Turn an absolute-form request target ("http://h:p/x?y") into "/x?y"."""
    if target.startswith(("http://", "https://")):
        parts = urllib.parse.urlsplit(target)
        return (parts.path or "/") + (("?" + parts.query) if parts.query else "")
    return target


class RelayProxy:
    """Threaded reverse proxy from a free 127.0.0.1 port to ``upstream_url``.

    Subclasses override :meth:`inspect` (return a :class:`Rejection` to answer
    locally) and :meth:`forward_header` (drop headers before forwarding).

    Attributes tests can read: ``url``, ``port``, ``accepted``, ``rejected``,
    ``requests`` (list of ``RequestRecord(method, path, status)``, where
    ``path`` is the raw target including any query string), ``rejections``
    (list of ``(method, path, reason)``), ``handshake_failures`` and
    ``errors`` (exceptions raised while serving, e.g. client disconnects).
    """

    scheme = "http"

    def __init__(
        self,
        upstream_url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        upstream_ssl_context: ssl.SSLContext | None = None,
        upstream_timeout: float = 120.0,
    ) -> None:
        parts = urllib.parse.urlsplit(upstream_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream_url must be http(s)://host:port, got {upstream_url!r}")
        self.upstream_url = upstream_url.rstrip("/")
        self._upstream_scheme = parts.scheme
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or (443 if parts.scheme == "https" else 80)
        self._upstream_netloc = parts.netloc
        self._upstream_prefix = parts.path.rstrip("/")
        self._upstream_ssl_context = upstream_ssl_context
        self.upstream_timeout = upstream_timeout
        self.ssl_context = ssl_context
        if ssl_context is not None:
            self.scheme = "https"

        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.accepted = 0
        self.rejected = 0
        self.requests: list[RequestRecord] = []
        self.rejections: list[tuple[str, str, str]] = []
        self.handshake_failures = 0
        self.errors: list[BaseException] = []

        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- hooks for subclasses ----------------------------------------------
    def inspect(self, request: IncomingRequest) -> Rejection | None:
        """Return a Rejection to answer the request locally; None forwards it."""
        return None

    def forward_header(self, name: str) -> bool:
        """Whether a request header (lower-case name) is passed upstream."""
        return name not in HOP_BY_HOP_HEADERS and name not in ("host", "content-length")

    # -- lifecycle -----------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("proxy is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url_for_host(self, host: str) -> str:
        """Same proxy, addressed by another name (e.g. "localhost")."""
        return f"{self.scheme}://{host}:{self.port}"

    def start(self) -> RelayProxy:
        if self._server is not None:
            raise RuntimeError("already started")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"{type(self).__name__}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()  # stops serve_forever (returns within poll_interval)
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:  # wake handler threads blocked on idle or upstream sockets
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()  # closes the listener and joins handler threads
        if thread is not None:
            thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------
    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def _record(self, request: IncomingRequest, status: int, *, rejected: bool, reason: str = "") -> None:
        with self._lock:
            self.requests.append(RequestRecord(request.method, request.target, status))
            if rejected:
                self.rejected += 1
                self.rejections.append((request.method, request.target, reason))
            else:
                self.accepted += 1

    def _record_handshake_failure(self, exc: BaseException) -> None:
        with self._lock:
            self.handshake_failures += 1

    def _record_error(self, exc: BaseException | None) -> None:
        if exc is not None:
            with self._lock:
                self.errors.append(exc)

    def _forward(self, request: IncomingRequest) -> tuple[int, str, list[tuple[str, str]], bytes]:
        if self._upstream_scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._upstream_host,
                self._upstream_port,
                timeout=self.upstream_timeout,
                context=self._upstream_ssl_context,
            )
        else:
            conn = http.client.HTTPConnection(self._upstream_host, self._upstream_port, timeout=self.upstream_timeout)
        try:
            conn.putrequest(
                request.method,
                self._upstream_prefix + request.target,
                skip_host=True,
                skip_accept_encoding=True,
            )
            conn.putheader("Host", self._upstream_netloc)
            for name, value in request.headers:
                if self.forward_header(name.lower()):
                    conn.putheader(name, value)
            if request.body or request.method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(request.body)))
            conn.endheaders()
            if conn.sock is not None:
                self._track(conn.sock)
            if request.body:
                conn.send(request.body)
            response = conn.getresponse()
            payload = response.read()
            headers = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower() not in HOP_BY_HOP_HEADERS and name.lower() != "content-length"
            ]
            if request.method == "HEAD" and response.getheader("Content-Length"):
                headers.append(("Content-Length", response.getheader("Content-Length")))
            return response.status, response.reason, headers, payload
        except (OSError, http.client.HTTPException) as exc:
            body = json.dumps({"message": f"test relay could not reach upstream {self.upstream_url}: {exc}"})
            return 502, "Bad Gateway", [("Content-Type", "application/json")], body.encode()
        finally:
            if conn.sock is not None:
                self._untrack(conn.sock)
            conn.close()
