"""A reverse proxy that forwards every request unchanged and records what each one cost.

``CountingProxy`` is a ``RelayProxy`` (relay.py) that rejects nothing and keeps, per request, a
``Exchange``: method, target (path and ?query as sent), the length of the request line, the
response status, the response body's size in bytes, and wall-clock start and end times
(``time.time()``, so they compare with the engines' ``*_in_millis`` times on the same machine).

    with CountingProxy(node.url) as proxy:
        run_cli(...)                           # the tool's seed is proxy.url
        proxy.exchanges                        # [Exchange(method="GET", target="/", ...), ...]
        proxy.reset()

The bench (devstack/bench.py) and tests both use it. Standard library only.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from .relay import IncomingRequest, RelayProxy

__all__ = ["CountingProxy", "Exchange"]


class Exchange(NamedTuple):
    """One forwarded request and its answer."""

    method: str
    target: str  # path plus "?query", exactly as received
    line_bytes: int  # length of the request line "METHOD target HTTP/1.1"
    status: int
    body_bytes: int  # the response body as the node sent it
    started: float  # time.time() when the proxy had read the request
    ended: float  # time.time() when the node's answer had been read

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""


class CountingProxy(RelayProxy):
    """Forwards everything to one node and records an ``Exchange`` per request (thread-safe).

    ``upstream_timeout`` is long by default: blocking calls (``wait_for_completion=true``, health
    long-polls) must not be cut by the proxy.
    """

    def __init__(self, upstream_url: str, *, upstream_timeout: float = 3600.0, **kwargs) -> None:
        super().__init__(upstream_url, upstream_timeout=upstream_timeout, **kwargs)
        self._exchanges: list[Exchange] = []

    def _forward(self, request: IncomingRequest):
        started = time.time()
        status, reason, headers, payload = super()._forward(request)
        line = f"{request.method} {request.target} HTTP/1.1"
        exchange = Exchange(
            request.method, request.target, len(line.encode()), status, len(payload), started, time.time()
        )
        with self._lock:
            self._exchanges.append(exchange)
        return status, reason, headers, payload

    @property
    def exchanges(self) -> list[Exchange]:
        """A copy of the records so far, in the order the answers came back."""
        with self._lock:
            return sorted(self._exchanges, key=lambda e: e.started)

    def reset(self) -> list[Exchange]:
        """Forget the records (and the base class's counters); return what was recorded."""
        with self._lock:
            taken, self._exchanges = sorted(self._exchanges, key=lambda e: e.started), []
            self.requests.clear()
            self.accepted = 0
        return taken
