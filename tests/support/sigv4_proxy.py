"""A reverse proxy that checks AWS Signature Version 4 like Amazon OpenSearch Service.

``SigV4VerifyingProxy`` sits in front of a plain engine node.  For every
request it recomputes the signature independently with botocore and only
forwards requests that AWS would accept; the others get a 403 with an AWS-like
JSON body and are recorded.

    creds = {"AKIDEXAMPLE": ("secret", None), "ASIATEMP": ("secret2", "token")}
    with SigV4VerifyingProxy(node_url, creds, region="eu-west-1") as proxy:
        run_cli("--host", proxy.url, ...)
        assert proxy.accepted > 0 and proxy.rejected == 0
        proxy.revoke("AKIDEXAMPLE")          # the old key now gets 403

What is checked (what AWS checks for the ``es`` service):

* ``Authorization: AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/service/aws4_request,
  SignedHeaders=..., Signature=...``; no header at all -> "Missing Authentication Token".
* the access key is known and not revoked; the scope's date equals the date of
  ``X-Amz-Date`` (or ``Date``), its region and service are the proxy's.
* the request time is within 5 minutes of now.
* ``X-Amz-Security-Token`` equals the session token when the key has one (and is
  absent when it has none).
* ``X-Amz-Content-SHA256``, when sent, is the SHA-256 of the body as received
  (compressed bytes if the client gzip'd the body).
* the signature, computed by ``botocore.auth.SigV4Auth`` over: the method; the
  path exactly as received, normalised and URI-encoded once more (so ``,`` ->
  ``%2C``, ``*`` -> ``%2A``, ``%2C`` -> ``%252C``: the single extra encoding
  AWS applies for every service except S3); the query string decoded and
  re-encoded strictly (RFC 3986 unreserved characters only, ``+`` meaning a
  space) and sorted; exactly the headers named in SignedHeaders (which must
  include ``host``); and the payload hash.

The two canonicalisation steps botocore cannot do as-is are overridden in
``_VerifyingSigV4Auth``: botocore trusts the query string to be already
strictly encoded (true for botocore's own serialisers, not for the
elasticsearch client, which sends ``,`` and ``*`` raw), and botocore drops a
few headers (``user-agent``, ``expect``, ...) from signing even when the client
listed them in SignedHeaders, which AWS does not do.

Accepted requests are forwarded without ``Authorization`` and ``X-Amz-*``
headers (see relay.py for the rest).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from .relay import IncomingRequest, Rejection, RelayProxy, server_ssl_context

__all__ = ["SigV4VerifyingProxy", "canonical_query_string"]

AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)

MSG_MISSING = "Missing Authentication Token"
MSG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
MSG_INVALID_TOKEN = "The security token included in the request is invalid."

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+"
    r"Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*"
    r"Signature=(?P<signature>[0-9a-fA-F]+)\s*$"
)


def canonical_query_string(raw_query: str) -> str:
    """AWS canonical query: decode each name/value, re-encode strictly, sort.

    ``+`` is decoded as a space (requests and most clients form-encode spaces
    as ``+``, and AWS canonicalises them as ``%20``).
    """
    if not raw_query:
        return ""
    pairs = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        name = urllib.parse.quote(urllib.parse.unquote_plus(name), safe="-_.~")
        value = urllib.parse.quote(urllib.parse.unquote_plus(value), safe="-_.~")
        pairs.append((name, value))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


class _VerifyingSigV4Auth(SigV4Auth):
    """botocore's SigV4 with the request's own timestamp and signed-header list."""

    def __init__(self, credentials, service_name, region_name, timestamp: str):
        super().__init__(credentials, service_name, region_name)
        self._timestamp = timestamp

    def headers_to_sign(self, request):
        # The request only carries the headers listed in SignedHeaders; sign
        # all of them (botocore would silently drop e.g. user-agent).
        header_map = HTTPHeaders()
        for name, value in request.headers.items():
            header_map[name.lower()] = value
        return header_map

    def canonical_query_string(self, request):
        return canonical_query_string(urllib.parse.urlsplit(request.url).query)

    def compute(self, request: AWSRequest) -> tuple[str, str, str]:
        """Return (canonical request, string to sign, signature)."""
        request.context["timestamp"] = self._timestamp
        canonical = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical)
        return canonical, string_to_sign, self.signature(string_to_sign, request)


def _normalise_credentials(credentials) -> dict[str, tuple[str, str | None]]:
    if isinstance(credentials, Mapping):
        result = {}
        for access_key, value in credentials.items():
            if isinstance(value, str):
                result[access_key] = (value, None)
            else:
                secret, token = value
                result[access_key] = (secret, token)
        return result
    # a single (access_key, secret[, token]) tuple
    access_key, secret, *rest = credentials
    return {access_key: (secret, rest[0] if rest else None)}


def _forbidden(message: str, reason: str, error_type: str = "InvalidSignatureException") -> Rejection:
    return Rejection(
        status=403,
        body={"message": message},
        reason=reason,
        headers=(("x-amzn-ErrorType", error_type),),
    )


class SigV4VerifyingProxy(RelayProxy):
    """Reverse proxy that forwards only correctly SigV4-signed requests.

    ``credentials``: mapping ``access_key_id -> (secret_key, session_token or
    None)`` (a bare secret string is also accepted), or one
    ``(access_key_id, secret_key[, session_token])`` tuple.

    ``certfile``/``keyfile``: serve HTTPS instead of HTTP (``url`` becomes
    ``https://...``), e.g. with files from ``tls.make_ca_and_cert``.  Use this
    rather than chaining a TLSTerminatingProxy in front, because the client
    signs the Host it connects to.

    ``clock``: callable returning the current aware UTC datetime (tests of
    clock skew can pass a fake one).
    """

    def __init__(
        self,
        upstream_url: str,
        credentials,
        region: str,
        service: str = "es",
        *,
        certfile=None,
        keyfile=None,
        clock=None,
        upstream_timeout: float = 120.0,
    ) -> None:
        ssl_context = server_ssl_context(certfile, keyfile) if certfile else None
        super().__init__(upstream_url, ssl_context=ssl_context, upstream_timeout=upstream_timeout)
        self.region = region
        self.service = service
        self._credentials = _normalise_credentials(credentials)
        self._revoked: set[str] = set()
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))

    # -- credential management (thread-safe; takes effect on the next request)
    def add_credentials(self, access_key_id: str, secret_key: str, session_token: str | None = None) -> None:
        with self._lock:
            self._credentials[access_key_id] = (secret_key, session_token)
            self._revoked.discard(access_key_id)

    def revoke(self, access_key_id: str) -> None:
        with self._lock:
            self._revoked.add(access_key_id)

    # -- relay hooks ---------------------------------------------------------------
    def forward_header(self, name: str) -> bool:
        if name == "authorization" or name.startswith("x-amz-"):
            return False
        return super().forward_header(name)

    def inspect(self, request: IncomingRequest) -> Rejection | None:
        return self.verify(request)

    # -- the verifier ------------------------------------------------------------------
    def verify(self, request: IncomingRequest) -> Rejection | None:
        authorization = request.header("authorization")
        if authorization is None:
            return _forbidden(MSG_MISSING, "missing Authorization header", "MissingAuthenticationTokenException")
        match = _AUTH_RE.match(authorization.strip())
        if not match:
            return _forbidden(
                f"Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                f"parameters (AWS4-HMAC-SHA256). Authorization={authorization}",
                "malformed Authorization header",
            )
        scope = match["credential"].split("/")
        if len(scope) != 5:
            return _forbidden(f"Credential '{match['credential']}' is malformed.", "malformed credential scope")
        access_key, scope_date, scope_region, scope_service, terminator = scope

        with self._lock:
            known = self._credentials.get(access_key)
            revoked = access_key in self._revoked
        if known is None or revoked:
            return _forbidden(
                MSG_INVALID_TOKEN, f"unknown or revoked access key {access_key}", "UnrecognizedClientException"
            )
        secret_key, session_token = known

        # -- request time -------------------------------------------------------------
        amz_date = request.header("x-amz-date")
        if amz_date is not None:
            try:
                request_time = dt.datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=dt.timezone.utc)
            except ValueError:
                return _forbidden(f"Invalid X-Amz-Date '{amz_date}'.", "bad x-amz-date")
            timestamp = amz_date
        elif request.header("date") is not None:
            try:
                request_time = parsedate_to_datetime(request.header("date")).astimezone(dt.timezone.utc)
            except (TypeError, ValueError):
                return _forbidden(f"Invalid Date '{request.header('date')}'.", "bad date")
            timestamp = request_time.strftime(AMZ_DATE_FORMAT)
        else:
            return _forbidden(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
                "no date header",
            )
        now = self._clock()
        if request_time < now - MAX_CLOCK_SKEW:
            return _forbidden(
                f"Signature expired: {timestamp} is now earlier than "
                f"{(now - MAX_CLOCK_SKEW).strftime(AMZ_DATE_FORMAT)} "
                f"({now.strftime(AMZ_DATE_FORMAT)} - 5 min.)",
                "signature expired",
            )
        if request_time > now + MAX_CLOCK_SKEW:
            return _forbidden(
                f"Signature not yet current: {timestamp} is still later than "
                f"{(now + MAX_CLOCK_SKEW).strftime(AMZ_DATE_FORMAT)} "
                f"({now.strftime(AMZ_DATE_FORMAT)} + 5 min.)",
                "signature not yet current",
            )

        # -- credential scope -------------------------------------------------------------
        if scope_date != timestamp[:8]:
            return _forbidden(
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                f"from HTTP: '{scope_date}' != '{timestamp[:8]}', from '{timestamp}'.",
                "scope date mismatch",
            )
        if scope_region != self.region:
            return _forbidden(
                f"Credential should be scoped to a valid region, not '{scope_region}'. ",
                f"scope region {scope_region!r} != {self.region!r}",
            )
        if scope_service != self.service:
            return _forbidden(
                f"Credential should be scoped to correct service: '{self.service}'. ",
                f"scope service {scope_service!r} != {self.service!r}",
            )
        if terminator != "aws4_request":
            return _forbidden(
                f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'.",
                "bad scope terminator",
            )

        # -- session token --------------------------------------------------------------------
        sent_token = request.header("x-amz-security-token")
        if session_token is not None and sent_token != session_token:
            return _forbidden(MSG_INVALID_TOKEN, "missing or wrong x-amz-security-token", "UnrecognizedClientException")
        if session_token is None and sent_token is not None:
            return _forbidden(MSG_INVALID_TOKEN, "unexpected x-amz-security-token", "UnrecognizedClientException")

        # -- signed headers and payload -----------------------------------------------------------
        signed_names = match["signed"].split(";")
        if "host" not in signed_names:
            return _forbidden(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
                "host not signed",
            )
        headers = HTTPHeaders()
        for name in signed_names:
            values = request.header_values(name)
            if not values:
                return _forbidden(MSG_MISMATCH, f"signed header {name!r} is not in the request")
            for value in values:
                headers[name] = value

        body_hash = hashlib.sha256(request.body).hexdigest()
        sent_hash = request.header("x-amz-content-sha256")
        if sent_hash is not None and sent_hash != body_hash:
            return _forbidden(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                "payload hash mismatch",
            )

        # -- the signature itself -----------------------------------------------------------------
        url = f"{self.scheme}://{request.header('host', '')}{request.target}"
        aws_request = AWSRequest(method=request.method, url=url, data=request.body, headers=headers)
        signer = _VerifyingSigV4Auth(
            Credentials(access_key, secret_key, session_token), self.service, self.region, timestamp
        )
        canonical, string_to_sign, expected = signer.compute(aws_request)
        if not hmac.compare_digest(expected, match["signature"].lower()):
            return _forbidden(
                f"{MSG_MISMATCH}\n\nThe Canonical String for this request should have been\n"
                f"'{canonical}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n",
                "signature mismatch",
            )
        return None
