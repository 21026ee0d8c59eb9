"""Issue 7's input points, run as a user runs the CLI: configs and arguments that must give exit 3
with one line (file, section, key; no secret, no traceback), and sides that do not need each
other's secrets. No engine is needed: every seed is a dead port on 127.0.0.1, so a run that gets
past its config ends with exit 2 ("could not connect"), which is the proof that the config passed.
"""

from __future__ import annotations

import codecs
import os
import textwrap

import pytest

from .upstream_ports import dead_seed


def base_config() -> str:
    return textwrap.dedent(f"""\
        [aws_s3_config]
        s3_bucket_name = backups
        [elasticsearch_config]
        es_repository_name = repo1
        es_src_seed1 = {dead_seed()}
        es_dest_seed1 = {dead_seed()}
        index_names = logs-a
        """)


@pytest.fixture
def conf(tmp_path):
    def conf(extra: str = "", data: bytes | None = None, mode: int = 0o600) -> str:
        path = tmp_path / "input.conf"
        path.write_bytes(data if data is not None else (base_config() + textwrap.dedent(extra)).encode())
        path.chmod(mode)
        return str(path)

    return conf


def one_error_line(result) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "ERROR" in lines[0] and "Traceback" not in result.err, result
    return lines[0]


@pytest.mark.parametrize(
    "data,words",
    [
        (codecs.BOM_UTF16_LE + base_config().encode("utf-16-le"), "is not UTF-8 text (it looks like UTF-16)"),
        (base_config().encode() + "[snapshot]\n# café\n".encode("latin-1"), "is not UTF-8 text (byte 0xe9 at offset"),
        (b"\x7fELF\x02\x01\x01\x00\xff\xfe garbage", "is not UTF-8 text (byte 0xff at offset 8, line 1)"),
        (base_config().encode() + b"[snapshot]\npartial = \x00\n", "holds the control character 0x00 on line 9"),
    ],
)
def test_config_not_utf8_exits_3_with_one_line_naming_the_file(cli, conf, data, words):
    path = conf(data=data)
    result = cli("-m", "backup", "-c", path)
    assert result.code == 3, result
    assert f"{path}: {words}" in one_error_line(result)


def test_config_with_utf8_bom_gets_past_the_config(cli, conf):
    result = cli("-m", "backup", "-c", conf(data=codecs.BOM_UTF8 + base_config().encode()))
    assert result.code == 2 and "could not connect to the source cluster" in result.err, result


@pytest.mark.parametrize(
    "extra,words",
    [
        ("snapshot_name = snap-%\n", "[elasticsearch_config] snapshot_name 'snap-%' ends with a lone %"),
        ("index_names = Logs,-old\n", "[elasticsearch_config] index_names 'Logs' must be lowercase"),
        (
            "[wait]\npoll_interval = nan\n",
            "[wait] poll_interval must be more than 0 and at most 3600 seconds (1 hour), not 'nan'",
        ),
        (
            "[source]\nrequest_timeout = 1e400\n",
            "[source] request_timeout must be more than 0 and at most 86400 seconds",
        ),
        (
            "[source]\napi_key = k\u00e9y-without-colon\n",
            '[source] api_key must be the base64 "encoded" API key or id:api_key',
        ),
        (
            "[source]\napi_key = id:\u20ac-key\n",
            '[source] api_key must be the base64 "encoded" API key or id:api_key, in ASCII',
        ),
        ("[source]\nproxy = socks4://user:PASSWORD@proxy.example:1080\n", "[source] proxy must be a URL such as"),
        ("es_src_seed2 = ftp://user:PASSWORD@host.example\n", "[elasticsearch_config] es_src_seed2 must be host:port"),
    ],
)
def test_bad_values_exit_3_naming_file_section_and_key_without_secrets(cli, conf, extra, words):
    base = base_config().replace("index_names = logs-a\n", "") if "index_names" in extra else base_config()
    path = conf(data=(base + extra).encode())
    result = cli("-m", "backup", "-c", path)
    assert result.code == 3, result
    line = one_error_line(result)
    assert f"{path}: {words}" in line
    if "PASSWORD" in extra:
        assert "://user:***@" in line
    assert "PASSWORD" not in result.err + result.out and "\u20ac" not in line and "k\u00e9y" not in line


@pytest.mark.parametrize(
    "args,words",
    [
        (["-m", "backup", "-m", "restore"], "error: -m given twice"),
        (["-m", "backup", "--snapshot", "a", "--snapshot", "b"], "error: --snapshot given twice"),
        (["-m", "restore", "--snapshot", ""], "error: argument --snapshot: must not be empty"),
        (["-m", "restore", "--indices", ""], "error: argument --indices: must not be empty"),
        (["-m", "backup", "-c", ""], "error: argument -c/--config: must not be empty"),
        (["-m", "backup", "--snapshot", "snap-%"], "--snapshot 'snap-%' ends with a lone %"),
        (["-m", "backup", "--indices", "a,B"], "--indices 'B' must be lowercase"),
    ],
)
def test_bad_arguments_exit_3(cli, conf, args, words):
    result = cli(*args, *([] if "-c" in args else ["-c", conf()]))
    assert result.code == 3, result
    assert words in result.err and "Traceback" not in result.err


SIDES = """\
[source]
username = snapshotter
password_env = E2E_SRC_PASSWORD
[destination]
auth = api_key
api_key_env = E2E_DEST_API_KEY
"""


def test_restore_runs_without_the_source_password_variable(cli, conf):
    result = cli("-m", "restore", "-c", conf(SIDES), env={"E2E_DEST_API_KEY": "kid:dest-key"})
    assert result.code == 2 and "could not connect to the destination cluster" in result.err, result


def test_backup_runs_without_the_destination_api_key_variable(cli, conf):
    result = cli("-m", "backup", "-c", conf(SIDES), env={"E2E_SRC_PASSWORD": "pw"})
    assert result.code == 2 and "could not connect to the source cluster" in result.err, result


def test_a_run_still_needs_its_own_sides_secret(cli, conf):
    result = cli("-m", "backup", "-c", conf(SIDES), env={"E2E_DEST_API_KEY": "kid:dest-key"})
    assert result.code == 3, result
    assert "[source] password_env names the environment variable E2E_SRC_PASSWORD, which is not set" in one_error_line(
        result
    )


def test_config_readable_by_others_with_a_password_warns_once(cli, conf):
    path = conf("[source]\nusername = u\npassword = Pw-in-the-file\n", mode=0o644)
    result = cli("-m", "backup", "-c", path)
    assert result.code == 2, result
    warnings = [line for line in result.err.splitlines() if "holds secrets" in line]
    assert len(warnings) == 1 and f"{path} is readable by group or others (mode 0644)" in warnings[0]
    assert warnings[0].endswith(f"chmod 600 {path}")
    assert "Pw-in-the-file" not in result.err
    os.chmod(path, 0o600)
    private = cli("-m", "backup", "-c", path)
    assert private.code == 2 and "holds secrets" not in private.err, private  # loaded, then the closed port
