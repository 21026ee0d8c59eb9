"""SlowProxy: a relay in front of one engine node that answers chosen requests late.

The request reaches the engine at once and the engine acts on it; only the answer is held back,
which is what a busy node, a repository read or an overloaded gateway looks like to a client:

    with SlowProxy(node.url, delays=[("POST", r"/_restore$", 8.0)]) as proxy:
        ... point the CLI at proxy.url ...

``delays`` is a list of (method or "*", regular expression over the path, seconds); the first
that matches holds the answer. ``proxy.requests`` records every request (RelayProxy).
"""

from __future__ import annotations

import re
import threading

from .relay import IncomingRequest, RelayProxy


class SlowProxy(RelayProxy):
    def __init__(self, upstream_url: str, *, delays: list[tuple[str, str, float]], **kwargs) -> None:
        super().__init__(upstream_url, **kwargs)
        self.delays = [(method, re.compile(pattern), seconds) for method, pattern, seconds in delays]
        self._stopping = threading.Event()

    def delay_for(self, request: IncomingRequest) -> float:
        for method, pattern, seconds in self.delays:
            if method in ("*", request.method) and pattern.search(request.path):
                return seconds
        return 0.0

    def _forward(self, request: IncomingRequest):
        answer = super()._forward(request)
        self._stopping.wait(self.delay_for(request))  # bounded, and cut short when the proxy stops
        return answer

    def stop(self) -> None:
        self._stopping.set()
        super().stop()
