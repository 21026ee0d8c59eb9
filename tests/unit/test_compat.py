"""The compatibility table (compat.py) and the system-index selection (selection.py): pure functions."""

from __future__ import annotations

import pytest

from es_s3_snapshot.compat import FAIL, OK, RULES, decode_created, judge
from es_s3_snapshot.selection import select, selected

ES, OS = "Elasticsearch", "OpenSearch"
MASK = 0x08000000


def es_id(major, minor, patch):
    return major * 1_000_000 + minor * 10_000 + patch * 100 + 99


def os_id(major, minor, patch):
    return es_id(major, minor, patch) ^ MASK


def test_decode_created_tells_opensearch_from_elasticsearch_and_new_es_ids():
    assert decode_created(es_id(7, 17, 29)).release == (7, 17, 29)
    assert decode_created(str(os_id(2, 19, 6))).engine == OS
    assert decode_created(os_id(2, 19, 6)).release == (2, 19, 6)
    new = decode_created(9_039_003)
    assert (new.engine, new.major, new.release) == (ES, 9, None)


@pytest.mark.parametrize(
    "source,created,dest,dest_version,writer,level,rule",
    [
        (ES, es_id(7, 17, 29), ES, "8.19.21", "7.17.29", OK, "es-es"),
        (ES, es_id(6, 8, 4), ES, "8.19.21", "7.17.29", FAIL, "es-archive"),
        (ES, 9_039_003, ES, "8.19.21", "9.2.4", FAIL, "older"),
        (ES, es_id(7, 10, 2), OS, "1.3.20", "7.10.2", OK, "es-os"),
        (ES, es_id(7, 10, 2), OS, "2.19.6", "7.10.2", OK, "es-os"),
        (ES, es_id(7, 10, 2), OS, "3.3.2", "7.10.2", FAIL, "es-os"),
        (ES, es_id(6, 8, 4), OS, "2.19.6", "7.10.2", FAIL, "es-os"),
        (ES, es_id(7, 17, 29), OS, "2.19.6", "7.17.29", FAIL, "es-os"),
        (ES, 8_521_000, OS, "2.19.6", "8.19.21", FAIL, "es-os"),
        (ES, es_id(7, 10, 2), OS, "1.3.20", "7.12.0", FAIL, "es-os"),
        (OS, os_id(1, 3, 20), OS, "2.19.6", "1.3.20", OK, "os-os"),
        (OS, os_id(2, 19, 6), OS, "3.3.2", "2.19.6", OK, "os-os"),
        (OS, os_id(1, 3, 20), OS, "3.3.2", "2.19.6", FAIL, "os-os"),
        (OS, os_id(3, 3, 2), OS, "2.19.6", "3.3.2", FAIL, "older"),
        (OS, os_id(2, 19, 6), ES, "8.19.21", "2.19.6", FAIL, "os-es"),
        (ES, es_id(8, 19, 0), ES, "8.15.0", "8.19.0", FAIL, "older"),
    ],
)
def test_judge_follows_the_table(source, created, dest, dest_version, writer, level, rule):
    verdict = judge(source, created, dest, dest_version, writer)
    assert (verdict.level, verdict.rule) == (level, rule), verdict
    if level == FAIL:
        assert verdict.action


def test_every_rule_names_its_source():
    assert all(rule.source and rule.text for rule in RULES)


def test_wildcards_skip_system_and_hidden_indices_unless_asked():
    names = ["logs-1", ".kibana_1", ".opendistro_security", "hidden-x", "metrics"]
    assert selected(["*"], names, hidden={"hidden-x"}) == ["logs-1", "metrics"]
    assert selected([".kibana*"], names) == [".kibana_1"]
    assert selected([".opendistro_security", "logs-*"], names) == [".opendistro_security", "logs-1"]
    assert select(["hidden-x"], names, hidden={"hidden-x"}) == {"hidden-x": ["hidden-x"]}


def test_watermarks_in_percent_ratio_and_bytes_give_the_allowed_use():
    from es_s3_snapshot.actions.check import allowed_used, setting

    assert allowed_used("85%", 1000) == 850
    assert allowed_used("0.9", 1000) == 900
    assert allowed_used("100b", 1000) == 900
    body = {
        "defaults": {"cluster": {"max_shards_per_node": "1000"}},
        "persistent": {"cluster.max_shards_per_node": "5"},
    }
    assert setting(body, "cluster.max_shards_per_node") == "5"


def test_name_chunks_stay_under_the_url_limit_and_fields_are_counted_recursively():
    from es_s3_snapshot.actions.verify import count_fields
    from es_s3_snapshot.names import chunks as chunked

    names = [f"index-{n:05d}" for n in range(1000)]
    chunks = chunked(names)
    assert sum(len(c) for c in chunks) == 1000 and all(len(",".join(c)) < 3000 for c in chunks)
    mapping = {
        "a": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
        "o": {"properties": {"b": {"type": "long"}}},
    }
    assert count_fields(mapping) == 4
