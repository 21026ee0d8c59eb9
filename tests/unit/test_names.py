from datetime import datetime

import pytest

from es_s3_snapshot.names import (
    STRFTIME_DIRECTIVES,
    backing_stream,
    expand_snapshot_name,
    index_name_problem,
    pattern_regex,
    renamed,
    renamed_backing,
    snapshot_name_problem,
    snapshot_pattern_problem,
)
from es_s3_snapshot.selection import select


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


# one moment a day over nine years (leap years, years with 53 weeks), its hour, minute and second
# turning so that every value of every field appears
_MOMENTS = [
    datetime.fromordinal(day).replace(
        hour=day % 24, minute=day % 60, second=day * 7 % 60, microsecond=day * 7919 % 10**6
    )
    for day in range(datetime(2020, 1, 1).toordinal(), datetime(2029, 1, 1).toordinal())
]


@pytest.mark.parametrize("directive", list(STRFTIME_DIRECTIVES) + ["%"])
def test_every_accepted_directive_matches_exactly_what_it_produces(directive):
    pattern = f"snap-%{directive}-x"
    assert snapshot_pattern_problem(pattern) is None
    regex = pattern_regex(pattern)
    produced = {moment.strftime(pattern) for moment in _MOMENTS}
    assert all(regex.fullmatch(name) for name in produced)
    width = len(datetime(2026, 1, 2).strftime(f"%{directive}"))
    if directive not in "%YGyf":  # a bounded field: every string of digits of its width, and one more or less
        for size in (width - 1, width, width + 1):
            for number in range(10**size if size else 1):
                name = f"snap-{number:0{size}d}-x" if size else "snap--x"
                assert bool(regex.fullmatch(name)) == (name in produced), name
    for value in ("a" * width, "1" * (width + 1), "1" * (width - 1), "-", "outside", "", "99999999"):
        assert not regex.fullmatch(f"snap-{value}-x"), value


@pytest.mark.parametrize(
    "pattern,name",
    [
        ("nightly-%Y.%m.%d", "nightly-before-upgrade"),
        ("nightly-%Y.%m.%d", "nightly-2026.13.01"),
        ("nightly-%Y.%m.%d", "nightly-26.11.21"),
        ("nightly-%Y.%m.%d", "nightly-2026.11.21-extra"),
        ("pr-%Y%m%d-%H%M%S", "pr-outside-name"),
        ("pr-%Y%m%d-%H%M%S", "pr-20261121-2459000"),
        ("pr-%Y%m%d-%H%M%S", "pr-2026112-1245000"),
        ("snap-%j", "snap-367"),
        ("snap-%H:%M", "snap-24:00"),
        ("snap-100%%-%Y", "snap-100x-2026"),
    ],
)
def test_hand_named_snapshots_do_not_fit_the_pattern(pattern, name):
    assert not pattern_regex(pattern).fullmatch(name)


def test_pattern_regex_reads_dots_and_brackets_in_the_pattern_literally():
    regex = pattern_regex("a.b+[c]-%Y")
    assert regex.fullmatch("a.b+[c]-2026")
    assert not regex.fullmatch("axb+[c]-2026")


def test_pattern_regex_refuses_a_directive_no_pattern_may_hold():
    with pytest.raises(ValueError, match="%a"):
        pattern_regex("snap-%a")


def test_select_per_entry_and_rename():
    assert select(("logs-*", "a"), ["logs-1", "logs-2", "a", "b"]) == {
        "logs-*": ["logs-1", "logs-2"],
        "a": ["a"],
    }
    assert renamed("logs-1", "(.+)", "restored-$1") == "restored-logs-1"
    assert renamed("logs-1", "logs-(\\d)", "old-$1") == "old-1"
    assert renamed("logs-1", None, None) == "logs-1"


# --- the engines' naming rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["logs-a", "logs-*", "logs-202?", ".hidden", ".ds-logs-2026", "a.b_c+d", "x" * 255, "é" * 127, "*"],
)
def test_index_names_engines_accept_pass(name):
    assert index_name_problem(name) is None


@pytest.mark.parametrize(
    "name,words",
    [
        ("Logs", "must be lowercase"),
        ("-logs", "must not start with '-' (an exclusion -pattern must follow the patterns it narrows)"),
        ("_logs", "must not start with '_'"),
        ("+logs", "must not start with '+'"),
        ("a b", "must not contain ' '"),
        ("a#b", "must not contain '#'"),
        ("a:b", "must not contain ':'"),
        ('a"b', "must not contain '\"'"),
        ("a\\b/c", "must not contain '/' '\\\\'"),
        ("a<b>c|d", "must not contain '<' '>' '|'"),
        (".", "is not an index name"),
        ("..", "is not an index name"),
        ("x" * 256, "is longer than 255 bytes"),
        ("é" * 128, "is longer than 255 bytes"),
        ("a\tb", "holds the control character 0x09"),
        ("a\x00b", "holds the control character 0x00"),
        ("a\x85b", "holds the control character 0x85"),
        ("", "is empty"),
    ],
)
def test_index_names_engines_refuse_say_why(name, words):
    assert words in index_name_problem(name)


def test_wildcards_are_refused_in_a_plain_index_name():
    assert "must not contain '*'" in index_name_problem("logs-*", pattern=False)


@pytest.mark.parametrize(
    "name,words",
    [
        ("Snap", "must be lowercase"),
        ("_snap", "must not start with '_'"),
        ("-snap", "must not start with '-'"),
        ("a,b", "must not contain ','"),
        ("a*", "must not contain '*'"),
        ("a?b", "must not contain '?'"),
        ("a b", "must not contain ' '"),
        ("a\nb", "control character 0x0a"),
        ("", "is empty"),
    ],
)
def test_snapshot_names_engines_refuse_say_why(name, words):
    assert words in snapshot_name_problem(name)


def test_snapshot_names_may_hold_colons_and_dots():
    assert snapshot_name_problem("nightly-2026.01.02:03") is None


@pytest.mark.parametrize(
    "pattern,words",
    [
        ("snap-%", "ends with a lone %"),
        ("snap-%Q", "has %Q, which is not one of"),
        ("snap-%-d", "has %-, which is not one of"),
        ("snap-%a", "has %a"),  # weekday names are capitalised: engines refuse them
        ("snap-%Z", "has %Z"),
        ("Snap-%Y", "'Snap-2026' must be lowercase (from 'Snap-%Y')"),
        ("snap %Y", "must not contain ' '"),
    ],
)
def test_snapshot_patterns_with_unusable_directives_are_refused(pattern, words):
    assert words in snapshot_pattern_problem(pattern)


@pytest.mark.parametrize(
    "pattern", ["snapshot-%Y_%m_%dt%H-%M-%S", "nightly-%Y.%m.%d", "w-%G-%V-%u", "p-100%%", "plain"]
)
def test_snapshot_patterns_engines_accept_pass(pattern):
    assert snapshot_pattern_problem(pattern) is None
    assert pattern_regex(pattern).fullmatch(expand_snapshot_name(pattern, datetime(2026, 7, 8, 9, 10, 11)))


def test_expand_snapshot_name_refuses_a_lone_percent():
    with pytest.raises(ValueError, match="ends with a lone %"):
        expand_snapshot_name("snap-%", datetime.now())


def test_exclusions_are_read_in_order_as_the_engines_read_a_multi_target_list():
    from es_s3_snapshot.names import name_list_problem
    from es_s3_snapshot.selection import select, selected

    available = ["logs-a", "logs-debug-1", "logs-debug-2", "metrics", ".kibana"]
    assert selected(["logs-*", "-logs-debug-*"], available) == ["logs-a"]
    assert selected(["logs-*", "-logs-debug-1", "metrics"], available) == ["logs-a", "logs-debug-2", "metrics"]
    # an exclusion narrows only what came before it
    assert selected(["-logs-debug-1", "logs-*"], available) == ["logs-a", "logs-debug-1", "logs-debug-2"]
    assert "-logs-debug-*" not in select(["logs-*", "-logs-debug-*"], available)  # never "matched nothing"
    assert name_list_problem(["logs-*", "-logs-debug-*"]) is None
    assert "must follow the patterns it narrows" in name_list_problem(["-logs-debug-*", "logs-*"])


@pytest.mark.parametrize(
    "index,streams,stream",
    [
        (".ds-logs-000001", {"logs"}, "logs"),
        (".ds-logs-2024.01.31-000002", {"logs"}, "logs"),
        (".ds-logs-web-000001", {"logs"}, None),  # the stream logs-web's, never logs's
        (".ds-logs-web-000001", {"logs", "logs-web"}, "logs-web"),
        (".ds-logs-2024.01.31-000002", {"logs-2024.01.31"}, "logs-2024.01.31"),
        (".ds-logs-000001x", {"logs"}, None),
        ("logs-000001", {"logs"}, None),
        (".ds-drill-x-y-000001", {"drill-x"}, None),
    ],
)
def test_a_backing_index_belongs_to_one_data_stream_by_exact_name(index, streams, stream):
    assert backing_stream(index, streams) == stream


def test_a_backing_index_is_renamed_after_its_ds_prefix_as_the_engines_do():
    assert renamed_backing(".ds-logs-000001", "(.+)", "drill-$1") == ".ds-drill-logs-000001"
    assert renamed_backing(".ds-logs-000001", None, None) == ".ds-logs-000001"
