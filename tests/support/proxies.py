"""Real SOCKS5 and HTTP forward proxies on 127.0.0.1, for proving traffic went through them.

Both run ``pproxy`` (https://pypi.org/project/pproxy/, pure Python) in a
subprocess, installed with::

    /tmp/venv/bin/pip install pproxy

    with Socks5Proxy() as socks:                 # socks.url == "socks5h://127.0.0.1:PORT"
        run_cli("--proxy", socks.url, ...)
        socks.wait_for_connections(1)            # raises if nothing came through
        assert socks.targets[-1] == "127.0.0.1:9200"

    with HttpProxy() as proxy:                   # proxy.url == "http://127.0.0.1:PORT"
        ...                                      # CONNECT and absolute-URI forwarding

pproxy listens on port 0 and prints the port it got, so there is no race for
the port.  With ``-v`` it prints one line per client connection
(``socks5 127.0.0.1:54321 -> 127.0.0.1:9200``); a reader thread parses those
into ``connections`` / ``targets``.  Note these are connections, not requests:
a keep-alive client sends many requests over one connection.

The line is printed before pproxy connects upstream, but the reader thread may
see it a moment after the client got its answer: use ``wait_for_connections(n)``
rather than reading ``connections`` right after a request.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import threading
import time

__all__ = ["ProxyNotInstalledError", "Socks5Proxy", "HttpProxy"]

START_TIMEOUT = 15.0
_SERVING_RE = re.compile(r"^Serving on .*?127\.0\.0\.1:(\d+) by ")
_CONNECTION_RE = re.compile(r"^(?P<proto>socks5|socks4|http)\s+(?P<client>\S+)\s+->\s+(?P<target>\S+)")


class ProxyNotInstalledError(RuntimeError):
    pass


class _PproxyServer:
    protocol = ""  # pproxy listen scheme
    url_scheme = ""  # scheme clients use in their proxy URL

    def __init__(
        self, *, python: str | None = None, env: dict[str, str] | None = None, start_timeout: float = START_TIMEOUT
    ) -> None:
        self._python = python or sys.executable
        self._env = env
        self._start_timeout = start_timeout
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._cond = threading.Condition()
        self.port: int | None = None
        self.output: list[str] = []  # every line pproxy printed
        self.targets: list[str] = []  # "host:port" per client connection, in order
        self.clients: list[str] = []  # "ip:port" of the client, same order

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("proxy is not running")
        return f"{self.url_scheme}://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        with self._cond:
            return len(self.targets)

    def wait_for_connections(self, count: int, timeout: float = 5.0) -> int:
        """Block until at least ``count`` connections were logged; return the number."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.targets) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{type(self).__name__}: expected >= {count} proxied connections, "
                        f"saw {len(self.targets)}; output: {self.output!r}"
                    )
                self._cond.wait(remaining)
            return len(self.targets)

    def start(self):
        if importlib.util.find_spec("pproxy") is None:
            raise ProxyNotInstalledError(
                f"the 'pproxy' package is required for SOCKS5/HTTP proxy tests: {self._python} -m pip install pproxy"
            )
        self._process = subprocess.Popen(
            [self._python, "-u", "-m", "pproxy", "-l", f"{self.protocol}://127.0.0.1:0", "-v"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=self._env,
        )
        self._reader = threading.Thread(target=self._read_output, name=f"pproxy-{self.protocol}-reader", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self._start_timeout
        with self._cond:
            while self.port is None:
                remaining = deadline - time.monotonic()
                if self._process.poll() is not None or remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.2))
        if self.port is None:
            self.stop()
            raise RuntimeError(f"pproxy ({self.protocol}) did not start: {''.join(self.output)!r}")
        return self

    def _read_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:  # ends when the process exits
            with self._cond:
                self.output.append(line)
                if self.port is None and (m := _SERVING_RE.match(line)):
                    self.port = int(m.group(1))
                elif m := _CONNECTION_RE.match(line):
                    self.clients.append(m["client"])
                    self.targets.append(m["target"])
                self._cond.notify_all()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
        if process is not None and process.stdout is not None:
            process.stdout.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class Socks5Proxy(_PproxyServer):
    """SOCKS5 proxy; ``url`` uses ``socks5h://`` (the proxy resolves host names)."""

    protocol = "socks5"
    url_scheme = "socks5h"

    @property
    def url_socks5(self) -> str:
        """The ``socks5://`` form (the client resolves host names itself)."""
        return f"socks5://127.0.0.1:{self.port}"


class HttpProxy(_PproxyServer):
    """HTTP proxy: CONNECT tunnels (for https://) and absolute-URI forwarding (for http://)."""

    protocol = "http"
    url_scheme = "http"
