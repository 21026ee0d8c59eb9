from datetime import datetime

import pytest

from es_s3_snapshot.names import expand_snapshot_name, match_indices, pattern_regex, renamed


def test_expand_and_check_snapshot_names():
    assert (
        expand_snapshot_name("snapshot-%Y_%m_%dt%H-%M-%S", datetime(2026, 3, 4, 5, 6, 7))
        == "snapshot-2026_03_04t05-06-07"
    )
    assert expand_snapshot_name("plain", datetime.now()) == "plain"
    for bad in ("Upper", "_leading", "has space", "a,b", "star*"):
        with pytest.raises(ValueError):
            expand_snapshot_name(bad, datetime.now())


def test_pattern_regex_matches_what_the_pattern_produces():
    regex = pattern_regex("nightly-%Y.%m.%d")
    assert regex.fullmatch(expand_snapshot_name("nightly-%Y.%m.%d", datetime(2026, 11, 21)))
    assert not regex.fullmatch("weekly-2026.11.21")
    assert not regex.fullmatch("nightly-2026x11.21")


def test_match_indices_and_rename():
    assert match_indices(("logs-*", "a"), ["logs-1", "logs-2", "a", "b"]) == {
        "logs-*": ["logs-1", "logs-2"],
        "a": ["a"],
    }
    assert renamed("logs-1", "(.+)", "restored-$1") == "restored-logs-1"
    assert renamed("logs-1", "logs-(\\d)", "old-$1") == "old-1"
    assert renamed("logs-1", None, None) == "logs-1"
