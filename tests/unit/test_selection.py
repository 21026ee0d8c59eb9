"""The one rule for what a selection means (selection.resolve), and the modes that go through it."""

from es_s3_snapshot.actions.sides import IndexInfo, selection_of
from es_s3_snapshot.selection import resolve

INDICES = ["app-a", "app-b", "app-hidden", ".app-dot", "other"]


def test_wildcards_skip_hidden_and_dot_indices_exact_names_and_dot_patterns_take_them():
    hidden = {"app-hidden"}
    assert resolve(["app-*"], INDICES, hidden=hidden).names == ["app-a", "app-b"]
    assert resolve(["*"], INDICES, hidden=hidden).names == ["app-a", "app-b", "other"]
    assert resolve(["app-*", "app-hidden"], INDICES, hidden=hidden).names == ["app-a", "app-b", "app-hidden"]
    assert resolve([".app*"], INDICES, hidden=hidden).names == [".app-dot"]
    assert resolve(["app-?"], INDICES, hidden=hidden).names == ["app-a", "app-b"]


def test_exclusions_are_read_in_order():
    assert resolve(["*", "-app-*"], INDICES).names == ["other"]
    assert resolve(["*", "-app-*", "app-b"], INDICES).names == ["app-b", "other"]


def test_missing_names_and_unmatched_patterns_are_told_apart():
    chosen = resolve(["app-a", "nope", "zzz-*", "-app-a"], INDICES)
    assert chosen.missing == ["nope"] and chosen.unmatched == ["nope", "zzz-*"] and chosen.names == []


def test_data_streams_are_selected_by_name_and_told_apart_from_indices():
    chosen = resolve(["logs-*"], ["logs-a"], streams=["logs-stream"])
    assert chosen.names == ["logs-a", "logs-stream"] and chosen.streams == ["logs-stream"]
    assert chosen.indices == ["logs-a"]


def test_a_cluster_inventory_selects_streams_not_their_backing_indices_and_skips_hidden():
    inventory = {
        "logs-a": IndexInfo("logs-a"),
        "logs-hidden": IndexInfo("logs-hidden", hidden=True),
        ".ds-logs-s-000001": IndexInfo(".ds-logs-s-000001", hidden=True),
        "logs-s": IndexInfo("logs-s", is_stream=True, backing=(".ds-logs-s-000001",)),
    }
    chosen = selection_of(["logs-*", "logs-gone"], inventory)
    assert chosen.names == ["logs-a", "logs-s"] and chosen.streams == ["logs-s"] and chosen.missing == ["logs-gone"]
    assert selection_of(["logs-s"], inventory).missing == []  # a configured data stream is found
