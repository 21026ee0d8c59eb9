"""One cluster as the actions see it: JSON requests, typed errors, dry-run, failover warnings.

``Cluster.request`` sends plain JSON over the transport from ``clients.build_transport`` and
returns an ``Answer``; every failure becomes an exception from ``errors``: ClusterUnreachable
(no seed answered), AuthenticationFailed (401/403), or EngineError (any other error answer,
with the engine's error type and reason). Requests that change something are only printed,
never sent, when the cluster is in dry-run mode.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TlsError

from .errors import AuthenticationFailed, ClusterUnreachable, EngineError, UnexpectedAnswer

logger = logging.getLogger(__name__)

JSON_HEADERS = {"accept": "application/json", "content-type": "application/json"}
NDJSON_HEADERS = {"accept": "application/json", "content-type": "application/x-ndjson"}
RETRY_STATUSES = (429, 502, 503, 504)
# said of a 502/503/504 that did not come from the engine
GATEWAY_GAVE_UP = "; a proxy or load balancer in front of the cluster may have given up: the request may still run"


def _short_path(path: str, limit: int = 80) -> str:
    return path if len(path) <= limit else path[: limit - 3] + "..."


def path_of(*segments: str) -> str:
    """Join URL path segments, quoting each (commas and wildcards in index lists stay as they are)."""
    return "/" + "/".join(quote(str(s), safe=",*") for s in segments)


@dataclass(frozen=True)
class EngineInfo:
    engine: str  # "OpenSearch" or "Elasticsearch"
    version: str
    cluster_name: str
    cluster_uuid: str = ""  # from GET /; "" where that is not served or names none (_na_)

    def __str__(self) -> str:
        return f"{self.engine} {self.version} (cluster {self.cluster_name})"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    def get(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default) if isinstance(self.body, dict) else default


def error_chain(body: Any) -> list[tuple[str, str]]:
    """The (type, reason) pairs of an engine error answer, outermost first, following caused_by."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return [("", error)]
    chain = []
    while isinstance(error, dict):
        chain.append((str(error.get("type", "")), str(error.get("reason", ""))))
        error = error.get("caused_by")
    if not chain and isinstance(body, dict):  # AWS answers: "Message" from IAM, "message" from the gateway
        for key in ("message", "Message"):
            if key in body:
                chain.append(("", str(body[key])))
                break
    return chain


def one_line(text: str, limit: int = 200) -> str:
    """What a non-JSON answer says, in one short line: an HTML page's title or its first words."""
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        text = title.group(1)
    else:
        text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_reason(err: Exception) -> str:
    """A few words saying why a connection failed, without Python object noise."""
    text = str(err)
    for pattern in (
        r"\[Errno -?\d+\] [^)'\"\]]+",
        r"certificate verify failed: [^)'\"(]+",
        r"Name or service not known",
        r"timed out",
        r"Missing dependencies for SOCKS support",
        r"Cannot connect to proxy",
    ):
        match = re.search(pattern, text)
        if match:
            return match.group(0).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


class Cluster:
    """The source or the destination cluster, reached through one transport."""

    def __init__(
        self,
        side: str,
        seeds: tuple[str, ...],
        transport,
        *,
        auth: str = "none",
        dry_run: bool = False,
        echo: Callable[[str], None] = print,
        redact: Callable[[str], str] = str,
        request_timeout: float = 60.0,
        long_request_timeout: float = 600.0,
        max_retries: int = 2,
    ):
        self.side = side
        self.request_timeout = request_timeout
        self.long_request_timeout = long_request_timeout  # for calls that legitimately take long
        self.max_retries = max_retries
        self.seeds = seeds
        self.transport = transport
        self.auth = auth
        self.dry_run = dry_run
        self.echo = echo
        self.redact = redact
        self._failed: dict[str, str] = {}
        self._warned: set[str] = set()
        self._failures = 0  # tries that failed, over the run: a request's share is counted around it

    def node_failed(self, base_url: str, err: Exception) -> None:
        """Hook for the transport: remember that a seed could not be reached, and why."""
        self._failed[base_url] = _short_reason(err)
        self._failures += 1

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict | None = None,
        changes: bool = False,
        ok: tuple[int, ...] = (),
        timeout: float | None = None,
        retries: int | None = None,
        ndjson: bool = False,
    ) -> Answer:
        """Send one request and return its answer.

        ``changes`` marks a request that changes the cluster or the repository: in dry-run mode it
        is printed and not sent (the answer is then ``Answer(0, {})``). Statuses in ``ok`` are
        returned instead of raised. ``timeout`` (seconds) replaces the side's ``request_timeout`` for
        this call, and ``retries`` its number of retries (0 for a call that must not be sent twice).
        ``ndjson`` sends ``body`` (a list of objects) as newline-delimited JSON (_bulk, _msearch).
        Raises ClusterUnreachable, AuthenticationFailed, EngineError or UnexpectedAnswer.
        """
        target = path + ("?" + urlencode(params) if params else "")
        if changes and self.dry_run:
            shown = f" {json.dumps(body, sort_keys=True)}" if body is not None else ""
            self.echo(self.redact(f"DRY RUN on {self.side}: would send {method} {target}{shown}"))
            return Answer(0, {})
        seconds = self.request_timeout if timeout is None else timeout
        tries = self.max_retries if retries is None else retries
        failures_before = self._failures
        try:
            response = self.transport.perform_request(
                method,
                target,
                body=body,
                headers=NDJSON_HEADERS if ndjson else JSON_HEADERS,
                request_timeout=seconds,
                max_retries=tries,
                retry_on_timeout=tries > 0,
                # a gateway's 502/503/504 may come after the engine acted: resend only what may be resent
                retry_on_status=RETRY_STATUSES if tries > 0 else (),
            )
        except TlsError as err:
            raise ClusterUnreachable(
                f"TLS connection to the {self.side} cluster failed ({self._tried()}): {_short_reason(err)}; "
                f"set ca_certs in [{self.side}] to the CA that signed its certificate"
            ) from err
        except ConnectionTimeout as err:
            # each try waits up to ``seconds``: the transport tries once, then up to ``tries`` more times
            made = (self._failures - failures_before) or tries + 1
            key = (
                "long_request_timeout"
                if timeout is not None and seconds == self.long_request_timeout
                else "request_timeout"
            )
            raise ClusterUnreachable(
                f"the {self.side} cluster did not answer {method} {_short_path(path)} in "
                f"{made} {'try' if made == 1 else 'tries'} of {seconds:g}s ({made * seconds:g}s) "
                f"({self._tried()}); it may be busy: raise {key} in [{self.side}]"
            ) from err
        except TransportConnectionError as err:
            raise ClusterUnreachable(f"could not connect to the {self.side} cluster ({self._tried()})") from err
        self._warn_failed_seeds()
        status, answer = response.meta.status, response.body
        if not isinstance(answer, (dict, list)) and answer is not None and method != "HEAD":
            raise self._not_json(method, path, status, answer)
        if 200 <= status < 300 or status in ok:
            return Answer(status, answer)
        raise self._error(method, path, status, answer)

    def get(self, path: str, **kwargs) -> Answer:
        return self.request("GET", path, **kwargs)

    def info(self) -> EngineInfo:
        """Which engine and version answers; the first request of every run.

        Asks ``GET /``; where that is not served (a gateway or a minimal distribution may answer
        404/405), asks the nodes info API of the node that answers instead.
        """
        try:
            body = self.get("/").body or {}
        except (EngineError, UnexpectedAnswer) as err:
            if err.status not in (400, 404, 405):
                raise
            nodes = self.get("/_nodes/_local", params={"filter_path": "cluster_name,nodes.*.version"}).body or {}
            versions = [n.get("version", "unknown") for n in (nodes.get("nodes") or {}).values()]
            version = versions[0] if versions else "unknown"
            # The majors tell the engines apart: OpenSearch 1-3, Elasticsearch 5 and later.
            major = version.split(".")[0]
            engine = "OpenSearch" if major.isdigit() and int(major) <= 3 else "Elasticsearch"
            return EngineInfo(engine, version, str(nodes.get("cluster_name", "unknown")))
        version = body.get("version", {}) if isinstance(body, dict) else {}
        engine = "OpenSearch" if version.get("distribution") == "opensearch" else "Elasticsearch"
        uuid = str(body.get("cluster_uuid") or "") if isinstance(body, dict) else ""
        return EngineInfo(
            engine,
            str(version.get("number", "unknown")),
            str(body.get("cluster_name", "unknown")),
            "" if uuid == "_na_" else uuid,
        )

    def _tried(self) -> str:
        """The seeds that failed, with why; seeds never tried are not claimed to have been."""
        parts = [f"{seed}: {reason}" for seed, reason in self._failed.items()]
        untried = [seed for seed in self.seeds if seed not in self._failed]
        text = "tried " + ("; ".join(parts) if parts else ", ".join(self.seeds))
        return text + (f"; not tried: {', '.join(untried)}" if parts and untried else "")

    def _not_json(self, method: str, path: str, status: int, answer: Any) -> Exception:
        text = answer.text if hasattr(answer, "text") else str(answer)
        what = "a body that is not valid JSON" if hasattr(answer, "text") else "a non-JSON answer"
        said = one_line(text)
        hint = ""
        if status in (502, 503, 504):
            hint = GATEWAY_GAVE_UP
        return UnexpectedAnswer(
            self.redact(
                f"the {self.side} cluster answered {method} {_short_path(path)} with {status} and {what}"
                + (f": {said}" if said else "")
                + hint
            ),
            status=status,
        )

    def _warn_failed_seeds(self) -> None:
        for seed, reason in self._failed.items():
            if seed not in self._warned:
                self._warned.add(seed)
                logger.warning(
                    "%s seed %s is unreachable (%s); continuing with the other seeds", self.side, seed, reason
                )

    def _error(self, method: str, path: str, status: int, body: Any) -> Exception:
        chain = error_chain(body)
        error_type, reason = chain[0] if chain else ("", str(body)[:300] if body else "")
        root = (
            body.get("error", {}).get("root_cause")
            if isinstance(body, dict) and isinstance(body.get("error"), dict)
            else None
        )
        if root and isinstance(root, list) and isinstance(root[0], dict) and not reason:
            error_type, reason = root[0].get("type", ""), root[0].get("reason", "")
        text = " ".join(f"{t} {r}" for t, r in chain)
        # a cluster block (read-only, index creation blocked over the disk flood stage) answers 403 too:
        # the engine refusing the operation, not the credentials
        blocked = error_type in ("cluster_block_exception", "index_create_block_exception")
        if status in (401, 403) and "passrole" not in text.lower() and not blocked:
            if "missing authentication token" in text.lower() and self.auth != "sigv4":
                what = (
                    f"wants signed requests ({status} Missing Authentication Token): "
                    f"set auth = sigv4 in [{self.side}] for an AWS managed domain"
                )
            elif self.auth == "sigv4" and ("signature" in text.lower() or "security token" in text.lower()):
                what = f"rejected the request signature (SigV4): {reason}"
            elif status == 401 and self.auth == "none":
                what = (
                    "wants credentials (401): set username and password (or password_env), or api_key "
                    f"(or api_key_env), in [{self.side}]"
                )
            elif status == 401:
                what = f"rejected the credentials ({self.auth} auth): authentication failed"
            else:
                what = f"refused the request ({status} {error_type}): {reason}"
            return AuthenticationFailed(self.redact(f"the {self.side} cluster {what}"))
        if status in (502, 503, 504) and not error_type:
            # a gateway's own answer ({"message": ...}), not the engine's: the request may still run
            return UnexpectedAnswer(
                self.redact(
                    f"the {self.side} cluster answered {method} {_short_path(path)} with {status}"
                    + (f": {one_line(reason)}" if reason else "")
                    + GATEWAY_GAVE_UP
                ),
                status=status,
            )
        message = f"the {self.side} cluster answered {status} {error_type}: {reason} ({method} {_short_path(path)})"
        return EngineError(self.redact(message), status=status, error_type=error_type, reason=reason, body=body)
