"""s3http.py against AWS's published SigV4 example and against botocore's own signer and addressing:
the same request must give the same URL, Host and signature, in path and virtual host style, with
and without a session token, for keys that need URL-encoding."""

from __future__ import annotations

import base64
import io
import os
import re
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from es_s3_snapshot import s3http
from es_s3_snapshot.s3http import S3Http, Target, target_for

AWS_KEY, AWS_SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
STAMP = "20130524T000000Z"


@pytest.fixture
def frozen_clock(monkeypatch):
    """s3http and botocore both sign at 2013-05-24 00:00:00 UTC (the AWS example's time)."""
    import datetime

    import botocore.auth

    moment = datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: moment.replace(tzinfo=None))
    monkeypatch.setattr(s3http.time, "gmtime", lambda *args: time.struct_time((2013, 5, 24, 0, 0, 0, 4, 144, 0)))


def client(target: Target, token: str | None = None, region: str = "us-east-1") -> S3Http:
    keys = SimpleNamespace(access_key=AWS_KEY, secret_key=AWS_SECRET, token=token)
    return S3Http(target, region, lambda: keys)


def test_get_with_range_matches_the_aws_documented_signature(frozen_clock):
    """AWS S3 API reference, "Signature Calculations for the Authorization Header", example GET Object."""
    http = client(Target("http", "examplebucket.s3.amazonaws.com", "/"))
    headers = http._sign("GET", "/test.txt", "", b"", {"range": "bytes=0-9"})
    assert headers["authorization"] == (
        f"AWS4-HMAC-SHA256 Credential={AWS_KEY}/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert headers["x-amz-date"] == STAMP


def botocore_signature(method, url, headers, body, token, region="us-east-1"):
    """The Authorization header botocore's S3 signer gives the same request and headers; over
    HTTPS with ``payload_signing_enabled = False`` (UNSIGNED-PAYLOAD), our choice there."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    request.context["client_config"] = Config(s3={"payload_signing_enabled": not url.startswith("https:")})
    S3SigV4Auth(Credentials(AWS_KEY, AWS_SECRET, token), "s3", region).add_auth(request)
    return request.headers["Authorization"]


KEYS = [
    "indices/abc/__x",
    "indices/Ab-_.~/0/__a b",  # a space
    "snap+1/meta 2+x.dat",  # plus signs
    "ünïcode/ключ/キー",
    "odd/!$&'()*,;=:@",  # sub-delims: percent-encoded on both sides
]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzE//token+with/slashes=="])
@pytest.mark.parametrize(
    "endpoint, style",
    [
        ("http://127.0.0.1:9000", "path"),
        ("https://s3.eu-west-1.amazonaws.com", "virtual"),
        ("https://minio.example.com:9443", "virtual"),
        ("https://minio.example.com:9443", "path"),
    ],
)
def test_signature_equals_botocores_for_path_and_virtual_style(frozen_clock, endpoint, style, token, key):
    target = target_for(endpoint, "my-bucket", style)
    http = client(target, token, region="eu-west-1")
    path = s3http.quote(target.prefix + key, safe="/~")
    body = b"some bytes"
    ours = http._sign("PUT", path, "", body, {"x-amz-meta-es-s3-snapshot-source-etag": "abc"})
    url = f"{target.scheme}://{target.netloc}{path}"
    theirs = botocore_signature(
        "PUT", url, {k: v for k, v in ours.items() if k != "authorization"}, body, token, region="eu-west-1"
    )
    assert ours["authorization"] == theirs
    if token:
        assert ours["x-amz-security-token"] == token and "x-amz-security-token" in ours["authorization"]
    # payload: signed over HTTP, UNSIGNED-PAYLOAD over HTTPS (as botocore does)
    assert (ours["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD") == (target.scheme == "https")


@pytest.mark.parametrize("token", [None, "session-token"])
def test_listing_query_is_signed_as_botocore_signs_it(frozen_clock, token):
    target = target_for("https://s3.example.com", "bucket-a", "virtual")
    http = client(target, token)
    query = {"list-type": "2", "prefix": "base/with space+plus/", "encoding-type": "url", "continuation-token": "a/b=="}
    text = "&".join(f"{s3http.quote(k, safe='~')}={s3http.quote(v, safe='~')}" for k, v in sorted(query.items()))
    ours = http._sign("GET", "/", text, b"", {})
    theirs = botocore_signature(
        "GET", f"https://{target.netloc}/?{text}", {k: v for k, v in ours.items() if k != "authorization"}, b"", token
    )
    assert ours["authorization"] == theirs


def botocore_url(endpoint, style, bucket):
    """The URL botocore sends a GetObject of key ``k`` to."""
    import boto3
    from botocore.config import Config

    class Sent(Exception):
        pass

    def stop(request, **kwargs):
        raise Sent(request.url)

    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b",
        config=Config(s3={"addressing_style": style}, retries={"max_attempts": 1}),
    )  # fmt: skip
    s3.meta.events.register("before-send", stop)
    with pytest.raises(Sent) as sent:
        s3.get_object(Bucket=bucket, Key="k")
    return str(sent.value)


@pytest.mark.parametrize("bucket", ["my-bucket", "my.bucket", "ab", "a" * 63, "Upper"])
@pytest.mark.parametrize("style", ["auto", "path", "virtual"])
@pytest.mark.parametrize(
    "endpoint",
    [
        None,  # AWS: the client's own endpoint
        "https://s3.eu-west-1.amazonaws.com",
        "http://127.0.0.1:9000",
        "http://localhost:9000",
        "https://minio.example.com:9443",
        "http://minio.example.com",
    ],
)
def test_addressing_equals_botocores(endpoint, style, bucket):
    expected = botocore_url(endpoint, style, bucket)
    if endpoint and endpoint.startswith("http://127.") and "." in bucket and style == "virtual":
        # botocore puts a dotted name in front of an IP address (my.bucket.127.0.0.1): no server
        # answers that; path style does
        assert expected.startswith("http://my.bucket.127.0.0.1")
        expected = f"{endpoint}/{bucket}/k"
    target = target_for(endpoint or "https://s3.eu-west-1.amazonaws.com", bucket, style, custom_endpoint=bool(endpoint))
    assert f"{target.scheme}://{target.netloc}{target.prefix}k" == expected


def test_auto_at_a_user_set_endpoint_is_path_style_as_in_botocore():
    """A MinIO or other S3-compatible server seldom has wildcard DNS: virtual host style would not resolve."""
    assert target_for("https://minio.example.com", "repo-bucket", "auto") == Target(
        "https", "minio.example.com", "/repo-bucket/"
    )
    assert target_for("https://s3.eu-west-1.amazonaws.com", "repo-bucket", "auto", custom_endpoint=False) == Target(
        "https", "repo-bucket.s3.eu-west-1.amazonaws.com", "/"
    )


# --- how store.py reports what s3http raises ------------------------------------------------------


def make_store(**kwargs):
    from es_s3_snapshot.config import StoreConfig
    from es_s3_snapshot.store import Store

    values = {"side": "source", "section": "source_store", "bucket": "b", "endpoint_url": "https://s3.example.com",
              "access_key": "AKIAX", "secret_key": "S3CR3T", "session_token": "T0K3N", **kwargs}  # fmt: skip
    return Store(StoreConfig(**values))


def test_a_certificate_that_fails_verification_is_not_retried_and_names_verify_and_ca_bundle(monkeypatch):
    import ssl

    from es_s3_snapshot.errors import StoreUnreachable
    from es_s3_snapshot.s3http import S3HttpError

    store = make_store()
    attempts = []

    def refuse(*args):
        attempts.append(1)
        raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")

    monkeypatch.setattr("http.client.HTTPSConnection.connect", refuse)  # the handshake fails
    store.http.sleep = lambda seconds: pytest.fail("retried")
    with pytest.raises(S3HttpError) as raised:
        store.http.probe_bucket()
    assert len(attempts) == 1
    error = store.error("open bucket", "b", raised.value)
    assert isinstance(error, StoreUnreachable)
    assert str(error).startswith("TLS failed with the source store s3://b at https://s3.example.com: ")
    assert "(check verify / ca_bundle in [source_store])" in str(error)


def test_a_bucket_in_another_region_is_a_config_error_naming_the_region():
    from es_s3_snapshot.errors import ConfigError
    from es_s3_snapshot.s3http import S3HttpError

    store = make_store(endpoint_url=None, region="us-east-1")
    malformed = S3HttpError(
        400, "AuthorizationHeaderMalformed", "the region 'us-east-1' is wrong; expecting 'eu-west-1'"
    )
    error = store.error("list", "s3://b/", malformed)
    assert isinstance(error, ConfigError)
    assert "set region = eu-west-1 in [source_store]" in str(error)
    moved = store.error("list", "s3://b/", S3HttpError(301, "PermanentRedirect", "use the specified endpoint"))
    assert isinstance(moved, ConfigError) and "set region = <the bucket region>" in str(moved)


def test_a_redirect_to_the_buckets_regional_endpoint_names_its_region(script):
    """AWS answers a request to the wrong region's endpoint 301 PermanentRedirect, its body naming
    the bucket's endpoint (no 'expecting' text): not retried, and the error names the region."""
    from es_s3_snapshot.errors import ConfigError

    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code><Message>The bucket you are '
        b"attempting to access must be addressed using the specified endpoint. Please send all future requests "
        b"to this endpoint.</Message><Endpoint>b.s3.ap-southeast-2.amazonaws.com</Endpoint><Bucket>b</Bucket>"
        b"<RequestId>R</RequestId></Error>"
    )
    http = script((301, {}, body, "keep")).client()
    with pytest.raises(s3http.S3HttpError) as raised:
        http.get("k")
    assert (raised.value.status, raised.value.code) == (301, "PermanentRedirect") and http.slept == []
    assert raised.value.message.endswith("endpoint. (endpoint: b.s3.ap-southeast-2.amazonaws.com)")
    store = make_store(endpoint_url=None, region="us-east-1")
    error = store.error("list", "s3://b/", raised.value)
    assert isinstance(error, ConfigError)
    assert "is not in region us-east-1: set region = ap-southeast-2 in [source_store]" in str(error)
    legacy = store.error(
        "list",
        "s3://b/",
        s3http.S3HttpError(301, "PermanentRedirect", "moved (endpoint: b.s3-us-gov-west-1.amazonaws.com)"),
    )
    assert "set region = us-gov-west-1 in [source_store]" in str(legacy)
    temporary = store.error(
        "list",
        "s3://b/",
        s3http.S3HttpError(307, "TemporaryRedirect", "re-send (endpoint: b.s3-eu-west-1.amazonaws.com)"),
    )
    assert isinstance(temporary, ConfigError) and "set region = eu-west-1 in [source_store]" in str(temporary)
    elsewhere = store.error("list", "s3://b/", s3http.S3HttpError(307, "TemporaryRedirect", "re-send"))
    assert not isinstance(elsewhere, ConfigError) and "TemporaryRedirect re-send" in str(elsewhere)


def test_verify_false_warns_once_per_store_and_keys_never_show(caplog):
    store = make_store(verify=False)
    assert [r.getMessage() for r in caplog.records] == [
        "TLS certificate verification is OFF for the source store s3://b at https://s3.example.com (verify = false)"
    ]
    assert store.http._context.verify_mode.name == "CERT_NONE"
    assert "S3CR3T" not in repr(store.config) and "T0K3N" not in repr(store.config)
    caplog.clear()
    make_store(verify=False, endpoint_url="http://127.0.0.1:9000")  # plain HTTP: nothing to verify
    assert caplog.records == []


def test_ca_bundle_is_used_else_aws_ca_bundle_and_a_file_that_is_no_pem_is_a_config_error(tmp_path, monkeypatch):
    from es_s3_snapshot.errors import ConfigError

    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"\[source_store\] ca_bundle .*junk.pem cannot be loaded as PEM"):
        make_store(ca_bundle=str(junk)).check()
    monkeypatch.setenv("AWS_CA_BUNDLE", str(junk))  # boto3's environment variable, honoured the same
    with pytest.raises(ConfigError, match="junk.pem"):
        make_store().check()


# --- the wire against a local HTTP server: retries, chunked answers, dropped connections, timeouts --


class Script:
    """A local HTTP/1.1 server that answers each request with the next of ``answers``
    ((status, headers, body, then) with then "keep", "drop" (closes without saying so) or "hang")."""

    def __init__(self, answers, port=0):
        import http.server
        import threading

        self.answers, self.seen = list(answers), []
        script = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                headers = {name.lower(): value for name, value in self.headers.items()}
                script.seen.append((self.command, self.path, headers, self.rfile.read(length)))
                status, headers, body, then = script.answers.pop(0)
                if then == "hang":
                    time.sleep(2)
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if headers.get("Transfer-Encoding") == "chunked":
                    self.end_headers()
                    for start in range(0, len(body), 7):
                        piece = body[start : start + 7]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                self.close_connection = then == "drop"

            do_GET = do_PUT = do_HEAD = do_CONNECT = _answer

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def client(self) -> S3Http:
        return recording(client(Target("http", f"127.0.0.1:{self.server.server_port}", "/bucket/")))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def recording(http: S3Http) -> S3Http:
    """``http`` with the back-off's sleeps recorded (``http.slept``), not slept, each the longest
    its jitter allows (the random source always gives the upper bound)."""
    http.slept = []
    http.sleep = http.slept.append
    http.uniform = lambda low, high: high
    http.clock = lambda: time.monotonic() + sum(http.slept)  # time passes, and as the back-off sleeps
    return http


@pytest.fixture
def script(monkeypatch):
    for name in list(os.environ):  # straight to the local server whatever this machine's proxy
        if name.lower() in ("http_proxy", "https_proxy"):
            monkeypatch.delenv(name)
    made = []

    def start(*answers):
        made.append(Script(answers))
        return made[-1]

    yield start
    for server in made:
        server.close()


SLOW_DOWN = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"


def test_503_slow_down_is_retried_with_growing_back_off_then_succeeds(script):
    server = script((503, {}, SLOW_DOWN, "keep"), (503, {}, SLOW_DOWN, "keep"), (200, {}, b"data", "keep"))
    http = server.client()
    assert http.get("k") == b"data"
    assert http.slept == [1.0, 2.0] and len(server.seen) == 3


def test_a_refusal_is_not_retried_and_carries_the_code(script):
    server = script((403, {}, b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>", "keep"))
    http = server.client()
    with pytest.raises(s3http.S3HttpError) as raised:
        http.get("k")
    assert (raised.value.status, raised.value.code, raised.value.message) == (403, "AccessDenied", "no")
    assert http.slept == []


def test_a_chunked_listing_is_read_whole(script):
    page = (
        b"<ListBucketResult><IsTruncated>false</IsTruncated>"
        b"<Contents><Key>a%20b%2Bc</Key><Size>3</Size><ETag>&quot;x&quot;</ETag></Contents></ListBucketResult>"
    )
    server = script((200, {"Transfer-Encoding": "chunked"}, page, "keep"))
    objects, prefixes, token = server.client().list_page("", None, None)
    assert objects == [("a b+c", 3, '"x"')] and prefixes == [] and token is None


def test_a_kept_alive_connection_the_server_dropped_is_replaced_without_an_attempt_lost(script):
    server = script((200, {}, b"one", "drop"), (200, {}, b"two", "keep"))
    http = server.client()
    assert http.get("k1") == b"one"
    assert http.get("k2") == b"two"
    assert http.slept == [] and [seen[1] for seen in server.seen] == ["/bucket/k1", "/bucket/k2"]


def test_a_put_sends_its_length_and_no_expect_header(script):
    server = script((200, {}, b"", "keep"))
    server.client().put("dir/a b", b"12345", {"Es-S3-Snapshot-Source-Etag": "e"})
    method, path, headers, body = server.seen[0]
    assert (method, path, body) == ("PUT", "/bucket/dir/a%20b", b"12345")
    assert headers["content-length"] == "5" and "expect" not in headers
    assert headers["x-amz-meta-es-s3-snapshot-source-etag"] == "e"


def test_botocore_debug_lines_lose_a_token_and_key_id_the_config_did_not_name():
    """-vv shows botocore's debug log; keys from the credential chain (profile, instance role) are
    not known to the redactor by value, so their shapes are masked."""
    from es_s3_snapshot.redact import Redactor

    line = (
        "Sending http request: <AWSPreparedRequest headers={'X-Amz-Date': b'20261207T112111Z', "
        "'X-Amz-Security-Token': b'IQoJb3JpZ2luX2VjE+/token==', 'Authorization': b'AWS4-HMAC-SHA256 "
        "Credential=ASIAEXAMPLE123/20261207/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0123456789abcdef0123'}>"
    )
    shown = Redactor()(line)
    assert "IQoJb3JpZ2luX2VjE" not in shown and "ASIAEXAMPLE123" not in shown and "0123456789abcdef0123" not in shown
    assert "'X-Amz-Security-Token': b'***'" in shown and "Credential=***/20261207/us-east-1/s3/aws4_request" in shown
    assert Redactor()("x-amz-security-token:abc\n") == "x-amz-security-token:***\n"


# --- the environment's proxy ---------------------------------------------------------------------


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_no_proxy_in_the_environment_connects_directly(no_proxy_env):
    assert s3http.proxy_for(Target("https", "s3.example.com", "/b/")) is None


def test_https_proxy_of_the_environment_with_credentials_and_no_proxy(no_proxy_env):
    no_proxy_env.setenv("HTTPS_PROXY", "http://us%40r:p%3Ass@proxy.internal:3128")
    no_proxy_env.setenv("NO_PROXY", "minio.internal,.corp")
    host, port, headers = s3http.proxy_for(Target("https", "b.s3.eu-west-1.amazonaws.com", "/"))
    assert (host, port) == ("proxy.internal", 3128)
    assert headers == {"Proxy-Authorization": "Basic " + base64.b64encode(b"us@r:p:ss").decode()}
    assert s3http.proxy_for(Target("https", "minio.internal:9000", "/b/")) is None
    assert s3http.proxy_for(Target("https", "s3.corp", "/b/")) is None
    assert s3http.proxy_for(Target("http", "s3.example.com", "/b/")) is None  # HTTP_PROXY unset


def test_a_proxy_that_is_not_http_is_a_config_error_naming_the_section(no_proxy_env):
    from es_s3_snapshot.errors import ConfigError

    no_proxy_env.setenv("https_proxy", "socks5://127.0.0.1:1080")
    with pytest.raises(ConfigError, match=r"^\[source_store\] the https proxy .* socks5://127.0.0.1: only http://"):
        make_store().check()


def test_requests_go_through_the_proxy_as_a_connect_tunnel(no_proxy_env, script):
    """A CONNECT-capable stand-in: the local server answers CONNECT, then the request on the tunnel."""
    server = script((200, {}, b"", "keep"), (200, {}, b"through", "keep"))
    no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server.server_port}")
    http = client(Target("http", "s3.example.com:9000", "/bucket/"))
    assert http.get("k") == b"through"
    assert [(seen[0], seen[1]) for seen in server.seen] == [("CONNECT", "s3.example.com:9000"), ("GET", "/bucket/k")]
    assert server.seen[1][2]["host"] == "s3.example.com:9000"


def test_certificates_are_verified_as_botocore_verifies_them_without_python_3_13s_strict_flags():
    import ssl

    http = S3Http(Target("https", "s3.example.com", "/b/"), "us-east-1", lambda: None)
    assert http._context.verify_mode == ssl.CERT_REQUIRED and http._context.check_hostname
    assert not http._context.verify_flags & ssl.VERIFY_X509_STRICT


# --- retries: full-jitter back-off, what is retried, what the last error says ---------------------


def test_backoff_is_full_jitter_up_to_a_doubling_capped_at_20_seconds():
    import random

    highest = lambda low, high: high  # noqa: E731
    assert [s3http.backoff(n, True, highest) for n in range(1, 8)] == [1, 2, 4, 8, 16, 20, 20]
    assert [s3http.backoff(n, False, highest) for n in range(1, 6)] == [0.25, 0.5, 1, 2, 4]
    assert s3http.backoff(9, True, lambda low, high: low) == 0.0  # full jitter: down to 0
    rng = random.Random(7)
    drawn = [s3http.backoff(n, True, rng.uniform) for n in range(1, 12)]
    assert all(0 <= d <= min(20, 2 ** (n - 1)) for n, d in enumerate(drawn, 1)) and len(set(drawn)) == len(drawn)
    # the bounds the module docstring and the README promise
    assert sum(s3http.backoff(n, True, highest) for n in range(1, s3http.THROTTLED_ATTEMPTS)) == 151
    assert sum(s3http.backoff(n, False, highest) for n in range(1, s3http.ATTEMPTS)) == 7.75


def test_threads_throttled_together_do_not_retry_together():
    http = S3Http(Target("http", "127.0.0.1:1", "/b/"), "us-east-1", lambda: None)  # the real random source
    delays = {round(s3http.backoff(4, True, http.uniform), 6) for _ in range(16)}
    assert len(delays) == 16 and all(0 <= d <= 8 for d in delays)


@pytest.mark.parametrize(
    "status,code,kind",
    [
        (503, "SlowDown", "throttled"),
        (503, "", "throttled"),
        (429, "TooManyRequests", "throttled"),
        (400, "RequestLimitExceeded", "throttled"),
        (500, "InternalError", "transient"),
        (502, "", "transient"),
        (504, "", "transient"),
        (400, "RequestTimeout", "transient"),
        (200, "InternalError", "transient"),  # a copy's 200 answer with an error in its body
        (0, "ConnectionRefusedError", "transient"),
        (0, "TimeoutError", "transient"),
        (0, "SSLCertVerificationError", None),
        (403, "AccessDenied", None),
        (403, "SignatureDoesNotMatch", None),
        (403, "RequestTimeTooSkewed", None),
        (404, "NoSuchKey", None),
        (400, "InvalidArgument", None),
        (501, "NotImplemented", None),
    ],
)
def test_what_is_retried(status, code, kind):
    assert s3http.retry_kind(s3http.S3HttpError(status, code, "")) == kind


def test_slow_down_five_times_is_ridden_out_with_one_debug_line_per_retry(script, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="es_s3_snapshot.s3http")
    server = script(*[(503, {}, SLOW_DOWN, "keep")] * 5, (200, {}, b"at last", "keep"))
    http = server.client()
    assert http.get("dir/k") == b"at last"
    assert http.slept == [1, 2, 4, 8, 16] and len(server.seen) == 6
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5 and lines[0] == (
        f"GET http://127.0.0.1:{server.server.server_port}/bucket/dir/k: SlowDown: Please reduce your request rate.; "
        "attempt 1 of 12, again in 1.00s"
    )


def test_throttling_that_outlasts_every_attempt_names_attempts_and_seconds(script):
    server = script(*[(503, {}, SLOW_DOWN, "keep")] * 12)
    http = server.client()
    with pytest.raises(s3http.S3HttpError) as raised:
        http.request("GET", "", {"list-type": "2"})
    err = raised.value
    assert (err.status, err.code, err.attempts) == (503, "SlowDown", 12) and len(server.seen) == 12
    assert re.fullmatch(r"Please reduce your request rate\. \(12 attempts over \d+\.\ds\)", err.message)
    assert http.slept == [1, 2, 4, 8, 16, 20, 20, 20, 20, 20, 20]


def test_a_500_is_retried_briefly_and_the_store_error_says_how_often(script):
    from es_s3_snapshot.errors import StoreError

    internal = b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
    server = script(*[(500, {}, internal, "keep")] * 6)
    store = make_store(endpoint_url=f"http://127.0.0.1:{server.server.server_port}", session_token=None)
    recording(store.http)
    with pytest.raises(StoreError, match=r"^read k failed on the source store s3://b at http://127.0.0.1:\d+: "
                       r"InternalError We encountered an internal error\. \(6 attempts over \d+\.\ds\)$"):  # fmt: skip
        store.read_range("k")
    assert store.http.slept == [0.25, 0.5, 1, 2, 4]


def test_403_and_a_skewed_clock_are_not_retried(script):
    skewed = b"<Error><Code>RequestTimeTooSkewed</Code><Message>The difference is too large.</Message></Error>"
    server = script((403, {}, skewed, "keep"), (403, {}, b"", "keep"))
    http = server.client()
    for _ in range(2):
        with pytest.raises(s3http.S3HttpError) as raised:
            http.get("k")
        assert raised.value.attempts == 1 and "attempts" not in str(raised.value)
    assert http.slept == [] and len(server.seen) == 2


def test_a_copy_whose_200_answer_holds_an_error_is_retried(script):
    embedded = b"<?xml version='1.0'?><Error><Code>InternalError</Code><Message>retry</Message></Error>"
    done = b"<CopyObjectResult><ETag>&quot;e&quot;</ETag></CopyObjectResult>"
    server = script((200, {}, embedded, "keep"), (200, {}, done, "keep"))
    http = server.client()
    http.copy("to", "bucket", "from", {})
    assert http.slept == [0.25] and len(server.seen) == 2


def test_a_streamed_put_is_retried_on_a_body_opened_anew(script):
    server = script((503, {}, SLOW_DOWN, "keep"), (200, {}, b"", "keep"))
    http = server.client()
    opened = []

    class Body:
        def __init__(self):
            self.data = io.BytesIO(b"0123456789")
            opened.append(self)

        def readinto(self, buffer):
            return self.data.readinto(buffer)

        def close(self):
            self.closed = True

    http.put_stream("k", Body, 10, {})
    assert len(opened) == 2 and all(body.closed for body in opened)
    assert [seen[3] for seen in server.seen] == [b"0123456789"] * 2 and http.slept == [1.0]


def test_a_streamed_get_is_retried_when_throttled(script):
    server = script((503, {}, SLOW_DOWN, "keep"), (200, {}, b"streamed", "keep"))
    http = server.client()
    stream = http.open("k")
    assert stream.read() == b"streamed" and http.slept == [1.0]
    stream.close()


# --- timeouts: a server that accepts and never answers, a connect that never completes ------------


def test_a_server_that_never_answers_times_out_after_read_timeout_on_each_attempt(silent_port):
    http = recording(client(Target("http", f"127.0.0.1:{silent_port}", "/bucket/")))
    http.read_timeout = 0.2
    started = time.monotonic()
    with pytest.raises(s3http.S3HttpError) as raised:
        http.get("k")
    took = time.monotonic() - started
    assert (raised.value.status, raised.value.code, raised.value.attempts) == (0, "TimeoutError", 6)
    # 6 waits of 0.2 s and the back-off's 7.75 s (recorded, not slept)
    assert re.fullmatch(r"timed out \(6 attempts over (8\.[89]|9\.\d|10\.[0-2])s\)", raised.value.message), (
        raised.value.message
    )
    assert 1.2 <= took < 2.5 and http.slept == [0.25, 0.5, 1, 2, 4]


def test_a_connect_that_never_completes_times_out_after_connect_timeout(full_backlog_port):
    http = recording(client(Target("http", f"127.0.0.1:{full_backlog_port}", "/bucket/")))
    http.connect_timeout, http.read_timeout = 0.2, 60  # the read timeout never comes into play
    started = time.monotonic()
    with pytest.raises(s3http.S3HttpError) as raised:
        http.get("k")
    took = time.monotonic() - started
    assert (raised.value.status, raised.value.code, raised.value.attempts) == (0, "TimeoutError", 6)
    assert 1.2 <= took < 2.5


def test_a_kept_alive_connection_that_times_out_is_one_attempt_not_two_waits():
    """The store answers its first request, then nothing: the next request's first attempt, on
    the kept-alive connection, times out once (not again at once on a new connection)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted = []

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(connection)
            if len(accepted) == 1:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    threading.Thread(target=serve, daemon=True).start()
    try:
        http = recording(client(Target("http", f"127.0.0.1:{listener.getsockname()[1]}", "/bucket/")))
        http.read_timeout = 0.2
        http.outage_wait = 0.0  # the store answered, then not: no wait for its return here
        assert http.get("first") == b"ok"
        with pytest.raises(s3http.S3HttpError) as raised:
            http.get("second")
        assert (raised.value.code, raised.value.attempts) == ("TimeoutError", 6)
        assert len(accepted) == 6  # the kept-alive one, then one new connection per retry
    finally:
        listener.close()
        for connection in accepted:
            connection.close()


def test_connection_refused_is_retried_briefly():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = recording(client(Target("http", f"127.0.0.1:{port}", "/bucket/")))
    with pytest.raises(s3http.S3HttpError) as raised:
        http.get("k")
    assert (raised.value.code, raised.value.attempts) == ("ConnectionRefusedError", 6)
    assert sum(http.slept) == 7.75


# --- a store that goes away mid-run (a restart, a failover) ---------------------------------------


def test_a_store_that_answered_then_restarts_is_waited_for_and_the_run_goes_on(script, caplog):
    """The store answers, goes away (connections refused) for longer than the short rule's 6
    attempts, and comes back on its port: the request goes on once it answers, with one WARNING
    when the wait begins and one INFO when it ends."""
    server = script((200, {}, b"first", "keep"))
    http = server.client()
    port = server.server.server_port
    assert http.get("first") == b"first"
    server.close()
    sleeps = http.slept.append

    def sleep(seconds):  # the store is back after 9 sleeps
        sleeps(seconds)
        if len(http.slept) == 9:
            restarted.append(Script([(200, {}, b"back", "keep")], port))

    restarted = []
    http.sleep = sleep
    caplog.set_level("INFO", logger="es_s3_snapshot.s3http")
    try:
        assert http.get("second") == b"back"
    finally:
        for again in restarted:
            again.close()
    assert len(http.slept) == 9 and http.slept[:5] == [0.25, 0.5, 1, 2, 4]
    assert all(slept <= s3http.OUTAGE_STEP for slept in http.slept[5:])
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelname != "DEBUG"]
    assert [level for level, _ in lines] == ["WARNING", "INFO"], lines
    assert lines[0][1].startswith(f"the store http://127.0.0.1:{port} stopped answering (ConnectionRefusedError")
    assert "waiting up to 60s (outage_wait)" in lines[0][1] and "answers again" in lines[1][1]


def test_a_store_away_longer_than_outage_wait_fails_naming_it(script):
    server = script((200, {}, b"first", "keep"))
    http = server.client()
    http.outage_wait = 20.0
    assert http.get("first") == b"first"
    server.close()
    with pytest.raises(s3http.S3HttpError) as raised:
        http.get("second")
    err = raised.value
    assert err.code == "ConnectionRefusedError" and err.attempts > 6
    assert sum(http.slept) <= 20.0
    assert re.search(r"\(\d+ attempts over \d+\.\ds; it answered earlier in this run, then stayed away over "
                     r"outage_wait \(20s\)\)$", err.message), err.message  # fmt: skip


def test_a_gateway_answering_502_for_a_store_that_answered_is_waited_for(script):
    gateway = b"<html>502 Bad Gateway</html>"
    server = script((200, {}, b"first", "keep"), *[(502, {}, gateway, "keep")] * 8, (200, {}, b"back", "keep"))
    http = server.client()
    assert http.get("first") == b"first"
    assert http.get("second") == b"back" and len(http.slept) == 8


def test_a_store_that_answers_500_is_not_waited_for_as_an_outage(script):
    internal = b"<Error><Code>InternalError</Code><Message>no</Message></Error>"
    server = script((200, {}, b"first", "keep"), *[(500, {}, internal, "keep")] * 6)
    http = server.client()
    assert http.get("first") == b"first"
    with pytest.raises(s3http.S3HttpError) as raised:
        http.get("second")
    assert (raised.value.code, raised.value.attempts) == ("InternalError", 6)


def test_a_streamed_put_to_a_store_that_refuses_connections_is_retried():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = recording(client(Target("http", f"127.0.0.1:{port}", "/bucket/")))
    opened = []

    def open_body():
        opened.append(1)
        return io.BytesIO(b"x" * 10)

    with pytest.raises(s3http.S3HttpError) as raised:
        http.put_stream("k", open_body, 10, {})
    assert (raised.value.code, raised.value.attempts) == ("ConnectionRefusedError", 6)
    assert len(opened) == 6 and sum(http.slept) == 7.75


def test_the_store_timeouts_reach_the_lean_client_and_boto3():
    store = make_store(connect_timeout=2.5, read_timeout=30.0)
    assert (store.http.connect_timeout, store.http.read_timeout) == (2.5, 30.0)
    boto = store.client._client_config
    assert (boto.connect_timeout, boto.read_timeout) == (2.5, 30.0)
    assert (make_store().http.connect_timeout, make_store().http.read_timeout) == (10.0, 120.0)
    store = make_store(outage_wait=300.0)
    assert (store.http.outage_wait, make_store().http.outage_wait) == (300.0, 60.0)
    assert store.http.label == "source store s3://b at https://s3.example.com"


def test_a_source_body_that_breaks_off_during_a_streamed_put_is_read_on_then_named_and_the_put_not_retried(
    script, monkeypatch
):
    """Each break reads on from the byte it broke at (a ranged GET), up to RESUMES times; then the
    source is named (exit 2). An object shorter than listed answers the ranged GET 416: a failed
    copy (exit 1). The PUT to the destination is never retried for the source's failures."""
    from es_s3_snapshot.errors import StoreError, StoreUnreachable
    from es_s3_snapshot.store import RESUMES, SMALL

    size = SMALL + 10  # streamed, not through memory
    server = script((200, {}, b"", "keep"))
    destination = make_store(side="destination", section="destination_store", session_token=None,
                             endpoint_url=f"http://127.0.0.1:{server.server.server_port}")  # fmt: skip
    recording(destination.http)
    source = make_store(endpoint_url="http://127.0.0.1:1")

    class Breaking:
        """10 bytes, then the connection times out (``fail``) or closes early."""

        def __init__(self, fail):
            self.fail, self.given = fail, 0

        def readinto(self, buffer):
            if self.given:
                if self.fail:
                    raise s3http.S3HttpError(0, "TimeoutError", "timed out")
                return 0
            buffer[:10] = b"x" * 10
            self.given = 10
            return 10

        def close(self):
            pass

    cases = [
        (True, None, StoreUnreachable, f"cannot read k from the source store s3://b at http://127.0.0.1:1: its body "
         f"broke off {RESUMES + 1} times in a row, the last at byte {10 * (RESUMES + 1)} \\(TimeoutError: timed out\\)"),
        (False, None, StoreUnreachable, f"broke off {RESUMES + 1} times in a row, the last at byte {10 * (RESUMES + 1)} "
         "\\(the connection closed before its end\\)"),
        (False, s3http.S3HttpError(416, "InvalidRange", "The requested range is not satisfiable"), StoreError,
         "InvalidRange"),
    ]  # fmt: skip
    for fail, shorter, error, words in cases:
        opened = []

        def open_(key, start=None, end=None, fail=fail, shorter=shorter, opened=opened):
            opened.append(start)
            if start is not None and shorter is not None:
                raise shorter
            return Breaking(fail)

        monkeypatch.setattr(source.http, "open", open_)
        with pytest.raises(error, match=words):
            destination.put_stream("k", source, "k", size, {}, threshold=size, chunk=size)
        assert opened == ([None, 10] if shorter else [None] + [10 * n for n in range(1, RESUMES + 1)])
    assert destination.http.slept == []


def test_a_source_body_that_moves_on_between_breaks_is_read_to_its_end_however_often_it_breaks(script, monkeypatch):
    """A flaky link, not a dead one: each GET gives 1 MiB (PROGRESS) and breaks, 8 times (more than
    RESUMES); the copy reads on each time and the PUT carries every byte once."""
    from es_s3_snapshot.store import PROGRESS, RESUMES

    data = bytes(range(256)) * (8 * PROGRESS // 256) + b"tail"
    server = script((200, {}, b"", "keep"))
    destination = make_store(side="destination", section="destination_store", session_token=None,
                             endpoint_url=f"http://127.0.0.1:{server.server.server_port}")  # fmt: skip
    source = make_store(endpoint_url="http://127.0.0.1:1")
    opened = []

    class Flaky:
        def __init__(self, start):
            self.at, self.end = start, min(len(data), start + PROGRESS)

        def readinto(self, buffer):
            count = min(len(buffer), self.end - self.at)
            buffer[:count] = data[self.at : self.at + count]
            self.at += count
            if not count and self.at < len(data):
                raise s3http.S3HttpError(0, "ConnectionResetError", "reset by peer")
            return count

        def close(self):
            pass

    def open_(key, start=None, end=None):
        opened.append(start)
        return Flaky(start or 0)

    monkeypatch.setattr(source.http, "open", open_)
    destination.put_stream("k", source, "k", len(data), {}, threshold=len(data), chunk=len(data))
    assert opened == [None] + [n * PROGRESS for n in range(1, 9)] and len(opened) - 1 > RESUMES
    assert server.seen[0][3] == data


def test_scrub_reads_its_store_with_the_sections_timeouts(load_config):
    from types import SimpleNamespace

    from es_s3_snapshot.actions.scrub import open_storage

    config = load_config("[source_store]\nendpoint_url = http://127.0.0.1:9000\naccess_key = a\nsecret_key = b\n"
                         "connect_timeout = 3\nread_timeout = 45\n")  # fmt: skip
    storage = open_storage(SimpleNamespace(config=config, scrub_on="source"))
    assert (storage.store.http.connect_timeout, storage.store.http.read_timeout) == (3.0, 45.0)
