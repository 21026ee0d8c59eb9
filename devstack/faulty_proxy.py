"""A reverse proxy to an S3 server that fails as stores and networks do:

- ``throttle_every=N``: every N-th request is answered 503 SlowDown, as S3 does under load;
- ``breaks=N``: the bodies of object GETs are broken off halfway, as a lost connection or a store
  restarting does: the answer's headers promise the whole body, half of it is sent, and the
  connection is closed (``how="close"``) or reset (``how="reset"``); the first N such answers of
  each key over ``larger_than`` bytes (ranged GETs count too);
- ``delay=S``: each request waits S seconds before it is forwarded, as a busy store answers slowly;
- a server that cannot be reached (stopped, restarting) is answered 502 Bad Gateway, as a load
  balancer in front of a store answers (counted in ``bad_gateway``).

    proxy = FaultyProxy(upstream_url, breaks=1)   # each object's first GET over 1 MiB breaks
    ... point a store's endpoint_url at proxy.url ...
    proxy.broken, proxy.ranges, proxy.requests, proxy.throttled, proxy.bad_gateway, proxy.close()

Every other request goes to the server as it came, Host header included, so a server that checks
signatures (s3proxy) takes them. For tests only: 127.0.0.1, one thread per connection.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import struct
import threading
import time
from collections import Counter

PASSED_OVER = ("content-length", "transfer-encoding", "connection", "server", "date")
SLOW_DOWN = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
BAD_GATEWAY = b"<html><body>502 Bad Gateway</body></html>"


class FaultyProxy:
    def __init__(
        self,
        upstream: str,
        *,
        throttle_every: int = 0,
        breaks: int = 0,
        larger_than: int = 1024**2,
        how: str = "close",
        delay: float = 0.0,
    ):
        self.lock = threading.Lock()
        self.requests = self.throttled = self.bad_gateway = 0
        self.broken: Counter[str] = Counter()  # path -> GET answers broken off
        self.ranges: list[tuple[str, str]] = []  # (path, Range header) of each ranged GET
        target = upstream.split("//", 1)[1]
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with proxy.lock:
                    proxy.requests += 1
                    throttle = bool(throttle_every) and proxy.requests % throttle_every == 0
                    proxy.throttled += throttle
                if throttle:
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(SLOW_DOWN)))
                    self.end_headers()
                    self.wfile.write(SLOW_DOWN)
                    return
                if delay:
                    time.sleep(delay)
                upstream_connection = http.client.HTTPConnection(target, timeout=60)
                try:
                    upstream_connection.request(self.command, self.path, body=body or None, headers=dict(self.headers))
                    answer = upstream_connection.getresponse()
                    data = answer.read()
                except (OSError, http.client.HTTPException):
                    with proxy.lock:
                        proxy.bad_gateway += 1
                    self.send_response(502)
                    self.send_header("Content-Length", str(len(BAD_GATEWAY)))
                    self.end_headers()
                    self.wfile.write(BAD_GATEWAY)
                    return
                finally:
                    upstream_connection.close()
                is_object_get = self.command == "GET" and "?" not in self.path
                with proxy.lock:
                    if is_object_get and self.headers.get("range"):
                        proxy.ranges.append((self.path, self.headers["range"]))
                    cut = is_object_get and len(data) > larger_than and proxy.broken[self.path] < breaks
                    proxy.broken[self.path] += cut
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in PASSED_OVER:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not cut:
                    self.wfile.write(data)
                    return
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                if how == "reset":  # RST instead of FIN: the reader gets ECONNRESET
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
