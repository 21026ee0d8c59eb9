import logging
import os
import shutil

import pytest

from es_s3_snapshot import config as config_module
from es_s3_snapshot.config import KEYS, Overrides, find_config, load, parse_seed, require_seeds
from es_s3_snapshot.errors import ConfigError

HERE = os.path.dirname(__file__)
ORIGINAL_SAMPLE = os.path.join(HERE, "data", "original-es-s3-snapshot.conf.SAMPLE")
OUR_SAMPLE = os.path.join(HERE, "..", "..", "es-s3-snapshot.conf.SAMPLE")


def test_original_sample_loads_verbatim_with_comment_stripped():
    config = load(ORIGINAL_SAMPLE, environ={})
    assert config.repository.name == "my_es_snapshots"
    assert config.repository.bucket == "my-s3-devops-bucket"
    assert config.repository.base_path == "elasticsearch-backups"  # the trailing comment is not part of it
    assert config.source.seeds == ("http://10.40.11.180:9200",)
    assert config.destination.seeds == (
        "http://10.40.101.198:9200",
        "http://10.40.101.224:9200",
        "http://10.40.101.55:9200",
    )
    assert config.snapshot.indices == ("my_index1", "my_index2", "my_index_3")
    assert config.snapshot.name == "snapshot_test_1"
    assert config.restore.snapshot == "snapshot_test_1"
    assert config.s3_keys_in_file is True
    assert config.source.auth == "none"
    assert "OIAAAAABBBBBCCCCCDDDDDEEEE" in config.secrets


def test_original_sample_keys_are_not_sent_anywhere_but_remembered_as_secret():
    config = load(ORIGINAL_SAMPLE, environ={})
    assert "OIAAAAABBBBBCCCCCDDDDDEEEE" not in repr(config)


def test_our_sample_loads_without_warnings(caplog):
    with caplog.at_level(logging.WARNING):
        config = load(OUR_SAMPLE, environ={})
    assert caplog.records == []
    assert config.repository.name == "my_es_snapshots"
    assert config.restore.snapshot == "latest"


def test_our_sample_documents_every_key():
    text = open(OUR_SAMPLE).read()
    for section, keys in KEYS.items():
        assert f"[{section}]" in text, section
        for key in keys:
            assert f"{key} =" in text, f"[{section}] {key} is not documented in the SAMPLE"


def test_seeds_are_ordered_by_number_for_any_n(load_config):
    config = load_config("es_src_seed10 = h10:9200\nes_src_seed2 = https://h2:9243\n")
    assert config.source.seeds == ("http://127.0.0.1:19200", "https://h2:9243", "http://h10:9200")


@pytest.mark.parametrize(
    "raw,url",
    [
        ("10.0.0.1:9200", "http://10.0.0.1:9200"),
        ("host", "http://host:9200"),
        ("https://host", "https://host:443"),
        ("https://host:9243/prefix/", "https://host:9243/prefix"),
        ("[::1]:9200", "http://[::1]:9200"),
    ],
)
def test_parse_seed(raw, url):
    assert parse_seed(raw) == url


@pytest.mark.parametrize(
    "raw,words",
    [
        ("ftp://host:21", r"an http\(s\) URL"),
        ("https://user:pw@host:9200", "must not hold credentials"),
        ("host:notaport", "bad port"),
    ],
)
def test_parse_seed_rejects(raw, words):
    with pytest.raises(ValueError, match=words):
        parse_seed(raw)


def test_bad_seed_names_file_section_and_key(load_config):
    with pytest.raises(ConfigError) as err:
        load_config("es_dest_seed2 = ftp://x:1\n")
    assert "test.conf: [elasticsearch_config] es_dest_seed2 must be host:port" in str(err.value)


def test_missing_repository_name_names_the_key(load_config):
    base = "[aws_s3_config]\ns3_bucket_name = b\n[elasticsearch_config]\nindex_names = a\n"
    with pytest.raises(ConfigError, match=r"\[elasticsearch_config\] es_repository_name is missing"):
        load_config(base=base)


def test_missing_bucket_for_s3(load_config):
    base = "[elasticsearch_config]\nes_repository_name = r\nindex_names = a\n"
    with pytest.raises(ConfigError, match=r"\[aws_s3_config\] s3_bucket_name is missing"):
        load_config(base=base)


def test_fs_repository_needs_location_not_bucket(load_config):
    base = "[elasticsearch_config]\nes_repository_name = r\nindex_names = a\n[repository]\ntype = fs\n"
    with pytest.raises(ConfigError, match=r"\[repository\] location is missing"):
        load_config(base=base)
    config = load_config(base=base + "location = /mnt/b\n")
    assert config.repository.type == "fs" and config.repository.location == "/mnt/b"


def test_missing_index_names(load_config):
    base = "[aws_s3_config]\ns3_bucket_name = b\n[elasticsearch_config]\nes_repository_name = r\n"
    with pytest.raises(ConfigError, match=r"\[elasticsearch_config\] index_names is missing"):
        load_config(base=base)
    assert load_config(base=base, overrides=Overrides(indices=("x",))).snapshot.indices == ("x",)


def test_missing_section(load_config):
    with pytest.raises(ConfigError, match=r"section \[elasticsearch_config\] is missing"):
        load_config(base="[aws_s3_config]\ns3_bucket_name = b\n")


@pytest.mark.parametrize(
    "extra,words",
    [
        ("[snapshot]\npartial = maybe\n", r"\[snapshot\] partial must be true or false, not 'maybe'"),
        ("[wait]\nmax_wait = -1\n", r"\[wait\] max_wait must be more than 0 and at most 2592000 seconds \(30 days\), not '-1'"),
        ("[wait]\npoll_interval = soon\n", r"\[wait\] poll_interval must be a number of seconds"),
        ("[source]\nauth = kerberos\n", r"\[source\] auth must be one of none, basic, api_key, sigv4"),
        ("[restore]\nindex_settings = {bad\n", r"\[restore\] index_settings must be a JSON object"),
        ("[restore]\nindex_settings = [1]\n", r"\[restore\] index_settings must be a JSON object"),
        ("[restore]\nexisting_indices = overwrite\n", r"\[restore\] existing_indices must be one of refuse, close"),
        ("[restore]\nexisting_indices = rename\n", r"\[restore\] rename_pattern is missing"),
        (
            "[restore]\nrename_pattern = (.+\nrename_replacement = x\n",
            r"\[restore\] rename_pattern is not a valid regular expression",
        ),
        ("[source]\nca_certs = /nonexistent/ca.pem\n", r"\[source\] ca_certs names a file that does not exist"),
        ("[source]\nproxy = 127.0.0.1:1080\n", r"\[source\] proxy must be a URL"),
        ("[repository]\ntype = hdfs\n", r"\[repository\] type must be one of s3, fs"),
    ],
)
def test_malformed_values_name_file_section_and_key(load_config, extra, words):
    with pytest.raises(ConfigError, match=r"test\.conf: " + words):
        load_config(extra)


@pytest.mark.parametrize(
    "extra,missing,given",
    [
        ("[source]\nusername = u\n", "password", "username"),
        ("[destination]\npassword = p\n", "username", "password"),
        ("[source]\naws_access_key = AKIA\n", "aws_secret_key", "aws_access_key"),
        ("[aws_api_keys]\naws_secret_key = s\n", "aws_access_key", "aws_secret_key"),
        ("[elastic_cloud]\nshield_auth_username = u\n", "shield_auth_password", "shield_auth_username"),
        ("[restore]\nrename_pattern = (.+)\n", "rename_replacement", "rename_pattern"),
    ],
)
def test_paired_settings_come_together(load_config, extra, missing, given):
    with pytest.raises(ConfigError, match=f"{missing} is missing: it goes together with {given}"):
        load_config(extra)


def test_basic_auth_needs_username(load_config):
    with pytest.raises(ConfigError, match=r"\[source\] username is missing \(auth = basic"):
        load_config("[source]\nauth = basic\n")


def test_api_key_auth_needs_a_key(load_config):
    with pytest.raises(ConfigError, match=r"\[destination\] api_key is missing"):
        load_config("[destination]\nauth = api_key\n")


def test_secrets_from_environment(load_config):
    config = load_config(
        "[source]\nusername = u\npassword_env = SRC_PW\n[destination]\napi_key_env = DEST_KEY\n",
        environ={"SRC_PW": "pw-from-env", "DEST_KEY": "kid:key-from-env"},
    )
    assert config.source.auth == "basic" and config.source.password == "pw-from-env"
    assert config.destination.auth == "api_key" and config.destination.api_key == "kid:key-from-env"
    assert {"pw-from-env", "kid:key-from-env"} <= set(config.secrets)


def test_secret_env_variable_not_set(load_config):
    with pytest.raises(
        ConfigError, match=r"\[source\] password_env names the environment variable NOPE, which is not set"
    ):
        load_config("[source]\nusername = u\npassword_env = NOPE\n")


def test_elastic_cloud_credentials_apply_to_both_sides(load_config):
    config = load_config("[elastic_cloud]\nshield_auth_username = elastic\nshield_auth_password = s3cret\n")
    assert config.source.auth == config.destination.auth == "basic"
    assert config.destination.username == "elastic" and config.destination.password == "s3cret"


def test_sigv4_takes_keys_from_aws_api_keys(load_config):
    config = load_config("[aws_api_keys]\naws_access_key = AKIA1\naws_secret_key = sec\n[source]\nauth = sigv4\n")
    assert config.source.aws_access_key == "AKIA1" and config.source.aws_secret_key == "sec"
    assert config.destination.aws_access_key is None


def test_unknown_key_and_section_warn_with_closest_name(load_config, caplog):
    with caplog.at_level(logging.WARNING):
        load_config("[snapshot]\ninclude_global_stat = true\n[restor]\nx = 1\n")
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "unknown key include_global_stat in [snapshot] is ignored (did you mean include_global_state?)" in m
        for m in messages
    )
    assert any("unknown section [restor] is ignored (did you mean [restore]?)" in m for m in messages)


def test_inline_comments_and_percent_signs(load_config):
    config = load_config(
        "[restore]\nrename_replacement = restored-$1   # a comment\nrename_pattern = (.+)\n", base=BASE_WITH_PATTERN
    )
    assert config.restore.rename_replacement == "restored-$1"
    assert config.snapshot.name == "nightly-%Y.%m.%d"


BASE_WITH_PATTERN = """
[aws_s3_config]
s3_bucket_name = backups
[elasticsearch_config]
es_repository_name = repo1
es_src_seed1 = 127.0.0.1:19200
index_names = a
snapshot_name = nightly-%Y.%m.%d  ; comment
"""


def test_default_snapshot_names(load_config):
    config = load_config()
    assert config.snapshot.name == config_module.DEFAULT_SNAPSHOT_NAME
    assert config.restore.snapshot == "latest"
    assert load_config(overrides=Overrides(snapshot="s1")).restore.snapshot == "s1"


def test_duplicate_key_is_a_config_error(load_config):
    with pytest.raises(ConfigError, match="not a valid INI file"):
        load_config("[wait]\nmax_wait = 1\nmax_wait = 2\n")


def test_require_seeds_names_the_missing_key(load_config):
    base = "[aws_s3_config]\ns3_bucket_name = b\n[elasticsearch_config]\nes_repository_name = r\nindex_names = a\nes_src_seed1 = h:1\n"
    config = load_config(base=base)
    assert require_seeds(config, "source", "backup").seeds == ("http://h:1",)
    with pytest.raises(
        ConfigError, match=r"\[elasticsearch_config\] es_dest_seed1 is missing \(restore runs against the destination"
    ):
        require_seeds(config, "destination", "restore")


def test_find_config_order_and_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        find_config(None, {"ES_S3_SNAPSHOT_CONFIG": str(tmp_path / "nope.conf")})
    assert "looked at: $ES_S3_SNAPSHOT_CONFIG=" in str(err.value)
    assert "./es-s3-snapshot.conf, /etc/es-s3-snapshot.conf" in str(err.value)
    shutil.copy(ORIGINAL_SAMPLE, tmp_path / "es-s3-snapshot.conf")
    assert find_config(None, {}) == "./es-s3-snapshot.conf"
    env_file = tmp_path / "env.conf"
    env_file.write_text("")
    assert find_config(None, {"ES_S3_SNAPSHOT_CONFIG": str(env_file)}) == str(env_file)
    with pytest.raises(ConfigError, match="config file not found: missing.conf"):
        find_config("missing.conf", {})


def test_repeated_seed_is_used_once_with_a_warning(load_config, caplog):
    with caplog.at_level(logging.WARNING):
        config = load_config("es_dest_seed2 = 127.0.0.1:19201\n")
    assert config.destination.seeds == ("http://127.0.0.1:19201",)
    assert any("es_dest_seed2 repeats es_dest_seed1" in r.getMessage() for r in caplog.records)
