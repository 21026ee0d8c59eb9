"""What the tool says about answers that are not what the API promises, and about AWS's answers."""

import signal

import pytest

from es_s3_snapshot import cli
from es_s3_snapshot.cluster import Cluster
from es_s3_snapshot.config import SideConfig
from es_s3_snapshot.errors import AuthenticationFailed, ClusterUnreachable, Interrupted, Signalled, UnexpectedAnswer

from .upstream import Upstream, dead_port


def cluster_on(*seeds, auth="none", timeout=5):
    from es_s3_snapshot.clients import build_transport

    side = SideConfig(name="source", seeds=tuple(seeds), seed_key="es_src_seed", auth=auth, request_timeout=timeout)
    cluster = Cluster("source", side.seeds, None, auth=auth, request_timeout=timeout, max_retries=max(2, len(seeds)))
    cluster.transport = build_transport(side, on_node_failure=cluster.node_failed)
    return cluster


HTML_502 = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.25.3</center>
</body>
</html>
"""


def test_html_502_from_a_load_balancer_is_one_line_naming_it():
    with Upstream(status=502, raw=HTML_502, content_type="text/html") as up:
        with pytest.raises(UnexpectedAnswer) as err:
            cluster_on(up.url).get("/_cluster/health")
    text = str(err.value)
    assert "\n" not in text and "502 Bad Gateway" in text and "<" not in text
    assert err.value.exit_code == 1


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe garbage"])
def test_broken_or_empty_json_is_one_line_exit_1_never_a_traceback(raw):
    with Upstream(status=200, raw=raw) as up:
        cluster = cluster_on(up.url)
        if raw:
            with pytest.raises(UnexpectedAnswer, match="not valid JSON"):
                cluster.get("/_snapshot/r")
        else:
            assert cluster.get("/_snapshot/r").body is None  # an empty body is no answer, not a crash


def test_passrole_answer_with_capital_message_gives_the_advice():
    from es_s3_snapshot.config import RepositoryConfig
    from es_s3_snapshot.errors import EngineError, RepositoryError
    from es_s3_snapshot.repository import ensure_repository

    body = {"Message": "User: arn:aws:iam::1:user/x is not authorized to perform: iam:PassRole on resource: r"}
    with Upstream(status=403, body=body) as up:
        cluster = cluster_on(up.url)
        cluster.auth = "sigv4"
        repo = RepositoryConfig(name="r", bucket="b", extra={"role_arn": "arn:aws:iam::1:role/snap"})
        with pytest.raises((RepositoryError, EngineError)) as err:
            ensure_repository(cluster, repo, readonly=False)
    assert err.value.exit_code == 1
    assert "iam:PassRole" in str(err.value)


def test_missing_authentication_token_says_to_sign():
    with Upstream(status=403, body={"message": "Missing Authentication Token"}) as up:
        with pytest.raises(AuthenticationFailed, match="set auth = sigv4 in \\[source\\]"):
            cluster_on(up.url).get("/")


def test_401_without_credentials_says_which_settings():
    body = {"error": {"type": "security_exception", "reason": "missing authentication credentials"}, "status": 401}
    with Upstream(status=401, body=body) as up:
        with pytest.raises(AuthenticationFailed, match="wants credentials .*username and password"):
            cluster_on(up.url).get("/")


def test_slow_answer_honours_request_timeout_and_says_it_was_slow():
    with Upstream(delay=1.5) as up:
        cluster = cluster_on(up.url, timeout=0.5)
        cluster.max_retries = 0
        with pytest.raises(ClusterUnreachable, match=r"did not answer GET /_cluster/health in 1 try of 0.5s \(0.5s\)"):
            cluster.get("/_cluster/health")


def test_timeout_message_gives_the_tries_and_the_whole_wait():
    with Upstream(delay=1.5) as up:
        cluster = cluster_on(up.url, timeout=0.3)  # one seed: 2 retries, 3 tries
        with pytest.raises(ClusterUnreachable, match=r"did not answer GET / in 3 tries of 0.3s \(0.9s\)"):
            cluster.get("/")


def test_timeout_of_a_long_call_says_to_raise_long_request_timeout():
    with Upstream(delay=1.5) as up:
        cluster = cluster_on(up.url, timeout=5)
        cluster.long_request_timeout = 0.3
        with pytest.raises(ClusterUnreachable, match=r"in 1 try of 0.3s \(0.3s\).*raise long_request_timeout in"):
            cluster.get("/_snapshot/r/_all", timeout=cluster.long_request_timeout, retries=0)


def test_timeout_message_counts_the_tries_over_several_silent_seeds():
    with Upstream(delay=1.5) as one, Upstream(delay=1.5) as two, Upstream(delay=1.5) as three:
        cluster = cluster_on(one.url, two.url, three.url, timeout=0.3)  # 3 seeds: 3 retries, 4 tries
        with pytest.raises(ClusterUnreachable, match=r"did not answer GET / in 4 tries of 0.3s \(1.2s\)"):
            cluster.get("/")


def test_silent_first_seed_fails_over_to_the_live_second():
    with Upstream(delay=3) as silent, Upstream() as live:
        cluster = cluster_on(silent.url, live.url, timeout=0.5)
        for _ in range(3):  # whichever the pool picks first, every call ends on the live seed
            assert cluster.get("/").status == 200
    assert live.seen


def test_unreachable_lists_only_seeds_really_tried():
    cluster = cluster_on(f"http://127.0.0.1:{dead_port()}")
    with pytest.raises(ClusterUnreachable, match="Connection refused") as err:
        cluster.get("/")
    assert "not tried" not in str(err.value)


def test_sigterm_is_an_interrupt_with_exit_143():
    err = Interrupted.of(Signalled(signal.SIGTERM), "snapshot x goes on")
    assert err.exit_code == 143 and str(err).startswith("terminated (SIGTERM): snapshot x goes on")
    assert Interrupted.of(KeyboardInterrupt(), "y").exit_code == 130
    assert Interrupted.of(Signalled(signal.SIGHUP), "z").exit_code == 129


def test_default_port_is_left_out_of_the_url_so_a_signed_host_matches_the_wire():
    from es_s3_snapshot.clients import build_transport

    side = SideConfig(name="source", seeds=("http://search-d.eu-west-1.es.amazonaws.com:80",), seed_key="s")
    transport = build_transport(side)
    node = transport.node_pool.all()[0]
    assert node.base_url == "http://search-d.eu-west-1.es.amazonaws.com"


def test_sigv4_through_an_http_proxy_to_port_80_verifies(monkeypatch):
    """The proxy sees an absolute URL without :80, so Host and the signed host agree."""
    import http.server
    import re
    import threading
    from urllib.parse import urlsplit

    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from es_s3_snapshot.clients import build_transport
    from tests.support.sigv4_proxy import _VerifyingSigV4Auth

    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    seen = {}

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen["url"], seen["headers"] = self.path, {k.lower(): v for k, v in self.headers.items()}
            data = b'{"cluster_name":"c","version":{"number":"3.3.2","distribution":"opensearch"}}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        side = SideConfig(
            name="source",
            seeds=("http://search-d.eu-west-1.es.amazonaws.com:80",),
            seed_key="s",
            auth="sigv4",
            aws_access_key="AKIDPROXY",
            aws_secret_key="proxy-secret",
            proxy=f"http://127.0.0.1:{server.server_address[1]}",
        )
        cluster = Cluster("source", side.seeds, None, auth="sigv4")
        cluster.transport = build_transport(side)
        cluster.get("/")
    finally:
        server.shutdown()
        server.server_close()
    assert seen["url"] == "http://search-d.eu-west-1.es.amazonaws.com/"
    assert seen["headers"]["host"] == "search-d.eu-west-1.es.amazonaws.com"
    headers = seen["headers"]
    signed = re.search(r"SignedHeaders=([^,]+)", headers["authorization"]).group(1).split(";")
    request = AWSRequest(
        method="GET",
        url="http://" + headers["host"] + urlsplit(seen["url"]).path,
        headers={name: headers[name] for name in signed},
    )
    verifier = _VerifyingSigV4Auth(Credentials("AKIDPROXY", "proxy-secret"), "es", "eu-west-1", headers["x-amz-date"])
    assert headers["authorization"].split("Signature=")[1] == verifier.compute(request)[2]


def test_cli_maps_sigterm_during_a_run_to_143(monkeypatch, write_config, capsys):
    def terminated(args, redactor, run):
        raise Signalled(signal.SIGTERM)

    monkeypatch.setattr(cli, "run_mode", terminated)
    code = cli.main(["-m", "backup", "-c", write_config()])
    assert code == 143
    assert "terminated (SIGTERM)" in capsys.readouterr().err


def test_a_cluster_block_403_is_the_engine_refusing_not_the_credentials():
    from es_s3_snapshot.cluster import Cluster
    from es_s3_snapshot.errors import EngineError

    cluster = Cluster("destination", ("http://x:9200",), transport=None)
    body = {
        "error": {
            "type": "index_create_block_exception",
            "reason": "blocked by: [FORBIDDEN/10/cluster create-index blocked (api)];",
        },
        "status": 403,
    }
    err = cluster._error("POST", "/_snapshot/r/s/_restore", 403, body)
    assert isinstance(err, EngineError) and err.exit_code == 1 and "create-index blocked" in str(err)
