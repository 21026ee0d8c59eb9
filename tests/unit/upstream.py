"""A tiny JSON HTTP server on 127.0.0.1 that records the headers it receives (unit tests only)."""

from __future__ import annotations

import http.server
import json
import threading


class Upstream:
    def __init__(self, status=200, body=None, raw=None, content_type="application/json", delay=0.0):
        self.status = status
        self.raw = raw  # bytes answered as they are, instead of body as JSON
        self.content_type = content_type
        self.delay = delay  # seconds before answering (a slow node)
        self.body = (
            body
            if body is not None
            else {"cluster_name": "up", "version": {"number": "3.3.2", "distribution": "opensearch"}}
        )
        self.seen: list[tuple[str, str, dict]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                owner.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                if owner.delay:
                    threading.Event().wait(owner.delay)  # not time.sleep: unit tests guard it
                data = owner.raw if owner.raw is not None else json.dumps(owner.body).encode()
                self.send_response(owner.status)
                self.send_header("content-type", owner.content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def dead_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
