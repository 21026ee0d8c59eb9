import base64
import logging

import pytest

from es_s3_snapshot.clients import build_transport, region_from_host
from es_s3_snapshot.cluster import Cluster
from es_s3_snapshot.config import SideConfig
from es_s3_snapshot.errors import AuthenticationFailed, ClusterUnreachable, ConfigError

from .upstream import Upstream, dead_port


def cluster_for(side: SideConfig) -> Cluster:
    cluster = Cluster(side.name, side.seeds, None, auth=side.auth)
    cluster.transport = build_transport(side, on_node_failure=cluster.node_failed)
    return cluster


def side(*seeds, **kwargs) -> SideConfig:
    return SideConfig(name="source", seeds=tuple(seeds), seed_key="es_src_seed", request_timeout=5, **kwargs)


def test_plain_client_sends_plain_json_and_no_authorization():
    with Upstream() as up:
        info = cluster_for(side(up.url)).info()
    assert (info.engine, info.version) == ("OpenSearch", "3.3.2")
    method, path, headers = up.seen[0]
    assert (method, path) == ("GET", "/")
    assert headers["accept"] == "application/json"
    assert "compatible-with" not in headers["accept"]
    assert "authorization" not in headers


def test_basic_auth_header():
    with Upstream() as up:
        cluster_for(side(up.url, auth="basic", username="u", password="p@ss")).info()
    assert up.seen[0][2]["authorization"] == "Basic " + base64.b64encode(b"u:p@ss").decode()


@pytest.mark.parametrize(
    "key,expected",
    [
        ("ZW5jb2RlZA==", "ApiKey ZW5jb2RlZA=="),
        ("my-id:my-key", "ApiKey " + base64.b64encode(b"my-id:my-key").decode()),
    ],
)
def test_api_key_header(key, expected):
    with Upstream() as up:
        cluster_for(side(up.url, auth="api_key", api_key=key)).info()
    assert up.seen[0][2]["authorization"] == expected


def test_sigv4_request_signature_verifies_with_botocore(monkeypatch):
    from tests.support.sigv4_proxy import SigV4VerifyingProxy

    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    creds = {"AKIDUNIT": ("unit-secret", "unit-token")}
    with Upstream() as up, SigV4VerifyingProxy(up.url, creds, region="eu-west-1") as proxy:
        s = side(
            proxy.url,
            auth="sigv4",
            aws_region="eu-west-1",
            aws_access_key="AKIDUNIT",
            aws_secret_key="unit-secret",
            aws_session_token="unit-token",
        )
        cluster = cluster_for(s)
        cluster.info()
        cluster.get("/_cat/recovery/a,b*", params={"format": "json", "active_only": "true"})
        cluster.request("PUT", "/_snapshot/r", {"type": "s3", "settings": {"bucket": "b"}})
        assert proxy.accepted == 3 and proxy.rejected == 0
        wrong = cluster_for(s.__class__(**{**s.__dict__, "aws_secret_key": "wrong"}))
        with pytest.raises(AuthenticationFailed, match="rejected the request signature"):
            wrong.info()
        assert proxy.rejected == 1


def test_sigv4_without_credentials_is_a_config_error(monkeypatch, tmp_path):
    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ConfigError, match="found no AWS credentials"):
        build_transport(side("http://127.0.0.1:1", auth="sigv4", aws_region="us-east-1"))
    with pytest.raises(ConfigError, match="aws_profile"):
        build_transport(side("http://127.0.0.1:1", auth="sigv4", aws_profile="nope"))


@pytest.mark.parametrize(
    "url,region",
    [
        ("https://search-logs-abc.eu-west-1.es.amazonaws.com:443", "eu-west-1"),
        ("https://vpc-x-y.us-gov-west-1.es.amazonaws.com", "us-gov-west-1"),
        ("https://search-x.cn-north-1.es.amazonaws.com.cn", "cn-north-1"),
        ("https://my-cluster.example.com:9243", None),
    ],
)
def test_region_from_host(url, region):
    assert region_from_host(url) == region


def test_proxy_is_set_on_the_session():
    transport = build_transport(side("http://127.0.0.1:1", proxy="socks5h://127.0.0.1:1080"))
    node = transport.node_pool.all()[0]
    assert node.session.proxies == {"http": "socks5h://127.0.0.1:1080", "https": "socks5h://127.0.0.1:1080"}


def test_first_seed_dead_second_alive_succeeds_with_one_warning(caplog):
    dead = f"http://127.0.0.1:{dead_port()}"
    with Upstream() as up, caplog.at_level(logging.WARNING, logger="es_s3_snapshot"):
        cluster = cluster_for(side(dead, up.url))
        for _ in range(4):
            cluster.info()
    warnings = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("es_s3_snapshot")
    ]
    assert len(warnings) == 1
    assert f"source seed {dead} is unreachable (" in warnings[0]


def test_all_seeds_dead_names_every_seed():
    dead1, dead2 = f"http://127.0.0.1:{dead_port()}", f"http://127.0.0.1:{dead_port()}"
    with pytest.raises(ClusterUnreachable) as err:
        cluster_for(side(dead1, dead2)).info()
    message = str(err.value)
    assert (
        f"{dead1}: [Errno 111] Connection refused" in message and f"{dead2}: [Errno 111] Connection refused" in message
    )
    assert err.value.exit_code == 2


def test_401_is_an_authentication_failure_without_the_secret():
    with Upstream(
        status=401, body={"error": {"type": "security_exception", "reason": "unable to authenticate user [u]"}}
    ) as up:
        with pytest.raises(AuthenticationFailed) as err:
            cluster_for(side(up.url, auth="basic", username="u", password="hunter22")).info()
    assert "rejected the credentials (basic auth): authentication failed" in str(err.value)
    assert "hunter22" not in str(err.value)


def test_engine_error_carries_type_and_reason():
    from es_s3_snapshot.errors import EngineError

    body = {"error": {"type": "snapshot_missing_exception", "reason": "[r:s] is missing"}, "status": 404}
    with Upstream(status=404, body=body) as up:
        with pytest.raises(EngineError) as err:
            cluster_for(side(up.url)).get("/_snapshot/r/s")
    assert err.value.error_type == "snapshot_missing_exception"
    assert "answered 404 snapshot_missing_exception: [r:s] is missing (GET /_snapshot/r/s)" in str(err.value)


def test_info_falls_back_to_nodes_info_where_root_is_not_served():
    from tests.unit.fake_engine import FakeEngine

    class NoRoot(FakeEngine):
        def _route(self, method, path, params, body):
            if path == "/":
                return 405, {
                    "error": "Incorrect HTTP method for uri [/] and method [GET], allowed: [DELETE]",
                    "status": 405,
                }
            if path == "/_nodes/_local":
                return 200, {"cluster_name": "c1", "nodes": {"n": {"version": "9.2.4"}}}
            return super()._route(method, path, params, body)

    info = Cluster("source", ("http://x:1",), NoRoot()).info()
    assert (info.version, info.cluster_name) == ("9.2.4", "c1")


@pytest.mark.parametrize("env_bundle", [None, "/etc/ssl/certs/ca-certificates.crt"])
def test_tls_verification_with_ca_file_without_it_and_off(tmp_path, monkeypatch, env_bundle):
    from tests.support.tls import TLSTerminatingProxy, make_ca_and_cert

    # requests lets REQUESTS_CA_BUNDLE override a session's settings; the config must win
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if env_bundle:
            monkeypatch.setenv(var, env_bundle)
        else:
            monkeypatch.delenv(var, raising=False)

    tls = make_ca_and_cert(tmp_path)
    with Upstream() as up, TLSTerminatingProxy(up.url, tls.server_cert, tls.server_key) as proxy:
        assert cluster_for(side(proxy.url, ca_certs=str(tls.ca_cert))).info().version == "3.3.2"
        with pytest.raises(ClusterUnreachable, match="certificate verify failed"):
            cluster_for(side(proxy.url)).info()
        assert cluster_for(side(proxy.url, verify_certs=False)).info().version == "3.3.2"


def test_ca_file_that_is_not_pem_is_a_config_error(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"\[source\] ca_certs .* cannot be loaded as PEM"):
        build_transport(side("https://127.0.0.1:1", ca_certs=str(bad)))


def test_basic_auth_with_non_latin1_password_is_sent_as_utf8():
    with Upstream() as up:
        cluster_for(side(up.url, auth="basic", username="ü", password="p€ss")).info()
    assert up.seen[0][2]["authorization"] == "Basic " + base64.b64encode("ü:p€ss".encode()).decode()
