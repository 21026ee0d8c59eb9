import base64
import logging
import os
import re
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
        (
            "[wait]\nmax_wait = -1\n",
            r"\[wait\] max_wait must be more than 0 and at most 2592000 seconds \(30 days\), not '-1'",
        ),
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


# --- issue 7: input that must be refused with exit 3 (ConfigError), never a traceback --------------

import codecs  # noqa: E402
import random  # noqa: E402
import textwrap  # noqa: E402

from es_s3_snapshot.config import SideNotLoaded  # noqa: E402
from tests.unit.conftest import BASE  # noqa: E402


def write_bytes(tmp_path, data: bytes, mode: int = 0o600) -> str:
    path = tmp_path / "raw.conf"
    path.write_bytes(data)
    path.chmod(mode)
    return str(path)


@pytest.mark.parametrize(
    "data,words",
    [
        (codecs.BOM_UTF16_LE + BASE.encode("utf-16-le"), "is not UTF-8 text (it looks like UTF-16): save it as UTF-8"),
        (codecs.BOM_UTF16_BE + BASE.encode("utf-16-be"), "is not UTF-8 text (it looks like UTF-16)"),
        (BASE.encode("utf-16-le"), "is not UTF-8 text (it looks like UTF-16)"),
        (b"\xff\xfe", "is not UTF-8 text (it looks like UTF-16)"),
        (
            BASE.encode() + "[snapshot]\n# café\n".encode("latin-1"),
            "is not UTF-8 text (byte 0xe9 at offset 218, line 12)",
        ),
        (b"\xff\x00\x13\x9c binary", "is not UTF-8 text (byte 0xff at offset 0, line 1)"),
        (BASE.encode() + b"[wait]\nmax_wait = 1\x00\n", "holds the control character 0x00 on line 12"),
        (BASE.encode() + b"[wait]\x1b\n", "holds the control character 0x1b on line 11"),
        (b"# " + b"x" * (1 << 20), "is larger than 1024 KiB: not a config file"),
    ],
)
def test_config_that_is_not_utf8_text_is_refused_naming_the_file_and_the_byte(tmp_path, data, words):
    path = write_bytes(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load(path, environ={})
    assert str(err.value).startswith(f"{path}: {words}")


def test_utf8_bom_and_crlf_line_ends_are_accepted(tmp_path):
    path = write_bytes(tmp_path, codecs.BOM_UTF8 + BASE.replace("\n", "\r\n").encode())
    config = load(path, environ={})
    assert config.repository.bucket == "backups" and config.snapshot.indices == ("logs-a", "logs-b")


@pytest.mark.parametrize(
    "text,words",
    [
        ("password = hunter22\n" + BASE, "not a valid INI file: line 1: a key before the first [section]"),
        (
            BASE + "[wait]\nhunter22 sits here\n",
            "not a valid INI file: line 12: neither [section], key = value nor a comment",
        ),
        (BASE + "[wait]\n[wait]\n", "not a valid INI file: line 12: section [wait] appears twice"),
        (BASE + "[wait]\nmax_wait = 1\nmax_wait = 2\n", "not a valid INI file: line 13: [wait] max_wait is set twice"),
    ],
)
def test_ini_syntax_errors_name_the_line_and_never_quote_it(tmp_path, text, words):
    with pytest.raises(ConfigError) as err:
        load(write_bytes(tmp_path, text.encode()), environ={})
    assert str(err.value).endswith(words)
    assert "hunter22" not in str(err.value)


@pytest.mark.parametrize(
    "extra,words",
    [
        ("index_names = Logs\n", "[elasticsearch_config] index_names 'Logs' must be lowercase"),
        ("index_names = -b*,a\n", "index_names '-b*' must not start with '-' (an exclusion -pattern must follow"),
        ("index_names = a*,-B\n", "index_names 'B' must be lowercase (in the exclusion '-B')"),
        ("index_names = a*,--b\n", "index_names '-b' must not start with '-'"),
        ("index_names = _a\n", "index_names '_a' must not start with '_'"),
        ("index_names = +a\n", "index_names '+a' must not start with '+'"),
        ("index_names = a:b\n", "index_names 'a:b' must not contain ':'"),
        ("index_names = ..\n", "index_names '..' is not an index name"),
        ("index_names = a\x01b\n", "holds the control character 0x01"),
        ("index_names = " + "x" * 256 + "\n", "is longer than 255 bytes"),
        ("snapshot_name = snap-%\n", "[elasticsearch_config] snapshot_name 'snap-%' ends with a lone %"),
        ("snapshot_name = snap-%Q\n", "snapshot_name 'snap-%Q' has %Q, which is not one of"),
        ("snapshot_name = _snap\n", "snapshot_name '_snap' must not start with '_'"),
        ("[restore]\nsnapshot = Nightly\n", "[restore] snapshot 'Nightly' must be lowercase"),
    ],
)
def test_names_engines_refuse_are_refused_at_load(load_config, extra, words):
    base = BASE.replace("index_names = logs-a,logs-b\n", "") if "index_names" in extra else BASE
    with pytest.raises(ConfigError) as err:
        load_config(extra, base=base if not extra.startswith("[") else BASE)
    assert "test.conf: " in str(err.value) and words in str(err.value)


def test_control_characters_in_names_come_from_multiline_values(load_config):
    base = BASE.replace("index_names = logs-a,logs-b\n", "index_names = logs-a\n  logs-b\n")
    with pytest.raises(ConfigError, match=r"index_names 'logs-a\\nlogs-b' holds the control character 0x0a"):
        load_config(base=base)


def test_restore_snapshot_latest_and_patterns_pass(load_config):
    assert load_config("[restore]\nsnapshot = latest\n").restore.snapshot == "latest"
    assert load_config("[restore]\nsnapshot = nightly-%Y.%m.%d\n").restore.snapshot == "nightly-%Y.%m.%d"


@pytest.mark.parametrize(
    "overrides,words",
    [
        (Overrides(indices=("ok", "Bad")), "--indices 'Bad' must be lowercase"),
        (Overrides(snapshot="snap-%"), "--snapshot 'snap-%' ends with a lone %"),
        (Overrides(snapshot="a b"), "--snapshot 'a b' must not contain ' '"),
    ],
)
def test_command_line_names_follow_the_same_rules(load_config, overrides, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_config(overrides=overrides)
    assert load_config(overrides=Overrides(snapshot="latest")).restore.snapshot == "latest"


SECONDS_KEYS = [
    ("wait", "poll_interval", "3600 seconds (1 hour)", 3600),
    ("wait", "max_wait", "2592000 seconds (30 days)", 2592000),
    ("wait", "progress_interval", "86400 seconds (1 day)", 86400),
    ("source", "request_timeout", "86400 seconds (1 day)", 86400),
    ("snapshot", "concurrent_wait", "2592000 seconds (30 days)", 2592000),
]


@pytest.mark.parametrize("section,key,bound,limit", SECONDS_KEYS)
@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e400", "-1", "0", "0.0", "-0"])
def test_seconds_must_be_finite_and_in_range(load_config, section, key, bound, limit, raw):
    with pytest.raises(ConfigError) as err:
        load_config(f"[{section}]\n{key} = {raw}\n")
    assert str(err.value).endswith(f"[{section}] {key} must be more than 0 and at most {bound}, not {raw!r}")


@pytest.mark.parametrize("section,key,bound,limit", SECONDS_KEYS)
def test_seconds_at_the_bound_pass_and_above_it_are_refused(load_config, section, key, bound, limit):
    config = load_config(f"[{section}]\n{key} = {limit}\n")
    holder = {"wait": config.wait, "source": config.source, "snapshot": config.snapshot}[section]
    assert getattr(holder, key) == limit
    with pytest.raises(ConfigError, match=re.escape(f"at most {bound}, not '{limit + 1}'")):
        load_config(f"[{section}]\n{key} = {limit + 1}\n")


def test_seconds_that_are_not_numbers_say_the_range(load_config):
    with pytest.raises(ConfigError, match=r"poll_interval must be a number of seconds, more than 0 and at most 3600"):
        load_config("[wait]\npoll_interval = soon\n")


ENCODED_KEY = base64.b64encode(b"VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw").decode()


@pytest.mark.parametrize("key", [ENCODED_KEY, "VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw", "id:clé"])
def test_api_key_encoded_or_id_colon_key_passes(load_config, key):
    assert load_config(f"[source]\napi_key = {key}\n").source.api_key == key


@pytest.mark.parametrize(
    "key,words",
    [
        ("not-base64-NOR-PAIR", "it is neither base64 nor holds a ':'"),
        (base64.b64encode(b"no colon inside").decode(), "it is base64 but does not decode to id:api_key"),
        ("keyid:", "id or key is empty"),
        (":secretkey", "id or key is empty"),
        ("id:k€y", "in ASCII (it holds characters an HTTP header cannot carry)"),
        ("id:k\u0151y", "in ASCII"),
    ],
)
def test_api_key_of_another_shape_is_refused_without_printing_it(load_config, key, words):
    with pytest.raises(ConfigError) as err:
        load_config(f"[destination]\napi_key = {key}\n")
    message = str(err.value)
    assert '[destination] api_key must be the base64 "encoded" API key or id:api_key' in message
    assert words in message and key not in message


def test_api_key_from_the_environment_is_checked_naming_the_variable_only(load_config):
    with pytest.raises(ConfigError) as err:
        load_config("[source]\napi_key_env = SRC_KEY\n", environ={"SRC_KEY": "garbage-value-\u20ac"})
    message = str(err.value)
    assert "[source] api_key_env names the environment variable SRC_KEY, whose value must be the base64" in message
    assert "garbage-value" not in message


@pytest.mark.parametrize(
    "extra,shown",
    [
        ("es_src_seed2 = ftp://user:PASSWORD@host\n", "'ftp://user:***@host'"),
        ("es_src_seed2 = http://user:PASSWORD@host:notaport\n", "must not hold credentials"),
        ("[source]\nproxy = socks4://user:PASSWORD@host:1080\n", "'socks4://user:***@host:1080'"),
        ("[source]\nproxy = socks5://user:PASS@WORD@:1080\n", "'socks5://user:***@:1080'"),
    ],
)
def test_urls_in_config_errors_have_their_password_masked(load_config, extra, shown):
    with pytest.raises(ConfigError) as err:
        load_config(extra)
    assert shown in str(err.value)
    assert "PASSWORD" not in str(err.value) and "WORD" not in str(err.value)


def test_a_secret_read_earlier_is_masked_in_a_later_error(load_config):
    with pytest.raises(ConfigError) as err:
        load_config("[source]\nusername = u\npassword = Sekr3tValue\nca_certs = /nope/Sekr3tValue.pem\n")
    assert "Sekr3tValue" not in str(err.value) and "names a file that does not exist" in str(err.value)


# --- sides are independent -------------------------------------------------------------------------

TWO_SIDES = (
    "[source]\nusername = u\npassword_env = SRC_PW\nca_certs = /nope/src-ca.pem\n"
    "[destination]\napi_key_env = DEST_KEY\nca_certs = /nope/dest-ca.pem\naws_access_key = AKIA-half-a-pair\n"
)


def test_restore_loads_without_the_source_secrets_and_never_uses_that_side(write_config):
    path = write_config(TWO_SIDES.replace("ca_certs = /nope/dest-ca.pem\naws_access_key = AKIA-half-a-pair\n", ""))
    config = load(path, environ={"DEST_KEY": "kid:dest-key"}, sides=("destination",))
    assert config.destination.api_key == "kid:dest-key" and config.destination.auth == "api_key"
    with pytest.raises(SideNotLoaded, match="bug: the source side's settings were not loaded for this run"):
        _ = config.source.password
    with pytest.raises(SideNotLoaded):
        require_seeds(config, "source", "backup")
    assert "UnloadedSide(name='source')" in repr(config)


def test_backup_loads_without_the_destination_secrets(write_config):
    config = load(
        write_config(TWO_SIDES.replace("ca_certs = /nope/src-ca.pem\n", "")),
        environ={"SRC_PW": "pw"},
        sides=("source",),
    )
    assert config.source.password == "pw"
    with pytest.raises(SideNotLoaded):
        _ = config.destination.api_key


def test_both_sides_need_both_sides_secrets(write_config):
    with pytest.raises(ConfigError, match=r"\[source\] password_env names the environment variable SRC_PW"):
        load(write_config(TWO_SIDES), environ={"DEST_KEY": "kid:k"})


@pytest.mark.parametrize(
    "extra,words",
    [
        ("[source]\nrequest_timeout = nan\n", "[source] request_timeout must be more than 0"),
        ("[source]\nauth = kerberos\n", "[source] auth must be one of"),
        ("[source]\napi_key = not-a-key\n", "[source] api_key must be the base64"),
        ("es_src_seed2 = ftp://h\n", "es_src_seed2 must be host:port"),
        ("[elastic_cloud]\nshield_auth_username =\n", "[elastic_cloud] shield_auth_username is empty"),
    ],
)
def test_the_other_sides_keys_are_still_checked(load_config, write_config, extra, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        load(write_config(extra), environ={}, sides=("destination",))


def test_the_other_sides_secrets_in_the_file_are_still_redacted(write_config):
    config = load(write_config("[source]\nusername = u\npassword = src-secret\n"), environ={}, sides=("destination",))
    assert "src-secret" in config.secrets


def test_unknown_sides_are_a_bug(write_config):
    with pytest.raises(ValueError):
        load(write_config(), environ={}, sides=("sauce",))


# --- permissions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        "[source]\nusername = u\npassword = pw\n",
        "[destination]\napi_key = kid:key\n",
        "[source]\naws_access_key = A\naws_secret_key = S\naws_session_token = T\n",
        "[aws_api_keys]\naws_access_key = A\naws_secret_key = S\n",
        "[elastic_cloud]\nshield_auth_username = u\nshield_auth_password = pw\n",
    ],
)
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_file_holding_secrets_readable_by_others_gets_one_warning(write_config, caplog, extra, mode):
    path = write_config(extra)
    os.chmod(path, mode)
    with caplog.at_level(logging.WARNING):
        load(path, environ={})
    warnings = [r.getMessage() for r in caplog.records if "holds secrets" in r.getMessage()]
    assert warnings == [f"{path} is readable by group or others (mode {mode:04o}) and holds secrets: chmod 600 {path}"]


@pytest.mark.parametrize(
    "extra,mode",
    [
        ("[source]\nusername = u\npassword = pw\n", 0o600),
        ("[source]\nusername = u\npassword = pw\n", 0o400),
        ("[source]\nusername = u\npassword_env = PW\n", 0o644),
        ("[destination]\napi_key_env = KEY\n", 0o644),
        ("", 0o644),
    ],
)
def test_no_warning_for_a_private_file_or_one_without_secrets(write_config, caplog, extra, mode):
    path = write_config(extra)
    os.chmod(path, mode)
    with caplog.at_level(logging.WARNING):
        load(path, environ={"PW": "x", "KEY": "kid:key"})
    assert not [r for r in caplog.records if "holds secrets" in r.getMessage()]


# --- exit 4 never comes from input: a small fuzz corpus ------------------------------------------------


def fuzz_corpus():
    base = textwrap.dedent(BASE).encode()
    full = base + b"[source]\nusername = u\npassword = pw\n[wait]\nmax_wait = 60\n[restore]\nsnapshot = latest\n"
    yield from (full[:n] for n in range(0, len(full), 7))  # truncated anywhere
    yield from (full.replace(b"\n", b"\n" + junk + b"\n", 1 + n % 9) for n, junk in enumerate(JUNK_LINES))
    for key in (b"index_names", b"snapshot_name", b"es_src_seed1", b"es_repository_name"):
        for value in JUNK_VALUES:
            yield (
                base.replace(key + b" = ", key + b" = " + value + b" #", 1)
                if key in base
                else base + key + b" = " + value
            )
    yield full.decode().encode("utf-16")
    yield full.decode().encode("utf-32")
    yield full.decode().encode("utf-16-be")
    yield full + "[snapshot]\n# Größe\n".encode("latin-1")
    yield base + b"[wait]\nmax_wait = " + b"9" * 500_000 + b"\n"
    yield base + b"[restore]\nindex_settings = " + b"[" * 100_000 + b"\n"
    yield base + b"[restore]\nrename_pattern = " + b"(" * 5000 + b"\nrename_replacement = x\n"
    rng = random.Random(7)
    for _ in range(200):
        data = bytearray(full)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        yield bytes(data)
    yield bytes(rng.randrange(256) for _ in range(2000))


JUNK_LINES = [
    b"[wait]\n[wait]",
    b"[elasticsearch_config]",
    b"index_names = x",
    b"keywithoutvalue",
    b"= novalue",
    b"[",
    b"[]",
    b"[ ]",
    b"[source",
    b"  indented = continuation",
    b"\x00",
    b"\xff\xfe",
    b"\xc3",
    b"\xed\xa0\x80",
    b"%",
    b"k = %(x)s",
    b"[DEFAULT]\nauth = basic",
    b"[source]\nauth = sigv4\naws_access_key = a",
    b"[restore]\nexisting_indices = rename",
    b"\x1b[31m",
    b"\xe2\x80\xa8",
    b"\xc2\x85",
    b"\t",
    b"\x0c",
]
JUNK_VALUES = [
    b"",
    b" ",
    b",",
    b",,,",
    b"%",
    b"%%",
    b"%Y%",
    b"a" * 300,
    b"\xc3\xa9",
    b"A*",
    b"*?",
    b"-",
    b"_",
    b"..",
    b"a:b",
    b"ftp://u:p@h",
    b"http://[::1",
    b"http://h:99999",
    b"http://h:-1",
    b"\\",
    b'"',
    b"\x7f",
    b"\xe2\x80\x8b",
]


def test_fuzzed_config_files_give_config_errors_never_another_exception(tmp_path):
    count = 0
    for data in fuzz_corpus():
        path = write_bytes(tmp_path, data)
        for sides in (("source",), ("destination",), ("source", "destination")):
            try:
                load(path, environ={}, sides=sides)
            except ConfigError as err:
                assert "\n" not in str(err) and "Traceback" not in str(err), str(err)
            count += 1
    assert count > 900


def test_a_url_given_as_a_name_on_the_command_line_is_masked(load_config):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=Overrides(indices=("ftp://u:Secr3t@h",)))
    assert "Secr3t" not in str(err.value) and "ftp://u:***@h" in str(err.value)


def test_exclusions_after_a_pattern_are_taken(load_config):
    base = BASE.replace("index_names = logs-a,logs-b\n", "index_names = logs-*,-logs-debug-*\n")
    assert load_config(base=base).snapshot.indices == ("logs-*", "-logs-debug-*")


# --- a store's timeouts ([source_store] / [destination_store] connect_timeout, read_timeout) --------


def test_store_timeouts_default_to_10_and_120_seconds_and_parse_per_store(load_config):
    config = load_config("[source_store]\n[destination_store]\nconnect_timeout = 2.5\nread_timeout = 30\n")
    assert (config.store("source").connect_timeout, config.store("source").read_timeout) == (10.0, 120.0)
    assert (config.store("destination").connect_timeout, config.store("destination").read_timeout) == (2.5, 30.0)


def test_a_stores_outage_wait_defaults_to_60_seconds_and_parses_per_store(load_config):
    config = load_config("[source_store]\n[destination_store]\noutage_wait = 300\n")
    assert (config.store("source").outage_wait, config.store("destination").outage_wait) == (60.0, 300.0)


@pytest.mark.parametrize(
    "extra,words",
    [
        ("[source_store]\nconnect_timeout = 0\n", r"\[source_store\] connect_timeout must be more than 0 and at most 3600"),
        ("[source_store]\nconnect_timeout = soon\n", r"\[source_store\] connect_timeout must be a number of seconds"),
        ("[destination_store]\nread_timeout = -5\n", r"\[destination_store\] read_timeout must be more than 0 and at most 86400"),
        ("[destination_store]\nread_timeout = inf\n", r"\[destination_store\] read_timeout must be more than 0"),
        ("[destination_store]\noutage_wait = 0\n", r"\[destination_store\] outage_wait must be more than 0 and at most 86400"),
    ],
)  # fmt: skip
def test_bad_store_timeouts_are_one_line_naming_file_section_and_key(load_config, extra, words):
    with pytest.raises(ConfigError, match=r"test\.conf: " + words) as raised:
        load_config(extra)
    assert "\n" not in str(raised.value)
