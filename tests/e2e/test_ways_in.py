"""Every way in, against real servers: basic auth and API keys (Elasticsearch security), SigV4
(a verifying proxy in front of OpenSearch), TLS, SOCKS5 and HTTP proxies, and seed failover."""

from __future__ import annotations

import json
import re
import sys
import textwrap
import time

import pytest

from tests.support.hostnames import aws_like_hostname, loopback_hostnames_env
from tests.support.proxies import HttpProxy, Socks5Proxy
from tests.support.sigv4_proxy import SigV4VerifyingProxy
from tests.support.tls import TLSTerminatingProxy, make_ca_and_cert

from .conftest import fs_config, s3_config
from .upstream_ports import dead_seed

# --- Elasticsearch security: basic auth and API keys --------------------------------------------


def es_config(stack, unique, auth_lines):
    """The fs round trip on the Elasticsearch node (security on), with ``auth_lines`` for both sides."""
    return fs_config(stack.nodes["es"], unique, f"{unique}-auth", auth_lines)


def test_basic_auth_wrong_password_exits_2_without_echoing_it(stack, es, cli, write, unique):
    node = stack.nodes["es"]
    es.seed(f"{unique}-auth", 5)
    config = write(es_config(stack, unique, f"username = {node.username}\npassword = Wr0ngPassw0rd"))
    result = cli("-m", "backup", "-c", config)
    assert result.code == 2, result
    assert "the source cluster rejected the credentials (basic auth): authentication failed" in result.err
    assert "Wr0ngPassw0rd" not in result.err + result.out
    assert len(result.err.strip().splitlines()) == 1


def test_api_key_backup_and_restore_then_revoked_key_exits_2(stack, es, cli, write, unique):
    es.seed(f"{unique}-auth", 12)
    key = es("POST", "/_security/api_key", {"name": f"snap-{unique}"})
    config = write(es_config(stack, unique, f"auth = api_key\napi_key = {key['encoded']}"))

    backup = cli("-m", "backup", "-c", config, "--snapshot", "k1")
    assert backup.code == 0, backup
    restore = cli("-m", "restore", "-c", config, "--snapshot", "k1")
    assert restore.code == 0, restore
    assert es.count(f"back-{unique}-auth") == 12
    assert key["encoded"] not in backup.err + backup.out + restore.err + restore.out

    es("DELETE", "/_security/api_key", {"ids": [key["id"]]})
    revoked = cli("-m", "backup", "-c", config, "--snapshot", "k2")
    assert revoked.code == 2, revoked
    assert "rejected the credentials (api_key auth): authentication failed" in revoked.err
    assert key["encoded"] not in revoked.err + revoked.out


def test_api_key_from_environment(stack, es, cli, write, unique):
    es.seed(f"{unique}-auth", 4)
    key = es("POST", "/_security/api_key", {"name": f"env-{unique}"})
    config = write(es_config(stack, unique, "api_key_env = MY_ES_KEY"))
    result = cli("-m", "backup", "-c", config, env={"MY_ES_KEY": f"{key['id']}:{key['api_key']}"})
    assert result.code == 0, result


# --- SigV4 through a verifying proxy -------------------------------------------------------------

KEY, SECRET = "AKIDE2ESTATIC", "e2e-static-secret"
TEMP_KEY, TEMP_SECRET, TEMP_TOKEN = "ASIAE2ETEMP", "e2e-temp-secret", "e2e-session-token"


@pytest.fixture
def sigv4_proxies(stack):
    creds = {KEY: (SECRET, None), TEMP_KEY: (TEMP_SECRET, TEMP_TOKEN)}
    with (
        SigV4VerifyingProxy(stack.nodes["source"].url, creds, region="eu-west-1") as src_proxy,
        SigV4VerifyingProxy(stack.nodes["destination"].url, creds, region="eu-west-1") as dest_proxy,
    ):
        yield src_proxy, dest_proxy


def sigv4_config(stack, unique, src_url, dest_url, side_lines, extra=""):
    return textwrap.dedent(f"""
        [aws_s3_config]
        aws_region = us-east-1
        s3_bucket_name = {stack.s3.bucket}
        s3_base_path = sigv4/{unique}

        [elasticsearch_config]
        es_repository_name = repo-{unique}
        es_src_seed1 = {src_url}
        es_dest_seed1 = {dest_url}
        index_names = {unique}-sig

        [source]
        auth = sigv4
        {side_lines}

        [destination]
        auth = sigv4
        {side_lines}

        [wait]
        poll_interval = 1
    """) + textwrap.dedent(extra)


def round_trip(cli, config, src, dest, index, docs, env=None):
    src.seed(index, docs)
    backup = cli("-m", "backup", "-c", config, env=env)
    assert backup.code == 0, backup
    restore = cli("-m", "restore", "-c", config, env=env)
    assert restore.code == 0, restore
    assert dest.count(index) == docs
    return backup, restore


def test_sigv4_static_keys(stack, src, dest, cli, write, unique, sigv4_proxies):
    src_proxy, dest_proxy = sigv4_proxies
    config = write(
        sigv4_config(
            stack,
            unique,
            src_proxy.url,
            dest_proxy.url,
            f"aws_region = eu-west-1\n        aws_access_key = {KEY}\n        aws_secret_key = {SECRET}",
        )
    )
    backup, restore = round_trip(cli, config, src, dest, f"{unique}-sig", 30)
    assert src_proxy.accepted >= 5 and src_proxy.rejected == 0
    assert dest_proxy.accepted >= 5 and dest_proxy.rejected == 0
    assert SECRET not in backup.err + backup.out + restore.err + restore.out


def test_sigv4_temporary_credentials(stack, src, dest, cli, write, unique, sigv4_proxies):
    src_proxy, dest_proxy = sigv4_proxies
    lines = (
        f"aws_region = eu-west-1\n        aws_access_key = {TEMP_KEY}\n        aws_secret_key = {TEMP_SECRET}"
        f"\n        aws_session_token = {TEMP_TOKEN}"
    )
    config = write(sigv4_config(stack, unique, src_proxy.url, dest_proxy.url, lines))
    round_trip(cli, config, src, dest, f"{unique}-sig", 9)
    assert src_proxy.rejected == 0 and dest_proxy.rejected == 0


def test_sigv4_credentials_from_environment(stack, src, dest, cli, write, unique, sigv4_proxies):
    src_proxy, dest_proxy = sigv4_proxies
    config = write(sigv4_config(stack, unique, src_proxy.url, dest_proxy.url, "aws_region = eu-west-1"))
    env = {"AWS_ACCESS_KEY_ID": TEMP_KEY, "AWS_SECRET_ACCESS_KEY": TEMP_SECRET, "AWS_SESSION_TOKEN": TEMP_TOKEN}
    round_trip(cli, config, src, dest, f"{unique}-sig", 7, env=env)
    assert src_proxy.accepted > 0 and src_proxy.rejected == 0


def test_sigv4_credentials_from_shared_profile(stack, src, dest, cli, write, unique, sigv4_proxies, tmp_path):
    src_proxy, dest_proxy = sigv4_proxies
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[backup]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n")
    config = write(
        sigv4_config(
            stack, unique, src_proxy.url, dest_proxy.url, "aws_region = eu-west-1\n        aws_profile = backup"
        )
    )
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(tmp_path / "none")}
    round_trip(cli, config, src, dest, f"{unique}-sig", 6, env=env)
    assert src_proxy.rejected == 0


def test_sigv4_wrong_secret_is_a_clear_signature_error(stack, src, cli, write, unique, sigv4_proxies):
    src_proxy, dest_proxy = sigv4_proxies
    src.seed(f"{unique}-sig", 1)
    config = write(
        sigv4_config(
            stack,
            unique,
            src_proxy.url,
            dest_proxy.url,
            f"aws_region = eu-west-1\n        aws_access_key = {KEY}\n        aws_secret_key = not-the-secret",
        )
    )
    result = cli("-m", "backup", "-c", config)
    assert result.code == 2, result
    assert "the source cluster rejected the request signature (SigV4)" in result.err
    assert "not-the-secret" not in result.err + result.out
    assert src_proxy.rejected >= 1


def test_sigv4_role_arn_and_encryption_reach_the_repository_settings(stack, src, cli, write, unique, sigv4_proxies):
    src_proxy, dest_proxy = sigv4_proxies
    bodies = []
    original = src_proxy.inspect

    def record(request):
        if request.method == "PUT" and request.path == f"/_snapshot/repo-{unique}":
            bodies.append(json.loads(request.body))
        return original(request)

    src_proxy.inspect = record
    role = "arn:aws:iam::123456789012:role/snapshot-role"
    config = write(
        sigv4_config(
            stack,
            unique,
            src_proxy.url,
            dest_proxy.url,
            f"aws_region = eu-west-1\n        aws_access_key = {KEY}\n        aws_secret_key = {SECRET}",
            f"[repository]\nrole_arn = {role}\nserver_side_encryption = true\n",
        )
    )
    src.seed(f"{unique}-sig", 2)
    dry = cli("-m", "backup", "-c", config, "--dry-run")  # signed reads, and the PUT printed, not sent
    assert dry.code == 0, dry
    assert f"would send PUT /_snapshot/repo-{unique}" in dry.out, dry
    assert bodies == []
    backup = cli("-m", "backup", "-c", config)
    assert backup.code == 0, backup
    assert bodies, "the repository was not registered through the proxy"
    settings = bodies[0]["settings"]
    assert settings["role_arn"] == role
    assert settings["server_side_encryption"] is True
    assert settings["region"] == "us-east-1"  # the bucket's region, as AWS managed domains take it
    assert "access_key" not in settings and "secret_key" not in settings


def test_sigv4_region_inferred_from_aws_endpoint_host(stack, src, dest, cli, write, unique, tmp_path):
    host = aws_like_hostname("eu-west-1")
    tls = make_ca_and_cert(tmp_path / "tls", dns_names=("localhost", host))
    creds = {KEY: (SECRET, None)}
    with (
        SigV4VerifyingProxy(
            stack.nodes["source"].url, creds, region="eu-west-1", certfile=tls.server_cert, keyfile=tls.server_key
        ) as src_proxy,
        SigV4VerifyingProxy(
            stack.nodes["destination"].url, creds, region="eu-west-1", certfile=tls.server_cert, keyfile=tls.server_key
        ) as dest_proxy,
    ):
        text = sigv4_config(
            stack,
            unique,
            f"https://{host}:{src_proxy.port}",
            f"https://{host}:{dest_proxy.port}",
            f"aws_access_key = {KEY}\n        aws_secret_key = {SECRET}\n        ca_certs = {tls.ca_cert}",
        )
        text = text.replace("aws_region = us-east-1\n", "")  # no region anywhere in the config
        config = write(text)
        env = loopback_hostnames_env([host], tmp_path / "hosts", base_env={})
        round_trip(cli, config, src, dest, f"{unique}-sig", 8, env=env)
        assert src_proxy.accepted > 0 and src_proxy.rejected == 0 and dest_proxy.rejected == 0


CRED_PROCESS = textwrap.dedent("""
    import datetime, json, pathlib, sys
    counter = pathlib.Path(sys.argv[1])
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    lifetime = float(sys.argv[2])
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=900 + lifetime)
    print(json.dumps({"Version": 1, "AccessKeyId": f"ASIAROT{n}", "SecretAccessKey": f"rot-secret-{n}",
                      "SessionToken": f"rot-token-{n}", "Expiration": expires.isoformat()}))
""")


class ExpiringKeys(SigV4VerifyingProxy):
    """Like AWS: temporary keys stop working some seconds after they were first used."""

    def __init__(self, *args, lifetime, **kwargs):
        super().__init__(*args, **kwargs)
        self.lifetime = lifetime
        self.first_seen: dict[str, float] = {}
        self.expired_uses = 0

    def inspect(self, request):
        match = re.search(r"Credential=([A-Z0-9]+)/", request.header("authorization") or "")
        if match:
            key = match.group(1)
            first = self.first_seen.setdefault(key, time.monotonic())
            if time.monotonic() - first > self.lifetime:
                self.expired_uses += 1
                self.revoke(key)
        return super().inspect(request)


def test_sigv4_credentials_that_expire_during_a_long_wait_are_refreshed(stack, src, dest, cli, write, unique, tmp_path):
    # botocore refreshes 15 minutes before expiry: credentials issued for 900 + 6 s need a refresh
    # after 6 s, and the proxy refuses any key used more than 15 s after its first use.
    creds = {f"ASIAROT{n}": (f"rot-secret-{n}", f"rot-token-{n}") for n in range(500)}
    script = tmp_path / "cred.py"
    script.write_text(CRED_PROCESS)
    aws_config = tmp_path / "aws-config"
    aws_config.write_text(f"[profile rotating]\ncredential_process = {sys.executable} {script} {tmp_path / 'n'} 6\n")
    index = f"{unique}-sig"
    src.seed(index, 3000)
    with (
        ExpiringKeys(stack.nodes["source"].url, creds, region="eu-west-1", lifetime=15) as src_proxy,
        ExpiringKeys(stack.nodes["destination"].url, creds, region="eu-west-1", lifetime=15) as dest_proxy,
    ):
        config = write(
            sigv4_config(
                stack,
                unique,
                src_proxy.url,
                dest_proxy.url,
                "aws_region = eu-west-1\n        aws_profile = rotating",
                # a slow snapshot (a long wait), its progress read every 2 s: each read is signed anew
                "[repository]\nmax_snapshot_bytes_per_sec = 2kb\n[wait]\nprogress_interval = 2\n",
            )
        )
        env = {"AWS_CONFIG_FILE": str(aws_config), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
        started = time.monotonic()
        backup = cli("-m", "backup", "-c", config, env=env)
        took = time.monotonic() - started
        assert backup.code == 0, backup
        assert took > 20, f"the backup took only {took:.0f}s: too short to outlive a key"
        used = len(src_proxy.first_seen)
        assert used >= 3, f"only {used} keys used over {took:.0f}s: credentials were not refreshed"
        assert src_proxy.rejected == 0 and src_proxy.expired_uses == 0
        restore = cli("-m", "restore", "-c", config, env=env)
        assert restore.code == 0, restore
        assert dest.count(index) == 3000


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def tls_nodes(stack, tmp_path):
    """HTTPS in front of the source and the destination, with a certificate from a test CA."""
    tls = make_ca_and_cert(tmp_path / "tls")
    with (
        TLSTerminatingProxy(stack.nodes["source"].url, tls.server_cert, tls.server_key) as src_proxy,
        TLSTerminatingProxy(stack.nodes["destination"].url, tls.server_cert, tls.server_key) as dest_proxy,
    ):
        yield src_proxy, dest_proxy, tls


def tls_config(stack, unique, src_proxy, dest_proxy, index):
    text = s3_config(stack, repo=f"repo-{unique}", base_path=f"tls/{unique}", indices=index)
    text = text.replace(f"es_src_seed1 = {stack.nodes['source'].url}", f"es_src_seed1 = {src_proxy.url}")
    return text.replace(f"es_dest_seed1 = {stack.nodes['destination'].url}", f"es_dest_seed1 = {dest_proxy.url}")


def test_tls_is_verified_by_default_and_the_ca_file_makes_it_pass(stack, src, dest, cli, write, unique, tls_nodes):
    src_proxy, dest_proxy, tls = tls_nodes
    index = f"{unique}-tls"
    base = tls_config(stack, unique, src_proxy, dest_proxy, index)
    src.seed(index, 5)

    refused = cli("-m", "backup", "-c", write(base, "no-ca.conf"))
    assert refused.code == 2, refused
    assert "TLS connection to the source cluster failed" in refused.err
    assert "certificate verify failed" in refused.err
    assert len(refused.err.strip().splitlines()) == 1

    config = write(base + f"[source]\nca_certs = {tls.ca_cert}\n[destination]\nca_certs = {tls.ca_cert}\n", "ca.conf")
    backup, restore = round_trip(cli, config, src, dest, index, 5)
    assert "verification is OFF" not in backup.err + restore.err
    assert src_proxy.accepted > 0 and dest_proxy.accepted > 0


def test_turning_verification_off_needs_a_setting_and_warns(stack, src, dest, cli, write, unique, tls_nodes):
    src_proxy, dest_proxy, _ = tls_nodes
    index = f"{unique}-tls"
    base = tls_config(stack, unique, src_proxy, dest_proxy, index)
    config = write(base + "[source]\nverify_certs = false\n[destination]\nverify_certs = false\n")
    backup, restore = round_trip(cli, config, src, dest, index, 6)
    assert "TLS certificate verification is OFF for the source cluster" in backup.err
    assert "TLS certificate verification is OFF for the destination cluster" in restore.err


# --- proxies ------------------------------------------------------------------------------------


def test_socks5_proxy_for_the_source_and_http_proxy_for_the_destination(stack, src, dest, cli, write, unique):
    index = f"{unique}-px"
    with Socks5Proxy() as socks, HttpProxy() as http_proxy:
        config = write(
            s3_config(
                stack,
                repo=f"repo-{unique}",
                base_path=f"proxy/{unique}",
                indices=index,
                extra=f"[source]\nproxy = {socks.url}\n[destination]\nproxy = {http_proxy.url}\n",
            )
        )
        round_trip(cli, config, src, dest, index, 14)
        assert socks.wait_for_connections(1) >= 1
        assert http_proxy.wait_for_connections(1) >= 1
        assert all(t.endswith(stack.nodes["source"].url.rsplit(":", 1)[1]) for t in socks.targets)
        assert all(t.endswith(stack.nodes["destination"].url.rsplit(":", 1)[1]) for t in http_proxy.targets)


# --- failover -----------------------------------------------------------------------------------


def test_first_seed_dead_second_alive_succeeds_with_one_warning(stack, src, dest, cli, write, unique):
    index, dead_src, dead_dest = f"{unique}-fo", dead_seed(), dead_seed()
    text = s3_config(stack, repo=f"repo-{unique}", base_path=f"fo/{unique}", indices=index)
    text = text.replace(
        f"es_src_seed1 = {stack.nodes['source'].url}",
        f"es_src_seed1 = {dead_src}\nes_src_seed2 = {stack.nodes['source'].url}",
    )
    text = text.replace(
        f"es_dest_seed1 = {stack.nodes['destination'].url}",
        f"es_dest_seed1 = {dead_dest}\nes_dest_seed2 = {stack.nodes['destination'].url}",
    )
    backup, restore = round_trip(cli, write(text), src, dest, index, 3)
    for result, side, dead in ((backup, "source", dead_src), (restore, "destination", dead_dest)):
        warnings = [line for line in result.err.splitlines() if " WARNING " in line]
        assert len(warnings) == 1 and f"{side} seed {dead} is unreachable" in warnings[0], result


def test_all_seeds_dead_exit_2_names_every_seed_within_the_timeout(stack, cli, write, unique):
    dead1, dead2 = dead_seed(), dead_seed()
    text = s3_config(stack, repo=f"repo-{unique}", base_path=f"fo/{unique}", indices="x")
    text = text.replace(
        f"es_src_seed1 = {stack.nodes['source'].url}", f"es_src_seed1 = {dead1}\nes_src_seed2 = {dead2}"
    )
    started = time.monotonic()
    result = cli("-m", "backup", "-c", write(text + "[source]\nrequest_timeout = 5\n"))
    assert time.monotonic() - started < 30
    assert result.code == 2, result
    assert (
        f"{dead1}: [Errno 111] Connection refused" in result.err
        and f"{dead2}: [Errno 111] Connection refused" in result.err
    )
