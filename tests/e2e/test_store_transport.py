"""The object-store transport of -m sync and scrub (s3http.py and the boto3 control path) on real
servers, no engines: HTTPS with a private CA (ca_bundle), verify = false, an untrusted certificate,
temporary keys with a session token (moto checks the signature and the token, s3proxy the
signature), wrong keys. The repository is a real OpenSearch 3.3.2 one (hashed shard folders) from
tests/unit/data, plus two larger objects: one streamed through this machine in one PUT, one in
parts."""

from __future__ import annotations

import hashlib
import os
import re
import textwrap
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.support.hostnames import loopback_hostnames_env
from tests.support.proxies import HttpProxy

REPO = Path(__file__).resolve().parents[1] / "unit" / "data" / "repos" / "os-3.3.2-hashed"
HASHED = re.compile(r"[0-9A-Za-z]{15}")
MB = 1024**2
# above 1 MiB (s3http's SMALL) and under the threshold: one streamed PUT; above it: parts
BIG = {"indices/extra/0/__streamed": 3 * MB, "indices/extra/0/__parted": 11 * MB}


def moto_client(stores):
    key, secret, token = stores.token_keys
    return boto3.client(
        "s3", endpoint_url=stores.moto.endpoint, region_name="us-east-1", aws_access_key_id=key,
        aws_secret_access_key=secret, aws_session_token=token, config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip


def proxy_client(stores):
    proxy = stores.proxy_a
    return boto3.client(
        "s3", endpoint_url=proxy.https_endpoint, region_name="us-east-1", aws_access_key_id=proxy.access_key,
        aws_secret_access_key=proxy.secret_key, verify=proxy.ca_file,
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required"),
    )  # fmt: skip


def load_repository(client, bucket: str, base: str) -> dict[str, int]:
    """The test repository under ``base`` (its hashed shard folders at ``<hash>/<base>/...``) and the
    BIG objects; returns {key: size}."""
    loaded = {}
    for path in sorted(p for p in REPO.rglob("*") if p.is_file()):
        parts = path.relative_to(REPO).parts
        if HASHED.fullmatch(parts[0]) and parts[1] == "indices":
            key = "/".join((parts[0], base, *parts[1:]))
        else:
            key = "/".join((base, *parts))
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        loaded[key] = path.stat().st_size
    for name, size in BIG.items():
        client.put_object(Bucket=bucket, Key=f"{base}/{name}", Body=os.urandom(size))
        loaded[f"{base}/{name}"] = size
    return loaded


def listing(client, bucket: str, base: str) -> dict[str, int]:
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key = item["Key"]
            if not key.endswith("/") and (key.startswith(base + "/") or f"/{base}/" in key):
                found[key] = item["Size"]
    return found


def digest(client, bucket: str, key: str) -> str:
    return hashlib.md5(client.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def store(section: str, endpoint: str, bucket: str, base: str, key: str, secret: str, extra: str = "") -> str:
    return f"\n[{section}]\nendpoint_url = {endpoint}\nbucket = {bucket}\nbase_path = {base}\naccess_key = {key}\n" \
           f"secret_key = {secret}\naddressing_style = path\n{textwrap.dedent(extra)}"  # fmt: skip


def config_text(source_bucket: str, base: str, dest_bucket: str, dest_base: str) -> str:
    """A config for modes that need no cluster (the seed is a closed port)."""
    return textwrap.dedent(f"""
        [aws_s3_config]
        s3_bucket_name = {source_bucket}
        s3_base_path = {base}

        [elasticsearch_config]
        es_repository_name = repo
        es_src_seed1 = http://127.0.0.1:9
        index_names = x

        [destination_repository]
        bucket = {dest_bucket}
        base_path = {dest_base}

        [sync]
        workers = 4
        multipart_threshold = 8MB
        multipart_chunksize = 5MB
        """)


def moto_store(stores, section, base, *, secret=None, token=None):
    key, real_secret, real_token = stores.token_keys
    return store(section, stores.moto.endpoint, stores.moto.bucket, base, key, secret or real_secret,
                 f"session_token = {token or real_token}\n")  # fmt: skip


def proxy_store(stores, section, base, extra="", *, secret=None):
    proxy = stores.proxy_a
    return store(section, proxy.https_endpoint, proxy.bucket, base, proxy.access_key, secret or proxy.secret_key,
                 extra)  # fmt: skip


@pytest.fixture
def source(tls_stores, unique):
    """The repository loaded into moto (with the temporary keys) under ``tls/<unique>``."""
    base = f"tls/{unique}"
    return base, load_repository(moto_client(tls_stores), tls_stores.moto.bucket, base)


def assert_one_line_error(result, code: int, *fragments: str):
    assert result.code == code, result
    assert "Traceback" not in result.err, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines and all(f in lines[-1] for f in fragments), result


def test_sync_over_https_with_a_private_ca_and_temporary_keys_copies_streams_and_parts_then_scrub_reads_it(
    tls_stores, source, cli, write, unique
):
    base, loaded = source
    proxy = tls_stores.proxy_a
    dest_base = f"https/{unique}"
    text = config_text(tls_stores.moto.bucket, base, proxy.bucket, dest_base)
    text += moto_store(tls_stores, "source_store", base)
    text += proxy_store(tls_stores, "destination_store", dest_base, f"ca_bundle = {proxy.ca_file}\n")
    config = write(text)

    started = time.monotonic()
    sync = cli("-m", "sync", "-c", config, "-v")
    took = time.monotonic() - started
    assert sync.code == 0, sync
    assert re.search(rf"^sync: {len(loaded)} objects", sync.out, re.M), sync
    https = proxy_client(tls_stores)
    copied = listing(https, proxy.bucket, dest_base)
    assert sorted(copied.values()) == sorted(loaded.values()) and len(copied) == len(loaded)
    moto = moto_client(tls_stores)
    for name in BIG:  # the streamed PUT and the parts arrived whole over TLS
        assert digest(https, proxy.bucket, f"{dest_base}/{name}") == digest(moto, tls_stores.moto.bucket,
                                                                            f"{base}/{name}")  # fmt: skip
    key, secret, token = tls_stores.token_keys
    for text_out in (sync.out, sync.err):
        assert secret not in text_out and token not in text_out and proxy.secret_key not in text_out
    assert "TLS certificate verification is OFF" not in sync.err
    print(f"sync of {len(loaded)} objects moto -> s3proxy over HTTPS: {took:.1f} s")

    # scrub reads the copy over HTTPS (ranged and whole GETs), every data blob
    scrub = cli("-m", "scrub", "-c", config, "--on", "destination", "--read-data")
    assert scrub.code == 0, scrub
    assert "0 damaged" in scrub.out, scrub

    # back the other way: s3proxy over HTTPS is the source (streamed GETs over TLS), moto the
    # destination; s3proxy checks signatures that cover a session token it does not know about
    back_base = f"back/{unique}"
    text = config_text(proxy.bucket, dest_base, tls_stores.moto.bucket, back_base)
    text += proxy_store(tls_stores, "source_store", dest_base, f"ca_bundle = {proxy.ca_file}\nsession_token = t0k3n\n")
    text += moto_store(tls_stores, "destination_store", back_base)
    back = cli("-m", "sync", "-c", write(text, "back.conf"))
    assert back.code == 0, back

    # inside the s3proxy over HTTPS (same endpoint and keys): CopyObject and UploadPartCopy
    inside_base = f"inside/{unique}"
    text = config_text(proxy.bucket, dest_base, proxy.bucket, inside_base)
    text += proxy_store(tls_stores, "source_store", dest_base, f"ca_bundle = {proxy.ca_file}\n")
    text += proxy_store(tls_stores, "destination_store", inside_base, f"ca_bundle = {proxy.ca_file}\n")
    inside = cli("-m", "sync", "-c", write(text, "inside.conf"), "-v")
    assert inside.code == 0 and "server-side" in inside.out, inside
    assert sorted(listing(https, proxy.bucket, inside_base).values()) == sorted(loaded.values())
    for name in BIG:
        assert digest(https, proxy.bucket, f"{inside_base}/{name}") == digest(
            https, proxy.bucket, f"{dest_base}/{name}"
        )
    assert sorted(listing(moto, tls_stores.moto.bucket, back_base).values()) == sorted(loaded.values())
    for name in BIG:
        assert digest(moto, tls_stores.moto.bucket, f"{back_base}/{name}") == digest(
            https, proxy.bucket, f"{dest_base}/{name}"
        )


def test_verify_false_syncs_over_https_with_one_warning(tls_stores, source, cli, write, unique):
    base, loaded = source
    proxy = tls_stores.proxy_a
    dest_base = f"noverify/{unique}"
    text = config_text(tls_stores.moto.bucket, base, proxy.bucket, dest_base)
    text += moto_store(tls_stores, "source_store", base)
    text += proxy_store(tls_stores, "destination_store", dest_base, "verify = false\n")
    result = cli("-m", "sync", "-c", write(text))
    assert result.code == 0, result
    assert result.err.count("TLS certificate verification is OFF for the destination store") == 1, result
    assert "InsecureRequestWarning" not in result.err, result  # boto3's multipart calls are silenced
    assert len(listing(proxy_client(tls_stores), proxy.bucket, dest_base)) == len(loaded)


def test_an_untrusted_certificate_is_refused_at_once_in_one_line(tls_stores, source, cli, write, unique):
    base, _ = source
    proxy = tls_stores.proxy_a
    text = config_text(tls_stores.moto.bucket, base, proxy.bucket, f"untrusted/{unique}")
    text += moto_store(tls_stores, "source_store", base)
    text += proxy_store(tls_stores, "destination_store", f"untrusted/{unique}")  # system CAs only
    started = time.monotonic()
    result = cli("-m", "sync", "-c", write(text))
    assert_one_line_error(result, 2, "TLS failed with the destination store", "CERTIFICATE_VERIFY_FAILED",
                          "check verify / ca_bundle in [destination_store]")  # fmt: skip
    assert time.monotonic() - started < 10, "a certificate that fails verification is not retried"
    assert listing(proxy_client(tls_stores), proxy.bucket, f"untrusted/{unique}") == {}


def test_wrong_secret_or_token_is_refused_in_one_line_that_shows_no_secret(tls_stores, source, cli, write, unique):
    base, _ = source
    proxy = tls_stores.proxy_a
    key, secret, token = tls_stores.token_keys
    dest = proxy_store(tls_stores, "destination_store", f"refused/{unique}", f"ca_bundle = {proxy.ca_file}\n")
    cases = {
        "moto, wrong secret": (moto_store(tls_stores, "source_store", base, secret="W" * 40) + dest, "source store",
                               "SignatureDoesNotMatch"),
        "moto, wrong token": (moto_store(tls_stores, "source_store", base, token="F" * 300) + dest, "source store",
                              "InvalidToken"),
        "s3proxy, wrong secret": (moto_store(tls_stores, "source_store", base) + proxy_store(
            tls_stores, "destination_store", f"refused/{unique}", f"ca_bundle = {proxy.ca_file}\n", secret="W" * 40
        ), "destination store", "SignatureDoesNotMatch"),
    }  # fmt: skip
    for name, (stores_text, side, code) in cases.items():
        text = config_text(tls_stores.moto.bucket, base, proxy.bucket, f"refused/{unique}") + stores_text
        config = write(text, "refused.conf")
        assert_one_line_error(cli("-m", "sync", "-c", config), 2, f"the {side}", "refused our keys", code)
        verbose = cli("-m", "sync", "-c", config, "-v")  # with its traceback
        assert verbose.code == 2, verbose
        for shown in (verbose.out, verbose.err):
            assert secret not in shown and token not in shown and proxy.secret_key not in shown, name
            assert "W" * 40 not in shown and "F" * 300 not in shown, name
    assert listing(proxy_client(tls_stores), proxy.bucket, f"refused/{unique}") == {}


def virtual_only(bucket: str, tmp_path: Path) -> dict[str, str]:
    """The CLI's environment in which only ``<bucket>.s3.localhost`` resolves (to 127.0.0.1; nothing
    resolves *.localhost on this machine): a path-style request to ``s3.localhost`` cannot connect,
    so a run that works went virtual host style."""
    return loopback_hostnames_env([f"{bucket}.s3.localhost"], tmp_path / "hostmap", base_env={})


def test_virtual_host_addressing_at_a_named_endpoint_is_signed_as_moto_checks_it(
    tls_stores, source, cli, write, unique, tmp_path
):
    """addressing_style = virtual against moto at http://s3.localhost:<port>: requests go to
    <bucket>.s3.localhost, moto takes the bucket from the Host header and checks the signature
    over it and the session token."""
    base, loaded = source
    bucket = tls_stores.moto.bucket
    key, secret, token = tls_stores.token_keys
    dest_base = f"virtual/{unique}"
    text = config_text(bucket, base, bucket, dest_base) + moto_store(tls_stores, "source_store", base)
    text += store("destination_store", f"http://s3.localhost:{tls_stores.moto.port}", bucket, dest_base, key, secret,
                  f"session_token = {token}\n").replace("addressing_style = path", "addressing_style = virtual")  # fmt: skip
    result = cli("-m", "sync", "-c", write(text), env=virtual_only(bucket, tmp_path))
    assert result.code == 0, result
    moto = moto_client(tls_stores)
    assert sorted(listing(moto, bucket, dest_base).values()) == sorted(loaded.values())
    for name in BIG:
        assert digest(moto, bucket, f"{dest_base}/{name}") == digest(moto, bucket, f"{base}/{name}")
    # the same store with path style cannot even connect: the run above was virtual host style
    path_style = cli("-m", "sync", "-c", write(text.replace("addressing_style = virtual", "addressing_style = path"),
                     "path.conf"), env=virtual_only(bucket, tmp_path))  # fmt: skip
    assert_one_line_error(path_style, 2, "cannot reach the destination store")


def test_virtual_host_addressing_over_https_at_a_named_endpoint_copies_and_scrubs(
    tls_stores, named_proxy, source, cli, write, unique, tmp_path
):
    """As on AWS over HTTPS: requests go to https://<bucket>.s3.localhost:<port>, whose name the
    certificate must match (*.s3.localhost), s3proxy takes the bucket from the Host header and
    checks the signature over it."""
    base, loaded = source
    bucket = named_proxy.bucket
    env = virtual_only(bucket, tmp_path)
    dest_base = f"vhttps/{unique}"
    text = config_text(tls_stores.moto.bucket, base, bucket, dest_base)
    text += moto_store(tls_stores, "source_store", base)
    text += store("destination_store", f"https://s3.localhost:{named_proxy.https_port}", bucket, dest_base,
                  named_proxy.access_key, named_proxy.secret_key, f"ca_bundle = {named_proxy.ca_file}\n"
                  ).replace("addressing_style = path", "addressing_style = virtual")  # fmt: skip
    config = write(text)
    result = cli("-m", "sync", "-c", config, env=env)
    assert result.code == 0, result
    folder = named_proxy.dir / "data" / bucket  # the filesystem backend: one file per object
    on_disk = {
        str(path.relative_to(folder)): path.stat().st_size
        for path in folder.rglob("*")
        if path.is_file()
        and (str(path.relative_to(folder)).startswith(dest_base + "/") or f"/{dest_base}/" in str(path))
    }
    assert sorted(on_disk.values()) == sorted(loaded.values())
    moto = moto_client(tls_stores)
    for name in BIG:
        copy = hashlib.md5((folder / dest_base / name).read_bytes()).hexdigest()
        assert copy == digest(moto, tls_stores.moto.bucket, f"{base}/{name}")
    scrub = cli("-m", "scrub", "-c", config, "--on", "destination", "--read-data", env=env)
    assert scrub.code == 0 and "0 damaged" in scrub.out, scrub


def test_temporary_keys_from_boto3s_chain_sync_and_never_show_even_at_vv(tls_stores, source, cli, write, unique):
    """No keys in the file for moto: boto3's chain finds AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
    AWS_SESSION_TOKEN (as from an instance role or a profile; the redactor does not know them by
    value), both clients sign with them, and -vv (botocore's debug log too) shows neither the
    token nor the secret nor the key id."""
    base, loaded = source
    proxy = tls_stores.proxy_a
    key, secret, token = tls_stores.token_keys
    https_base, back_base = f"chain/{unique}", f"chainback/{unique}"
    env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}
    env["HOME"] = "/nonexistent"  # no profile of this machine's user
    chain = (
        f"\n[{{}}]\nendpoint_url = {tls_stores.moto.endpoint}\nbucket = {tls_stores.moto.bucket}\nregion = us-east-1\n"
    )
    # moto -> s3proxy, then back into moto (whose multipart control may go through boto3)
    text = config_text(tls_stores.moto.bucket, base, proxy.bucket, https_base)
    text += chain.format("source_store") + f"base_path = {base}\naddressing_style = path\n"
    text += proxy_store(tls_stores, "destination_store", https_base, f"ca_bundle = {proxy.ca_file}\n")
    back = config_text(proxy.bucket, https_base, tls_stores.moto.bucket, back_base)
    back += proxy_store(tls_stores, "source_store", https_base, f"ca_bundle = {proxy.ca_file}\n")
    back += chain.format("destination_store") + f"base_path = {back_base}\naddressing_style = path\n"
    for config in (write(text), write(back, "back.conf")):
        result = cli("-m", "sync", "-c", config, "-vv", env=env)
        assert result.code == 0, result
        assert "DEBUG" in result.err and "botocore" in result.err
        for shown in (result.out, result.err):
            assert token not in shown and secret not in shown and key not in shown
    assert sorted(listing(moto_client(tls_stores), tls_stores.moto.bucket, back_base).values()) == sorted(
        loaded.values()
    )


def test_the_environments_http_proxy_carries_every_request_tls_end_to_end(tls_stores, source, cli, write, unique):
    """HTTPS_PROXY / HTTP_PROXY (as boto3 reads them): the lean client tunnels through the proxy
    with CONNECT, the certificate is still checked against ca_bundle."""
    base, loaded = source
    proxy = tls_stores.proxy_a
    dest_base = f"proxied/{unique}"
    text = config_text(tls_stores.moto.bucket, base, proxy.bucket, dest_base)
    text += moto_store(tls_stores, "source_store", base)
    text += proxy_store(tls_stores, "destination_store", dest_base, f"ca_bundle = {proxy.ca_file}\n")
    with HttpProxy() as forward:
        env = {"HTTPS_PROXY": forward.url, "HTTP_PROXY": forward.url}
        result = cli("-m", "sync", "-c", write(text), env=env)
        assert result.code == 0, result
        forward.wait_for_connections(2)
        targets = set(forward.targets)
    assert f"127.0.0.1:{proxy.https_port}" in targets and f"127.0.0.1:{tls_stores.moto.port}" in targets, targets
    assert len(listing(proxy_client(tls_stores), proxy.bucket, dest_base)) == len(loaded)
