"""The destination-room judgement of -m check (pure functions; the checks run on real nodes in e2e)."""

from es_s3_snapshot.actions.check import DataNode, allowed_used, disk_row

GB = 1024**3
WATERMARKS = ("85%", "90%")


def test_every_node_under_the_low_watermark_is_ok():
    nodes = [DataNode("a", 100 * GB, 60 * GB), DataNode("b", 100 * GB, 60 * GB)]
    row = disk_row(nodes, 20 * GB, 2 * GB, WATERMARKS)
    assert row.result == "ok" and "every data node stays under the low watermark (85%)" in row.detail
    assert "on 2 data nodes" in row.detail


def test_one_full_node_is_judged_on_its_own_not_hidden_by_the_sum():
    # 110 GB free in all, plenty for 20 GB; but node b is at 88%: its share takes it over 90%
    nodes = [DataNode("a", 100 * GB, 98 * GB), DataNode("b", 100 * GB, 12 * GB)]
    row = disk_row(nodes, 20 * GB, 1 * GB, WATERMARKS)
    assert row.result == "FAIL" and "takes b over the high watermark (90%)" in row.detail


def test_low_watermark_only_warns():
    nodes = [DataNode("a", 100 * GB, 20 * GB)]
    row = disk_row(nodes, 7 * GB, 1 * GB, WATERMARKS)
    assert row.result == "warn" and "over the low watermark (85%)" in row.detail


def test_a_shard_larger_than_any_node_has_free_fails_even_when_the_sum_fits():
    nodes = [DataNode("a", 100 * GB, 30 * GB), DataNode("b", 100 * GB, 30 * GB)]
    row = disk_row(nodes, 40 * GB, 35 * GB, None)
    assert row.result == "FAIL" and "the largest shard (35.0 GiB) fits on no data node" in row.detail


def test_more_than_the_free_space_fails_and_watermarks_off_is_said():
    nodes = [DataNode("a", 100 * GB, 10 * GB)]
    assert disk_row(nodes, 11 * GB, 1 * GB, None).detail.endswith("it does not fit")
    assert disk_row(nodes, 5 * GB, 1 * GB, None).detail.endswith("disk watermarks are off")


def test_no_data_node_and_odd_watermarks_warn():
    assert disk_row([], 1, 1, WATERMARKS).result == "warn"
    assert disk_row([DataNode("a", 100 * GB, 50 * GB)], GB, GB, ("lots", "more")).result == "warn"


def test_watermarks_in_percent_ratio_and_free_bytes():
    assert allowed_used("85%", 1000) == 850
    assert allowed_used("0.9", 1000) == 900
    assert allowed_used("500mb", 1024**3) == 1024**3 - 500 * 1024**2
