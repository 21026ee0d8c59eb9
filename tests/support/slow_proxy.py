"""SlowProxy: a relay in front of one engine node that answers chosen requests late.

The request reaches the engine at once and the engine acts on it; only the answer is held back,
which is what a busy node, a repository read or an overloaded gateway looks like to a client:

    with SlowProxy(node.url, delays=[("POST", r"/_restore$", 8.0)]) as proxy:
        ... point the CLI at proxy.url ...

``delays`` is a list of (method or "*", regular expression over the path, seconds); the first
that matches holds the answer. ``cuts`` has the same shape and plays a gateway's timeout: when the
engine has not answered a matching request within its seconds, the proxy answers 504 with an HTML
page itself, while the engine goes on. ``stand_ins`` (method, regular expression, JSON body) play a
gateway that answers for the engine: a matching request is sent on to the engine and answered at
once with that body (200), whatever the engine makes of it. ``proxy.requests`` records every
request (RelayProxy).
"""

from __future__ import annotations

import json
import re
import threading

from .relay import IncomingRequest, RelayProxy

GATEWAY_PAGE = (
    b"<html><head><title>504 Gateway Time-out</title></head><body><h1>504 Gateway Time-out</h1></body></html>"
)


class SlowProxy(RelayProxy):
    def __init__(
        self,
        upstream_url: str,
        *,
        delays: list[tuple[str, str, float]] = (),
        cuts: list[tuple[str, str, float]] = (),
        stand_ins: list[tuple[str, str, dict]] = (),
        **kwargs,
    ) -> None:
        super().__init__(upstream_url, **kwargs)
        self.stand_ins = [(method, re.compile(pattern), body) for method, pattern, body in stand_ins]
        self.delays = [(method, re.compile(pattern), seconds) for method, pattern, seconds in delays]
        self.cuts = [(method, re.compile(pattern), seconds) for method, pattern, seconds in cuts]
        self._stopping = threading.Event()

    def delay_for(self, request: IncomingRequest, rules=None) -> float:
        for method, pattern, seconds in self.delays if rules is None else rules:
            if method in ("*", request.method) and pattern.search(request.path):
                return seconds
        return 0.0

    def _forward(self, request: IncomingRequest):
        for method, pattern, body in self.stand_ins:
            if method in ("*", request.method) and pattern.search(request.path):
                threading.Thread(target=lambda: RelayProxy._forward(self, request), daemon=True).start()
                return 200, "OK", [("Content-Type", "application/json")], json.dumps(body).encode()
        cut = self.delay_for(request, self.cuts)
        if cut:
            answers: list = []
            engine = threading.Thread(target=lambda: answers.append(RelayProxy._forward(self, request)), daemon=True)
            engine.start()
            engine.join(cut)
            return answers[0] if answers else (504, "Gateway Time-out", [("Content-Type", "text/html")], GATEWAY_PAGE)
        answer = super()._forward(request)
        self._stopping.wait(self.delay_for(request))  # bounded, and cut short when the proxy stops
        return answer

    def stop(self) -> None:
        self._stopping.set()
        super().stop()
