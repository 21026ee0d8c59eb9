"""The README's config snippets for each way in load as they are written."""

import re
from pathlib import Path

import pytest

from es_s3_snapshot.config import load

README = Path(__file__).parents[2] / "README.md"

BASE = """
[aws_s3_config]
s3_bucket_name = backups
[elasticsearch_config]
es_repository_name = r
es_src_seed1 = 127.0.0.1:9200
es_dest_seed1 = 127.0.0.1:9201
index_names = a
"""


def ways_in_snippets():
    text = README.read_text()
    section = text.split("## Ways in", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"### (.+?)\n.*?```ini\n(.*?)```", section, re.S)


def merged(snippet: str) -> str:
    """The base config with the snippet's sections laid over it (snippet values win)."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#",))
    parser.read_string(BASE)
    parser.read_string(snippet)
    return "\n".join(
        f"[{s}]\n" + "".join(f"{k} = {v}\n" for k, v in parser.items(s, raw=True)) for s in parser.sections()
    )


def test_every_way_in_has_a_snippet():
    titles = [title for title, _ in ways_in_snippets()]
    assert len(titles) == 6, titles


@pytest.mark.parametrize("title,snippet", ways_in_snippets())
def test_readme_snippet_loads(title, snippet, tmp_path, monkeypatch):
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    snippet = snippet.replace("/etc/ssl/certs/my-cluster-ca.pem", str(ca))
    path = tmp_path / "c.conf"
    path.write_text(merged(snippet))
    config = load(str(path), environ={"SRC_ES_PASSWORD": "pw", "DEST_ES_API_KEY": "id:key"})
    if title.startswith("Basic"):
        assert config.source.auth == "basic" and config.source.password == "pw"
    elif title.startswith("API keys"):
        assert config.destination.auth == "api_key" and config.destination.api_key == "id:key"
    elif title.startswith("AWS"):
        assert config.source.auth == "sigv4"
        assert config.repository.extra["role_arn"].endswith("role/es-snapshot-role")
        assert config.repository.extra["server_side_encryption"] is True
    elif title.startswith("TLS"):
        assert config.source.ca_certs == str(ca) and config.source.verify_certs
    elif title.startswith("Proxies"):
        assert config.source.proxy.startswith("socks5h://") and config.destination.proxy.startswith("http://")
    elif title.startswith("Several"):
        assert len(config.source.seeds) == 2 and config.source.request_timeout == 30
