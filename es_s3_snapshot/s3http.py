"""The data and control path of -m sync: S3 requests signed with SigV4 and sent over http.client.

Why not boto3 here: a boto3 request costs about 1 ms of CPU in this process (its event hooks,
serialisers and parsers), a GET or PUT here about 0.2 ms; copying thousands of small repository
blobs is bound by that CPU (measured in the sync bench against rclone). And importing boto3 and
building a client costs about 0.3 s, more than a whole re-sync's listing: with static keys a sync
never imports it. boto3 keeps the credentials chain (profiles, instance roles) and the errors of
that path; this module sends the requests: listings, GET (ranges), PUT, UploadPart, CopyObject,
UploadPartCopy, the multipart control (create, complete, abort, list uploads) and DeleteObjects.

Each thread keeps one keep-alive connection per store; every connection honours the store's
``connect_timeout`` (TCP connect, proxy tunnel and TLS handshake) and ``read_timeout`` (each read
from the socket). The rest raise ``S3HttpError`` with the status and S3's error code, which
store.py turns into the tool's errors.

Retries (``_retried``, the one loop; ``backoff``, the one delay) follow AWS's "exponential back-off
with full jitter", as botocore's standard retry mode does: before retry ``n`` a thread sleeps a
random time between 0 and ``min(20 s, base x 2**(n-1))``, so threads that failed together do not
come back together.

- Throttling (HTTP 503 or 429, or the codes in ``THROTTLE_CODES``: ``SlowDown``...): base 1 s,
  ``THROTTLED_ATTEMPTS`` (12) attempts in all. The sleeps add up to at most 151 s (75 s on
  average), so S3 throttling for 20-30 s is ridden out (it fails only if the 11 random sleeps add
  up to less than 30 s: about 1 in 1,000).
- Other passing failures (the connection refused, reset or timed out; 500, 502, 504;
  ``InternalError``, ``RequestTimeout``): base 0.25 s, ``ATTEMPTS`` (6) attempts, the sleeps at
  most 7.75 s: a wrong endpoint is reported within seconds, not minutes. Each attempt may also
  wait its whole ``read_timeout``.
- A store that goes away mid-run (``gone_away``: the connection refused, reset or timed out, or a
  gateway's 502/504, after the store has answered once in this run): a restart or a failover.
  Retried past ``ATTEMPTS`` for as long as the store's ``outage_wait`` (60 s by default) since the
  request first failed, each sleep then at most ``OUTAGE_STEP`` (2 s), so that the run goes on
  within seconds of the store's return. One WARNING per store when the wait begins, one INFO when
  it answers again. A store never reached in this run keeps the short rule: a wrong endpoint is
  still reported within seconds.
- Never retried: a certificate that fails verification, and every other answer: 4xx refusals
  (``AccessDenied``, ``SignatureDoesNotMatch``...), ``NoSuchKey``... Nor ``RequestTimeTooSkewed``
  (403): this machine's clock is off by more than 15 minutes, and each retry would be signed with
  the same clock.

A retry is one DEBUG line; an error after retries says how many attempts over how many seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import logging
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, unquote, unquote_plus, urlsplit
from xml.etree import ElementTree

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT, READ_TIMEOUT = 10.0, 120.0  # the defaults of a store's connect_timeout / read_timeout
ATTEMPTS, BACKOFF_BASE = 6, 0.25  # a connection failure or a 500/502/504 (see the module docstring)
THROTTLED_ATTEMPTS, THROTTLED_BASE = 12, 1.0  # a throttling answer (503, 429, SlowDown...)
BACKOFF_CAP = 20.0  # no one sleep is longer (botocore's cap)
OUTAGE_WAIT = 60.0  # the default of a store's outage_wait: how long one that answered may be away
OUTAGE_STEP = 2.0  # the longest sleep while waiting out such an outage
THROTTLE_STATUSES = (429, 503)
THROTTLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequests", "RequestLimitExceeded"}
)
TRANSIENT_STATUSES = (500, 502, 504)
TRANSIENT_CODES = frozenset({"InternalError", "RequestTimeout", "ServiceUnavailable"})
_NOT_RETRIED = frozenset({"SSLCertVerificationError", "SourceEndedEarly"})  # status 0 that retrying cannot help
BLOCK = 1024**2  # bytes a streamed body is sent in
_UNSIGNED = "UNSIGNED-PAYLOAD"
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


T = TypeVar("T")


class S3HttpError(Exception):
    """An S3 error answer (``status``, ``code``, ``message``), or a connection failure (status 0).
    ``attempts``: how many times the request was sent."""

    def __init__(self, status: int, code: str, message: str, attempts: int = 1):
        super().__init__(f"{code or status}: {message}" if message else str(code or status))
        self.status, self.code, self.message, self.attempts = status, code, message, attempts


def backoff(retry: int, throttled: bool, uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to sleep before retry number ``retry`` (1 for the first): full jitter, a random time
    (``uniform(low, high)``) between 0 and ``min(BACKOFF_CAP, base * 2**(retry - 1))``, ``base``
    being ``THROTTLED_BASE`` after a throttling answer, else ``BACKOFF_BASE``."""
    base = THROTTLED_BASE if throttled else BACKOFF_BASE
    return uniform(0.0, min(BACKOFF_CAP, base * 2 ** (retry - 1)))


def gone_away(err: S3HttpError) -> bool:
    """Whether ``err`` is what a store that stopped answering gives (refused, reset or timed-out
    connections; a gateway in front of it answering 502 or 504)."""
    return (err.status == 0 and err.code not in _NOT_RETRIED) or err.status in (502, 504)


def retry_kind(err: S3HttpError) -> str | None:
    """ "throttled" (the store asks us to slow down), "transient" (a failure that may pass) or None
    (retrying cannot help: a refusal, a missing key, a certificate that fails verification)."""
    if err.status in THROTTLE_STATUSES or err.code in THROTTLE_CODES:
        return "throttled"
    if err.status == 0:
        return None if err.code in _NOT_RETRIED else "transient"
    if err.status in TRANSIENT_STATUSES or err.code in TRANSIENT_CODES:
        return "transient"
    return None


@dataclass(frozen=True)
class Target:
    """Where one bucket's objects are: scheme, host[:port], and the path prefix before the key."""

    scheme: str
    netloc: str
    prefix: str  # "/bucket/" (path style) or "/" (virtual host style)


def target_for(endpoint_url: str, bucket: str, addressing_style: str, *, custom_endpoint: bool = True) -> Target:
    """The addressing botocore uses for ``bucket`` at ``endpoint_url`` (checked against botocore in
    tests/unit/test_s3http.py): path style with ``addressing_style = path``, on IP addresses, for
    names that cannot be a host name (dotted ones too over HTTPS: the certificate would not match),
    and with ``auto`` at an endpoint the user set (``custom_endpoint``: S3-compatible servers often
    have no wildcard DNS); virtual host style otherwise (``virtual``, or ``auto`` on AWS's own
    endpoint)."""
    endpoint = urlsplit(endpoint_url)
    host = endpoint.hostname or ""
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    labels = bucket.split(".") if endpoint.scheme != "https" else [bucket]
    dns_name = 3 <= len(bucket) <= 63 and all(_HOST_LABEL.fullmatch(label) for label in labels)
    wanted = addressing_style == "virtual" or (addressing_style == "auto" and not custom_endpoint)
    base = endpoint.path.rstrip("/")
    if wanted and not is_ip and dns_name:
        return Target(endpoint.scheme, f"{bucket}.{endpoint.netloc}", base + "/")
    return Target(endpoint.scheme, endpoint.netloc, f"{base}/{bucket}/")


class S3Http:
    """Signed S3 object requests for one bucket of one store, one connection per thread."""

    def __init__(
        self,
        target: Target,
        region: str,
        credentials: Callable[[], Any],  # returns an object with access_key, secret_key, token
        *,
        verify: bool | str = True,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        outage_wait: float = OUTAGE_WAIT,
        label: str = "",
        sleep: Callable[[float], None] = lambda seconds: time.sleep(seconds),
        uniform: Callable[[float, float], float] = random.uniform,
        clock: Callable[[], float] = time.monotonic,
    ):
        """``connect_timeout``: seconds for the TCP connect (and proxy tunnel, TLS handshake);
        ``read_timeout``: seconds each read from the socket may wait; ``outage_wait``: seconds a
        store that has answered in this run may be away (see the module docstring); ``label``:
        the store in the outage's log lines. ``sleep``, ``uniform`` (the back-off's random source)
        and ``clock`` are given by tests, which never sleep."""
        self.target = target
        self.region = region
        self.credentials = credentials
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.outage_wait = outage_wait
        self.label = label or f"store {target.scheme}://{target.netloc}"
        self.sleep = sleep
        self.uniform = uniform
        self.clock = clock
        self._answered = False  # the store has answered once in this run: an outage may be waited out
        self._away_since: float | None = None  # when the outage being waited out began (one WARNING)
        self._outage_lock = threading.Lock()
        self._local = threading.local()
        self._keys: dict[tuple[str, str], bytes] = {}
        self._context: ssl.SSLContext | None = None
        if target.scheme == "https":
            if verify is False:
                self._context = ssl._create_unverified_context()
            else:
                self._context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
                # Python 3.13+ adds strict X.509 checks that many private CAs fail (no Authority Key
                # Identifier...); botocore's own context does not: verify as the boto3 path does
                self._context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        self._proxy = proxy_for(target)

    # --- the requests -----------------------------------------------------------------------

    def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """The object's bytes (``start``..``end`` inclusive when given)."""
        headers = {"range": f"bytes={start}-{end}"} if start is not None else {}
        return self.request("GET", key, headers=headers, ok=(200, 206))[1]

    def put(self, key: str, body: bytes, metadata: dict[str, str]) -> None:
        self.request("PUT", key, body=body, headers=_meta(metadata))

    def probe_bucket(self, prefix: str = "") -> None:
        """Raises S3HttpError (404 when the bucket does not exist) unless the bucket lists under
        ``prefix`` (keys allowed only a prefix may list it). A GET, not a HEAD: a refusal then
        carries S3's error code (SignatureDoesNotMatch, ExpiredToken...)."""
        self.request("GET", "", {"list-type": "2", "max-keys": "1", "prefix": prefix})

    def list_page(
        self, prefix: str, delimiter: str | None, token: str | None, max_keys: int | None = None
    ) -> tuple[list, list, str | None]:
        """One ListObjectsV2 page (of at most ``max_keys``, else 1,000 keys): ([(key, size, etag)],
        [common prefix], next continuation token)."""
        query = {"list-type": "2", "prefix": prefix, "encoding-type": "url"}
        if max_keys:
            query["max-keys"] = str(max_keys)
        if delimiter:
            query["delimiter"] = delimiter
        if token:
            query["continuation-token"] = token
        body = self.request("GET", "", query)[1]
        root = ElementTree.fromstring(body)
        objects, prefixes = [], []
        for node in root:
            tag = node.tag.rsplit("}", 1)[-1]
            if tag == "Contents":
                fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in node}
                objects.append(
                    (unquote_plus(fields.get("Key", "")), int(fields.get("Size") or 0), fields.get("ETag", ""))
                )
            elif tag == "CommonPrefixes":
                prefixes += [unquote_plus(child.text or "") for child in node if child.tag.endswith("Prefix")]
        truncated = (root.findtext("{*}IsTruncated") or "").lower() == "true"
        return objects, prefixes, (root.findtext("{*}NextContinuationToken") or None) if truncated else None

    def open(self, key: str, start: int | None = None, end: int | None = None) -> Stream:
        """A streamed GET of the whole object (of bytes ``start``..``end`` inclusive when given) on
        this thread's kept-alive connection or a new one; read it, then close it: a body read to
        its end gives the connection back for the thread's next request. Opening is retried as
        every request is; a failure while reading the body is not (the caller's to decide)."""
        path = quote(self.target.prefix + key, safe="/~")
        headers = {"range": f"bytes={start}-{end}"} if start is not None else {}

        def once() -> Stream:
            connection, answer = self._start("GET", path, b"", self._sign("GET", path, "", b"", headers))
            if answer.status == (206 if headers else 200):
                return Stream(connection, answer, self._keep)
            code, message = _error(self._read(connection, answer))
            raise S3HttpError(answer.status, code or str(answer.status), message)

        return self._retried("GET", key, once)

    def _keep(self, connection: http.client.HTTPConnection, answer: http.client.HTTPResponse) -> None:
        """Keep ``connection`` for this thread's next request when its answer was read to the end
        and the server keeps it open (and the thread has none); close it otherwise."""
        whole = not answer.length  # a body that broke off leaves bytes it promised
        if answer.isclosed() and whole and not answer.will_close and getattr(self._local, "connection", None) is None:
            self._local.connection = connection
        else:
            connection.close()

    def put_stream(self, key: str, open_body: Callable[[], Any], size: int, metadata: dict[str, str]) -> None:
        """PUT ``size`` bytes read from the body ``open_body()`` opens (anything with ``readinto``
        and ``close``), on a connection of its own. Retried as every request is, each attempt on a
        body opened anew; what ``open_body`` or the body's reads raise is the caller's and passes
        through unretried (store.py names the source store in it)."""
        path = quote(self.target.prefix + key, safe="/~")

        def once() -> None:
            headers = self._sign("PUT", path, "", b"", {**_meta(metadata), "content-length": str(size)}, unsigned=True)
            stream = open_body()
            try:
                connection = self._connect()
            except BaseException:
                stream.close()
                raise
            try:
                connection.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers.items():
                    connection.putheader(name, value)
                connection.endheaders()
                block = memoryview(bytearray(BLOCK))  # one buffer, no copy per block
                left = size
                while left > 0:
                    count = stream.readinto(block[: min(BLOCK, left)])
                    if not count:
                        raise S3HttpError(0, "SourceEndedEarly", f"the source object ended {left} B early")
                    connection.send(block[:count])
                    left -= count
                answer = connection.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException) as err:
                raise S3HttpError(0, type(err).__name__, str(err)) from err
            finally:
                connection.close()
                stream.close()
            if answer.status != 200:
                raise S3HttpError(answer.status, *_error(data))

        self._retried("PUT", key, once)

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        """Send one part; returns its ETag (with quotes, as CompleteMultipartUpload wants it)."""
        headers = self.request("PUT", key, {"partNumber": str(number), "uploadId": upload_id}, body=body)[0]
        return headers.get("etag", "")

    def copy(self, key: str, source_bucket: str, source_key: str, metadata: dict[str, str]) -> None:
        """CopyObject inside the store, replacing the metadata."""
        headers = {
            "x-amz-copy-source": quote(f"/{source_bucket}/{source_key}", safe="/~"),
            "x-amz-metadata-directive": "REPLACE",
            **_meta(metadata),
        }
        self.request("PUT", key, headers=headers, embedded_error=True)

    def copy_part(
        self, key: str, upload_id: str, number: int, source_bucket: str, source_key: str, start: int, end: int
    ) -> str:
        """UploadPartCopy of bytes ``start``..``end``; returns the part's ETag."""
        headers = {
            "x-amz-copy-source": quote(f"/{source_bucket}/{source_key}", safe="/~"),
            "x-amz-copy-source-range": f"bytes={start}-{end}",
        }
        query = {"partNumber": str(number), "uploadId": upload_id}
        body = self.request("PUT", key, query, headers=headers, embedded_error=True)[1]
        found = re.search(rb"<ETag>(.*?)</ETag>", body)
        return found.group(1).decode().replace("&quot;", '"') if found else ""

    # --- multipart control and deletes ----------------------------------------------------

    def create_upload(self, key: str, metadata: dict[str, str]) -> str:
        """CreateMultipartUpload; returns the upload id."""
        body = self.request("POST", key, {"uploads": ""}, headers=_meta(metadata))[1]
        found = re.search(rb"<UploadId>(.*?)</UploadId>", body)
        if not found:
            raise S3HttpError(200, *(_error(body) if b"<Error>" in body else ("", "no UploadId in the answer")))
        return _unescape(found.group(1).decode())

    def complete_upload(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """CompleteMultipartUpload of ``parts`` ([(number, ETag)] in order)."""
        body = "".join(
            f"<Part><PartNumber>{number}</PartNumber><ETag>{_escape(etag)}</ETag></Part>" for number, etag in parts
        )
        data = f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode()
        self.request("POST", key, {"uploadId": upload_id}, body=data, embedded_error=True)

    def abort_upload(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload (an upload already gone counts as aborted)."""
        self.request("DELETE", key, {"uploadId": upload_id}, ok=(200, 204, 404))

    def list_uploads(
        self, prefix: str, key_marker: str | None, id_marker: str | None
    ) -> tuple[list[tuple[str, str, str]], tuple[str, str] | None]:
        """One ListMultipartUploads page: ([(key, upload id, initiated)], next (key, upload id) markers or None)."""
        query = {"uploads": "", "prefix": prefix}
        if key_marker:
            query["key-marker"] = key_marker
        if id_marker:
            query["upload-id-marker"] = id_marker
        root = ElementTree.fromstring(self.request("GET", "", query)[1])
        found = []
        for node in root:
            if node.tag.rsplit("}", 1)[-1] == "Upload":
                fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in node}
                found.append((fields.get("Key", ""), fields.get("UploadId", ""), fields.get("Initiated", "")))
        if (root.findtext("{*}IsTruncated") or "").lower() != "true":
            return found, None
        return found, (root.findtext("{*}NextKeyMarker") or "", root.findtext("{*}NextUploadIdMarker") or "")

    def delete_objects(self, keys: list[str]) -> list[tuple[str, str, str]]:
        """DeleteObjects (quiet) of up to 1,000 ``keys``; returns the refused ones as [(key, code, message)]."""
        items = "".join(f"<Object><Key>{_escape(key)}</Key></Object>" for key in keys)
        data = f"<Delete><Quiet>true</Quiet>{items}</Delete>".encode()
        headers = {"content-md5": base64.b64encode(hashlib.md5(data).digest()).decode()}
        body = self.request("POST", "", {"delete": ""}, body=data, headers=headers)[1]
        root = ElementTree.fromstring(body) if body.strip() else None
        refused = []
        for node in root if root is not None else ():
            if node.tag.rsplit("}", 1)[-1] == "Error":
                fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in node}
                refused.append((fields.get("Key", ""), fields.get("Code", ""), fields.get("Message", "")))
        return refused

    # --- the wire -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        key: str,
        query: dict[str, str] | None = None,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        embedded_error: bool = False,
    ) -> tuple[dict[str, str], bytes]:
        """Send one signed request, retried as the module docstring says; returns the answer's
        headers (lower-case names) and body. ``embedded_error``: a 200 answer may carry an error
        in its body (CopyObject, UploadPartCopy, CompleteMultipartUpload), which is then raised
        and retried as any other. Raises S3HttpError."""
        path = quote(self.target.prefix + key, safe="/~")
        query_text = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted((query or {}).items()))
        url = path + ("?" + query_text if query_text else "")

        def once() -> tuple[dict[str, str], bytes]:
            connection, answer = self._start(
                method, url, body, self._sign(method, path, query_text, body, headers or {})
            )
            data = self._read(connection, answer)
            if answer.status not in ok:
                raise S3HttpError(answer.status, *_error(data))
            if embedded_error:
                _check_copy_body(data)
            return {k.lower(): v for k, v in answer.getheaders()}, data

        return self._retried(method, key, once)

    def _retried(self, method: str, key: str, once: Callable[[], T]) -> T:
        """``once()``'s result; called again while it raises an S3HttpError worth retrying
        (``retry_kind``), up to the attempts of that kind, or while a store that answered before
        is away for less than ``outage_wait`` (``gone_away``), sleeping ``backoff`` before each
        retry (one DEBUG line each). The last error says how many attempts over how many seconds."""
        started = self.clock()
        attempt, waited = 1, False
        while True:
            try:
                result = once()
            except S3HttpError as err:
                if not gone_away(err):
                    self._answered = True  # an answer, even a refusal
                kind = retry_kind(err)
                limit = THROTTLED_ATTEMPTS if kind == "throttled" else ATTEMPTS
                delay = backoff(attempt, kind == "throttled", self.uniform) if kind else 0.0
                waiting = kind is not None and attempt >= limit and self._waits_out(err, started, delay)
                if waiting:
                    waited, delay = True, min(delay, self.uniform(0.0, OUTAGE_STEP))
                elif kind is None or attempt >= limit:
                    if attempt == 1:
                        raise
                    took = f"{attempt} attempts over {self.clock() - started:.1f}s"
                    if waited:
                        took += f"; it answered earlier in this run, then stayed away over outage_wait ({self.outage_wait:g}s)"
                    raise S3HttpError(
                        err.status, err.code, f"{err.message} ({took})" if err.message else took, attempt
                    ) from err
                logger.debug(
                    "%s %s://%s%s: %s; attempt %d of %s, again in %.2fs",
                    method, self.target.scheme, self.target.netloc, self.target.prefix + key, err, attempt,
                    limit if not waiting else f"{limit}+ (the store is away)", delay,
                )  # fmt: skip
                self.sleep(delay)
                attempt += 1
                continue
            self._answered = True
            if self._away_since is not None:
                self._back()
            return result

    def _waits_out(self, err: S3HttpError, started: float, delay: float) -> bool:
        """Whether a request whose attempts are spent goes on waiting: the store answered earlier
        in this run, ``err`` says it is away, and ``outage_wait`` since the request began is not
        over. The first such request of an outage logs one WARNING."""
        if not (self._answered and gone_away(err) and self.clock() - started + delay <= self.outage_wait):
            return False
        with self._outage_lock:
            if self._away_since is None:
                self._away_since = started
                logger.warning(
                    "the %s stopped answering (%s): waiting up to %gs (outage_wait) for it to come back",
                    self.label, f"{err.code or err.status}: {err.message}" if err.message else err.code or err.status,
                    self.outage_wait,
                )  # fmt: skip
        return True

    def _back(self) -> None:
        """The store answers again after an outage: one INFO line."""
        with self._outage_lock:
            since, self._away_since = self._away_since, None
        if since is not None:
            logger.info("the %s answers again, %.1fs after it stopped", self.label, self.clock() - since)

    def _start(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send a request on this thread's kept-alive connection, or on a new one when there is
        none or the server closed it (then at once, no attempt lost; a kept-alive connection that
        times out is an attempt, not waited for twice); returns the connection and the answer, its
        body unread. A failure on a new connection raises S3HttpError (status 0)."""
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            try:
                connection.request(method, url, body=body or None, headers=headers)
                return connection, connection.getresponse()
            except TimeoutError as err:  # the store did not answer within read_timeout: an attempt
                connection.close()
                raise S3HttpError(0, type(err).__name__, str(err)) from err
            except (OSError, http.client.HTTPException):
                connection.close()  # the server closed a kept-alive connection
        connection = self._connect()
        try:
            connection.request(method, url, body=body or None, headers=headers)
            return connection, connection.getresponse()
        except (OSError, http.client.HTTPException) as err:
            connection.close()
            raise S3HttpError(0, type(err).__name__, str(err)) from err

    def _read(self, connection: http.client.HTTPConnection, answer: http.client.HTTPResponse) -> bytes:
        """The answer's whole body; the connection is kept for the thread's next request (or
        closed). Raises S3HttpError (status 0) when the body breaks off."""
        try:
            data = answer.read()
        except (OSError, http.client.HTTPException) as err:
            connection.close()
            raise S3HttpError(0, type(err).__name__, str(err)) from err
        self._keep(connection, answer)
        return data

    def _connect(self) -> http.client.HTTPConnection:
        """A new connection: connected (tunnel, TLS) within ``connect_timeout``, each read of it
        then within ``read_timeout``. A failure (refused, timed out, TLS) raises S3HttpError
        (status 0), which every caller's retries judge."""
        where = urlsplit(f"//{self.target.netloc}")
        host, port_number = where.hostname or "", where.port
        if self._proxy is not None:  # a tunnel (CONNECT) through it; TLS stays end to end
            host, port_number, tunnel_to = self._proxy[0], self._proxy[1], (host, port_number)
        if self._context is not None:
            connection = http.client.HTTPSConnection(
                host, port_number, timeout=self.connect_timeout, context=self._context, blocksize=BLOCK
            )
        else:
            connection = http.client.HTTPConnection(host, port_number, timeout=self.connect_timeout, blocksize=BLOCK)
        if self._proxy is not None:
            connection.set_tunnel(*tunnel_to, headers=self._proxy[2])
        try:
            connection.connect()
        except (OSError, http.client.HTTPException) as err:
            connection.close()
            raise S3HttpError(0, type(err).__name__, str(err)) from err
        except BaseException:
            connection.close()
            raise
        connection.sock.settimeout(self.read_timeout)
        return connection

    def _sign(
        self, method: str, path: str, query: str, body: bytes, extra: dict[str, str], *, unsigned: bool = False
    ) -> dict[str, str]:
        """The request's headers with the SigV4 Authorization header. The payload is signed (its
        SHA-256) over plain HTTP, as botocore does, unless ``unsigned`` (a streamed body)."""
        creds = self.credentials()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        day = stamp[:8]
        payload = _UNSIGNED if unsigned or self.target.scheme == "https" else hashlib.sha256(body).hexdigest()
        headers = {"host": self.target.netloc, "x-amz-date": stamp, "x-amz-content-sha256": payload, **extra}
        if creds.token:
            headers["x-amz-security-token"] = creds.token
        if (body or method == "PUT") and "content-length" not in headers:
            headers["content-length"] = str(len(body))
        names = sorted(headers)
        canonical = "\n".join(
            [method, path, query, "".join(f"{n}:{str(headers[n]).strip()}\n" for n in names), ";".join(names), payload]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._key(creds.secret_key, day), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, SignedHeaders={';'.join(names)}, "
            f"Signature={signature}"
        )
        return headers

    def _key(self, secret: str, day: str) -> bytes:
        cached = self._keys.get((secret, day))
        if cached is None:
            cached = hmac.new(("AWS4" + secret).encode(), day.encode(), hashlib.sha256).digest()
            for part in (self.region, "s3", "aws4_request"):
                cached = hmac.new(cached, part.encode(), hashlib.sha256).digest()
            self._keys = {(secret, day): cached}
        return cached


class Stream:
    """The body of a streamed GET: ``read(n)`` and ``readinto(buffer)`` (as a file), ``close()``;
    store.ResumingBody reads on where it breaks off."""

    def __init__(
        self,
        connection: http.client.HTTPConnection,
        answer: http.client.HTTPResponse,
        release: Callable[[http.client.HTTPConnection, http.client.HTTPResponse], None] | None = None,
    ):
        self._connection: http.client.HTTPConnection | None = connection
        self._answer, self._release = answer, release
        length = answer.getheader("content-length")
        self.length = int(length) if length and length.isdigit() else None  # bytes the body should hold

    def read(self, count: int = -1) -> bytes:
        try:
            return self._answer.read(count if count >= 0 else None)
        except (OSError, http.client.HTTPException) as err:
            raise S3HttpError(0, type(err).__name__, str(err)) from err

    def readinto(self, buffer: memoryview) -> int:
        try:
            return self._answer.readinto(buffer)
        except (OSError, http.client.HTTPException) as err:
            raise S3HttpError(0, type(err).__name__, str(err)) from err

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:  # closed before
            return
        if self._release is not None:
            self._release(connection, self._answer)  # kept if read to its end
        else:
            connection.close()


def proxy_for(target: Target) -> tuple[str, int, dict[str, str]] | None:
    """The HTTP proxy the environment names for ``target`` as boto3 finds it (``HTTPS_PROXY`` /
    ``HTTP_PROXY``, not for the hosts ``NO_PROXY`` names): (host, port, CONNECT headers), or None.
    Raises ValueError for a proxy that is not ``http://``."""
    if not any(name.lower() == f"{target.scheme}_proxy" for name in os.environ):
        return None  # (urllib.request costs 4 ms of start-up)
    from urllib.request import getproxies, proxy_bypass

    proxy = getproxies().get(target.scheme)
    if not proxy or proxy_bypass(urlsplit(f"//{target.netloc}").hostname or ""):
        return None
    where = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if where.scheme != "http" or not where.hostname:
        raise ValueError(
            f"the {target.scheme} proxy of the environment is {where.scheme}://{where.hostname}: only http:// is supported"
        )
    headers = {}
    if where.username:
        pair = f"{unquote(where.username)}:{unquote(where.password or '')}".encode()
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode()
    return where.hostname, where.port or 80, headers


def _meta(metadata: dict[str, str]) -> dict[str, str]:
    return {f"x-amz-meta-{k.lower()}": v for k, v in metadata.items()}


def _error(body: bytes) -> tuple[str, str]:
    """(Code, Message) of an S3 error document, or ('', '') when the body is none. The endpoint a
    redirect names (AWS's 301 PermanentRedirect: ``<Endpoint>b.s3.eu-west-1.amazonaws.com``) is
    added to the message: it is where the bucket is."""
    code = re.search(rb"<Code>(.*?)</Code>", body)
    message = re.search(rb"<Message>(.*?)</Message>", body)
    endpoint = re.search(rb"<Endpoint>(.*?)</Endpoint>", body)
    text = message.group(1).decode(errors="replace") if message else ""
    if endpoint:
        text += f" (endpoint: {endpoint.group(1).decode(errors='replace')})"
    return code.group(1).decode(errors="replace") if code else "", text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _unescape(text: str) -> str:
    return text.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _check_copy_body(body: bytes) -> None:
    """A copy may answer 200 and still fail: the error is then in the body."""
    if b"<Error>" in body[:512]:
        code, message = _error(body)
        raise S3HttpError(200, code, message)
