"""Self-check of the test-support servers: ``python -m tests.support.selfcheck`` (from the repo root).

Starts a trivial JSON upstream on 127.0.0.1 and proves, with real clients:
(a) SigV4: requests + requests-aws4auth accepted and relayed; wrong secret,
    unsigned, expired, wrong region/token, tampered body, revoked key -> 403;
    snapshot-style paths with ',', '*', '%2C' and query strings verify;
(b) the same through the elasticsearch client's transport (node_class="requests");
(c) HTTPS through TLSTerminatingProxy passes with the CA file, fails without it;
(d) SOCKS5 and HTTP proxies (pproxy) carry the traffic, and count it;
(e) an AWS-looking host name reaches the loopback proxy in a subprocess.
Exits 1 if any check fails; finally checks that no thread or port leaked.
"""

from __future__ import annotations

import datetime as dt
import gzip
import http.server
import json
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

import requests
from requests_aws4auth import AWS4Auth

from .hostnames import aws_like_hostname, loopback_hostnames_env
from .proxies import HttpProxy, Socks5Proxy
from .sigv4_proxy import SigV4VerifyingProxy
from .tls import TLSTerminatingProxy, make_ca_and_cert, make_untrusted_cert

REGION = "eu-west-1"
AKID, SECRET = "AKIDSELFCHECK", "selfcheck-secret"
TEMP_AKID, TEMP_SECRET, TOKEN = "ASIASELFCHECK", "temp-secret", "session-token-123"
TIMEOUT = 10

SNAPSHOT_PATHS = [
    "/_snapshot/my-repo/snap-2026_11_21T10-00-00/_status",
    "/_cat/recovery/idx-a,idx-b?format=json&bytes=b&active_only=true",
    "/_cluster/health/idx-*?wait_for_status=yellow&timeout=30s",
    "/_snapshot/repo/_all",
    "/my-index/_count",
    "/_cat/recovery/idx-a%2Cidx-b",
    "/_cat/indices?h=index,health&expand_wildcards=open,closed",
    "/%3Clogs-%7Bnow%2Fd%7D%3E/_search?q=a+b",
    "/_snapshot/repo/snap?master_timeout=30s&pretty",
]


# -- a trivial upstream "node" -------------------------------------------------------------
class Upstream:
    """JSON echo server: answers {"method","path","body_len"} and remembers what it saw.

    Sends ``X-Elastic-Product: Elasticsearch`` except for paths under
    /noproduct, so that the elasticsearch client's product check can be shown.
    """

    def __init__(self) -> None:
        self.seen: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = TIMEOUT

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                payload = json.dumps({"method": self.command, "path": self.path, "body_len": len(body)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if not self.path.startswith("/noproduct"):
                    self.send_header("X-Elastic-Product", "Elasticsearch")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


# -- tiny check runner ------------------------------------------------------------------------
class Checks:
    def __init__(self) -> None:
        self.failed = 0
        self.passed = 0

    def run(self, name: str, fn) -> None:
        try:
            detail = fn()
        except Exception as exc:  # noqa: BLE001 - report and continue
            self.failed += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}")
            traceback.print_exc(limit=3, file=sys.stdout)
        else:
            self.passed += 1
            print(f"PASS {name}" + (f": {detail}" if detail else ""))


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def message_of(response: requests.Response) -> str:
    return response.json().get("message", "")


# -- (a) SigV4 with requests + requests-aws4auth -------------------------------------------------------
def check_sigv4_requests(c: Checks, upstream: Upstream) -> None:
    creds = {AKID: (SECRET, None), TEMP_AKID: (TEMP_SECRET, TOKEN)}
    auth = AWS4Auth(AKID, SECRET, REGION, "es")
    with SigV4VerifyingProxy(upstream.url, creds, REGION) as proxy:

        def signed_get():
            r = requests.get(proxy.url + "/_cluster/health", auth=auth, timeout=TIMEOUT)
            expect(r.status_code == 200, f"status {r.status_code}: {r.text}")
            seen = upstream.seen[-1]
            leaked = [h for h in seen["headers"] if h == "authorization" or h.startswith("x-amz-")]
            expect(seen["path"] == "/_cluster/health", f"upstream saw {seen['path']}")
            expect(not leaked, f"forwarded auth headers {leaked}")
            return f"200 relayed, upstream saw {seen['path']!r} without Authorization/X-Amz-*"

        def session_token():
            a = AWS4Auth(TEMP_AKID, TEMP_SECRET, REGION, "es", session_token=TOKEN)
            r = requests.get(proxy.url + "/_snapshot/repo/_all", auth=a, timeout=TIMEOUT)
            expect(r.status_code == 200, f"status {r.status_code}: {r.text}")
            bad = AWS4Auth(TEMP_AKID, TEMP_SECRET, REGION, "es", session_token="other-token")
            r2 = requests.get(proxy.url + "/_snapshot/repo/_all", auth=bad, timeout=TIMEOUT)
            expect(r2.status_code == 403, f"wrong token: {r2.status_code}")
            return f"token accepted (200); wrong token -> 403 {message_of(r2)!r}"

        def wrong_secret():
            r = requests.get(
                proxy.url + "/_cluster/health", auth=AWS4Auth(AKID, "wrong", REGION, "es"), timeout=TIMEOUT
            )
            expect(r.status_code == 403, f"status {r.status_code}")
            expect(message_of(r).startswith("The request signature we calculated does not match"), r.text)
            return f"403 {message_of(r).splitlines()[0][:80]!r}..."

        def unsigned():
            r = requests.get(proxy.url + "/_cluster/health", timeout=TIMEOUT)
            expect(r.status_code == 403 and r.json() == {"message": "Missing Authentication Token"}, r.text)
            return f"403 {r.text}"

        def snapshot_paths():
            for path in SNAPSHOT_PATHS:
                r = requests.get(proxy.url + path, auth=auth, timeout=TIMEOUT)
                expect(r.status_code == 200, f"{path}: {r.status_code} {r.text[:400]}")
                expect(upstream.seen[-1]["path"] == path, f"upstream saw {upstream.seen[-1]['path']} for {path}")
            r = requests.get(
                proxy.url + "/_cat/recovery/idx-a,idx-b",
                params={"format": "json", "bytes": "b", "active_only": "true"},
                auth=auth,
                timeout=TIMEOUT,
            )
            expect(r.status_code == 200, f"params form: {r.status_code}")
            return f"{len(SNAPSHOT_PATHS) + 1} paths verified and relayed unchanged"

        def bodies():
            doc = json.dumps({"query": {"match_all": {}}}).encode()
            r = requests.post(
                proxy.url + "/my-index/_count",
                data=doc,
                headers={"Content-Type": "application/json"},
                auth=auth,
                timeout=TIMEOUT,
            )
            expect(r.status_code == 200 and upstream.seen[-1]["body"] == doc, f"plain body: {r.status_code}")
            gz = gzip.compress(doc)
            r = requests.post(
                proxy.url + "/my-index/_count",
                data=gz,
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
                auth=auth,
                timeout=TIMEOUT,
            )
            seen = upstream.seen[-1]
            expect(r.status_code == 200, f"gzip body: {r.status_code} {r.text}")
            expect(seen["body"] == gz and seen["headers"].get("content-encoding") == "gzip", "gzip not relayed as-is")
            return "JSON and gzip'd JSON bodies verified; upstream got the same bytes + Content-Encoding"

        def tampering():
            prepared = requests.Request(
                "PUT",
                proxy.url + "/_snapshot/repo/snap",
                data=b'{"indices":"a"}',
                headers={"Content-Type": "application/json"},
            ).prepare()
            auth(prepared)
            prepared.body = b'{"indices":"b"}'
            with requests.Session() as s:
                r1 = s.send(prepared, timeout=TIMEOUT)
            prepared = requests.Request("GET", proxy.url + "/_snapshot/repo/snap").prepare()
            auth(prepared)
            prepared.prepare_url(proxy.url + "/_snapshot/repo/other", None)
            with requests.Session() as s:
                r2 = s.send(prepared, timeout=TIMEOUT)
            expect(r1.status_code == 403 and r2.status_code == 403, f"{r1.status_code} {r2.status_code}")
            return f"changed body -> 403 {message_of(r1)[:60]!r}; changed path -> 403"

        def scope_and_time():
            r1 = requests.get(proxy.url + "/", auth=AWS4Auth(AKID, SECRET, "us-east-1", "es"), timeout=TIMEOUT)
            r2 = requests.get(proxy.url + "/", auth=AWS4Auth(AKID, SECRET, REGION, "aoss"), timeout=TIMEOUT)
            old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)).strftime("%Y%m%dT%H%M%SZ")
            r3 = requests.get(proxy.url + "/", auth=auth, headers={"x-amz-date": old}, timeout=TIMEOUT)
            expect([r1.status_code, r2.status_code, r3.status_code] == [403, 403, 403], "expected three 403")
            return f"region -> {message_of(r1)!r}; service -> 403; 10 min old -> {message_of(r3)[:40]!r}..."

        def rotation():
            new_akid, new_secret = "AKIDROTATED", "rotated-secret"
            proxy.add_credentials(new_akid, new_secret)
            new_auth = AWS4Auth(new_akid, new_secret, REGION, "es")
            both = [requests.get(proxy.url + "/", auth=a, timeout=TIMEOUT).status_code for a in (auth, new_auth)]
            proxy.revoke(AKID)
            after = [requests.get(proxy.url + "/", auth=a, timeout=TIMEOUT).status_code for a in (auth, new_auth)]
            proxy.add_credentials(AKID, SECRET)  # restore for later checks
            expect(both == [200, 200] and after == [403, 200], f"{both} {after}")
            return f"old+new {both}; after revoke(old) {after}"

        for name, fn in [
            ("a1 signed GET via requests-aws4auth", signed_get),
            ("a2 session token", session_token),
            ("a3 wrong secret", wrong_secret),
            ("a4 unsigned", unsigned),
            ("a5 snapshot paths with , * %2C and queries", snapshot_paths),
            ("a6 request bodies (plain, gzip)", bodies),
            ("a7 tampered body / path", tampering),
            ("a8 wrong region / service / stale date", scope_and_time),
            ("a9 credential rotation and revoke", rotation),
        ]:
            c.run(name, fn)
        c.run(
            "a10 counters",
            lambda: (
                expect(proxy.accepted + proxy.rejected == len(proxy.requests), "counters disagree")
                or f"accepted={proxy.accepted} rejected={proxy.rejected} "
                f"first={tuple(proxy.requests[0])} reasons={sorted({r for _, _, r in proxy.rejections})}"
            ),
        )


# -- (b) the elasticsearch client ------------------------------------------------------------------------
def check_sigv4_elasticsearch(c: Checks, upstream: Upstream) -> None:
    import elasticsearch
    from elasticsearch import Elasticsearch, UnsupportedProductError

    auth = AWS4Auth(AKID, SECRET, REGION, "es")
    headers = {"accept": "application/json", "content-type": "application/json"}
    with SigV4VerifyingProxy(upstream.url, {AKID: (SECRET, None)}, REGION) as proxy:

        def transport():
            es = Elasticsearch(proxy.url, node_class="requests", http_auth=auth)
            try:
                targets = [
                    "/_cat/recovery/a,b?format=json&bytes=b&active_only=true",
                    "/_cluster/health/idx-*?wait_for_status=yellow&timeout=30s",
                    "/noproduct/_cat/recovery/a,b",
                ]
                for target in targets:
                    resp = es.transport.perform_request("GET", target, headers=headers)
                    expect(resp.meta.status == 200, f"{target}: {resp.meta.status}")
                resp = es.transport.perform_request(
                    "POST", "/my-index/_count", headers=headers, body={"query": {"match_all": {}}}
                )
                expect(resp.meta.status == 200, "POST body")
            finally:
                es.close()
            return (
                f"elasticsearch {elasticsearch.__versionstr__}: {len(targets) + 1} transport requests accepted, "
                "incl. one without X-Elastic-Product (transport does no product check)"
            )

        def client_api():
            es = Elasticsearch(proxy.url, node_class="requests", http_auth=auth, http_compress=True)
            try:
                es.cat.recovery(index="idx-a,idx-b", format="json", bytes="b", active_only=True)
                es.cluster.health(index="idx-*", wait_for_status="yellow", timeout="30s")
                es.snapshot.status(repository="my-repo", snapshot="snap-2026_11_21T10-00-00")
                es.snapshot.get(repository="repo", snapshot="_all")
                expect(bool(es.indices.exists(index="my-index")), "HEAD /my-index")
                es.count(index="my-index", query={"match_all": {}})  # gzip'd body (http_compress)
                gz = upstream.seen[-1]["headers"].get("content-encoding")
                accept = upstream.seen[-1]["headers"].get("accept")
            finally:
                es.close()
            # The product check runs on the first 2xx response of a client only.
            fresh = Elasticsearch(proxy.url, node_class="requests", http_auth=auth)
            try:
                fresh.count(index="noproduct")
                product = "no error"
            except UnsupportedProductError:
                product = "UnsupportedProductError"
            finally:
                fresh.close()
            expect(gz == "gzip", f"expected gzip body, got {gz}")
            expect(product == "UnsupportedProductError", product)
            return (
                f"cat/cluster/snapshot/exists(HEAD)/count APIs accepted (count body gzip'd, accept={accept!r}); "
                f"first 2xx without X-Elastic-Product -> {product}"
            )

        c.run("b1 elasticsearch transport.perform_request signed with AWS4Auth", transport)
        c.run("b2 elasticsearch client APIs (http_compress=True)", client_api)
        c.run(
            "b3 no rejections",
            lambda: expect(proxy.rejected == 0, str(proxy.rejections)) or f"accepted={proxy.accepted}",
        )


# -- (c) TLS --------------------------------------------------------------------------------------------------
def check_tls(c: Checks, upstream: Upstream, tmp: Path) -> None:
    files = make_ca_and_cert(tmp / "tls")
    untrusted = make_untrusted_cert(tmp / "tls")
    self_signed = make_untrusted_cert(tmp / "tls-ss", self_signed=True, prefix="ss-")
    with TLSTerminatingProxy(upstream.url, files.server_cert, files.server_key) as tls:

        def with_ca():
            r1 = requests.get(tls.url + "/_cat/recovery/a,b?format=json", verify=str(files.ca_cert), timeout=TIMEOUT)
            r2 = requests.get(tls.url_for_host("localhost") + "/", verify=str(files.ca_cert), timeout=TIMEOUT)
            expect(r1.status_code == 200 and r2.status_code == 200, f"{r1.status_code} {r2.status_code}")
            return f"{tls.url} and {tls.url_for_host('localhost')} verified with {files.ca_cert.name}"

        def without_ca():
            try:
                requests.get(tls.url + "/", timeout=TIMEOUT)
            except requests.exceptions.SSLError as exc:
                expect("CERTIFICATE_VERIFY_FAILED" in str(exc), str(exc))
                return f"SSLError ... {str(exc)[str(exc).find('CERTIFICATE_VERIFY_FAILED') :][:80]}"
            raise AssertionError("request without the CA file succeeded")

        c.run("c1 HTTPS with CA file", with_ca)
        c.run("c2 HTTPS without CA file", without_ca)

    def wrong_ca(cert_files, label):
        def check():
            with TLSTerminatingProxy(upstream.url, cert_files.server_cert, cert_files.server_key) as bad:
                try:
                    requests.get(bad.url + "/", verify=str(files.ca_cert), timeout=TIMEOUT)
                except requests.exceptions.SSLError:
                    pass
                else:
                    raise AssertionError(f"{label} certificate accepted")
                ok = requests.get(bad.url + "/", verify=str(cert_files.ca_cert), timeout=TIMEOUT).status_code
            return f"rejected with our CA (handshake_failures={bad.handshake_failures}); with its own CA/cert: {ok}"

        return check

    c.run("c3 cert from another CA", wrong_ca(untrusted, "other-CA"))
    c.run("c4 self-signed cert", wrong_ca(self_signed, "self-signed"))

    def sigv4_https():
        creds = {AKID: (SECRET, None)}
        with SigV4VerifyingProxy(
            upstream.url, creds, REGION, certfile=files.server_cert, keyfile=files.server_key
        ) as proxy:
            r = requests.get(
                proxy.url + "/_snapshot/repo/_all",
                auth=AWS4Auth(AKID, SECRET, REGION, "es"),
                verify=str(files.ca_cert),
                timeout=TIMEOUT,
            )
            expect(r.status_code == 200, f"{r.status_code} {r.text}")
            return f"{proxy.url}: 200"

    c.run("c5 SigV4 proxy serving HTTPS", sigv4_https)


# -- (d) SOCKS5 and HTTP proxies -------------------------------------------------------------------------------
def check_proxies(c: Checks, upstream: Upstream, tmp: Path) -> None:
    upstream_port = upstream.url.rsplit(":", 1)[1]

    def socks5():
        with Socks5Proxy() as socks:
            r = requests.get(upstream.url + "/via-socks", proxies={"http": socks.url}, timeout=TIMEOUT)
            expect(r.status_code == 200 and upstream.seen[-1]["path"] == "/via-socks", r.text)
            n = socks.wait_for_connections(1)
            expect(socks.targets[-1].endswith(":" + upstream_port), str(socks.targets))
            return f"{socks.url}: connections={n} targets={socks.targets}"

    def http_forward_and_connect():
        files = make_ca_and_cert(tmp / "tls-proxy")
        with HttpProxy() as proxy, TLSTerminatingProxy(upstream.url, files.server_cert, files.server_key) as tls:
            r1 = requests.get(upstream.url + "/via-http-proxy", proxies={"http": proxy.url}, timeout=TIMEOUT)
            r2 = requests.get(
                tls.url + "/via-connect", proxies={"https": proxy.url}, verify=str(files.ca_cert), timeout=TIMEOUT
            )
            expect(r1.status_code == 200 and r2.status_code == 200, f"{r1.status_code} {r2.status_code}")
            n = proxy.wait_for_connections(2)
            return f"{proxy.url}: absolute-URI + CONNECT, connections={n} targets={proxy.targets}"

    def sigv4_through_socks():
        with Socks5Proxy() as socks, SigV4VerifyingProxy(upstream.url, {AKID: (SECRET, None)}, REGION) as proxy:
            r = requests.get(
                proxy.url + "/_cat/recovery/a,b?format=json",
                auth=AWS4Auth(AKID, SECRET, REGION, "es"),
                proxies={"http": socks.url},
                timeout=TIMEOUT,
            )
            expect(r.status_code == 200, f"{r.status_code} {r.text}")
            socks.wait_for_connections(1)
            return f"signed request via SOCKS5 accepted (proxy accepted={proxy.accepted}, socks connections={socks.connections})"

    c.run("d1 SOCKS5 proxy (socks5h)", socks5)
    c.run("d2 HTTP proxy (forward + CONNECT)", http_forward_and_connect)
    c.run("d3 SigV4 through SOCKS5", sigv4_through_socks)


# -- (e) AWS-looking host name for region inference -------------------------------------------------------------------
def check_aws_hostname(c: Checks, upstream: Upstream, tmp: Path) -> None:
    host = aws_like_hostname(REGION)
    files = make_ca_and_cert(tmp / "tls-aws", dns_names=("localhost", host))

    def run():
        with SigV4VerifyingProxy(
            upstream.url, {AKID: (SECRET, None)}, REGION, certfile=files.server_cert, keyfile=files.server_key
        ) as proxy:
            env = loopback_hostnames_env([host], tmp / "hostmap")
            code = (
                "import sys, requests; from requests_aws4auth import AWS4Auth;"
                "r = requests.get(sys.argv[1] + '/_snapshot/repo/_all', verify=sys.argv[2],"
                f" auth=AWS4Auth({AKID!r}, {SECRET!r}, sys.argv[1].split('.')[1], 'es'), timeout=10);"
                "print(r.status_code)"
            )
            url = f"https://{host}:{proxy.port}"
            out = subprocess.run(
                [sys.executable, "-c", code, url, str(files.ca_cert)],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            expect(out.stdout.strip() == "200", f"{out.stdout} {out.stderr[-500:]}")
            try:
                socket.getaddrinfo(host, 443)
                plain = "resolves"
            except socket.gaierror:
                plain = "does not resolve"
            return f"{url} -> 200 in subprocess (region from host name); in this process the name {plain}"

    c.run("e1 AWS-looking host name via loopback_hostnames_env", run)


def _open_sockets() -> int:
    """Number of socket file descriptors this process holds (Linux /proc)."""
    fd_dir = Path("/proc/self/fd")
    count = 0
    for fd in fd_dir.iterdir() if fd_dir.exists() else ():
        try:
            count += fd.readlink().as_posix().startswith("socket:")
        except OSError:
            pass
    return count


def main() -> int:
    c = Checks()
    print(f"python {sys.version.split()[0]}")
    sockets_before = _open_sockets()
    with tempfile.TemporaryDirectory(prefix="es-s3-snapshot-selfcheck-") as tmpdir, Upstream() as upstream:
        tmp = Path(tmpdir)
        check_sigv4_requests(c, upstream)
        check_sigv4_elasticsearch(c, upstream)
        check_tls(c, upstream, tmp)
        check_proxies(c, upstream, tmp)
        check_aws_hostname(c, upstream, tmp)

    def no_leaks():
        threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        expect(not threads, f"threads still running: {threads}")
        sockets_after = _open_sockets()
        expect(sockets_after <= sockets_before, f"sockets open before={sockets_before} after={sockets_after}")
        return f"no threads left; open sockets before={sockets_before} after={sockets_after}"

    c.run("z no leaked threads/sockets", no_leaks)
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
