"""The one rule for existing targets (restoring/existing.py judge_existing), as restore, check and
migrate apply it: the policy, data streams, shard counts and the migration's own record."""

import pytest

from es_s3_snapshot.actions.check import _existing
from es_s3_snapshot.actions.restore import run_restore
from es_s3_snapshot.actions.restoring.existing import judge_existing
from es_s3_snapshot.actions.sides import IndexInfo, restored_by_migration
from es_s3_snapshot.config import Overrides, RestoreConfig
from es_s3_snapshot.errors import IndexConflict


def policy(name, confirm=False):
    return RestoreConfig(snapshot="latest", existing_indices=name, confirm_delete=confirm)


def test_nothing_existing_is_ok():
    verdict = judge_existing(policy("refuse"), {}, [], targets=3)
    assert (verdict.level, verdict.detail) == ("ok", "3 of 3 targets are new")


def test_refuse_fails_and_advises_the_other_policies():
    verdict = judge_existing(policy("refuse"), {"logs-a": ("open", 1)}, [])
    assert verdict.level == "FAIL" and "with the same names: logs-a; nothing was changed" in verdict.detail
    assert "Choose existing_indices = close, rename or delete" in verdict.detail


def test_rename_already_set_is_not_advised_again():
    verdict = judge_existing(policy("rename"), {"restored-logs-a": ("open", 1)}, [])
    assert verdict.level == "FAIL" and "with the restored names: restored-logs-a" in verdict.detail
    assert "close, rename or delete" not in verdict.detail
    assert "rename_replacement that gives new names, or existing_indices = close or delete" in verdict.detail


def test_close_warns_and_refuses_data_streams_which_cannot_be_closed():
    verdict = judge_existing(policy("close"), {"logs-a": ("open", 1)}, [])
    assert verdict.level == "warn" and verdict.close == ["logs-a"]
    verdict = judge_existing(policy("close"), {"logs-a": ("open", 1)}, ["stream-a"])
    assert verdict.level == "FAIL" and "data streams cannot be closed" in verdict.detail


def test_close_over_another_number_of_primaries_fails_before_anything_is_closed():
    verdict = judge_existing(policy("close"), {"logs-a": ("open", 2)}, [], incoming_primaries=lambda: {"logs-a": 1})
    assert verdict.level == "FAIL" and "logs-a (2 here, 1 in the snapshot)" in verdict.detail
    assert verdict.close == []


def test_delete_needs_confirmation():
    assert judge_existing(policy("delete"), {"logs-a": ("open", 1)}, ["s"]).level == "FAIL"
    verdict = judge_existing(policy("delete", confirm=True), {"logs-a": ("open", 1)}, ["s"])
    assert verdict.level == "warn" and verdict.delete == ["logs-a"] and verdict.delete_streams == ["s"]


@pytest.mark.parametrize("name", ["refuse", "rename", "close", "delete"])
def test_the_migrations_own_targets_are_restored_over_whatever_the_policy(name):
    verdict = judge_existing(policy(name), {"logs-a": ("open", 1)}, ["stream-a"], ours={"logs-a", "stream-a"}, targets=3)
    assert verdict.level == "ok"
    assert verdict.close == ["logs-a"] and verdict.delete_streams == ["stream-a"] and verdict.delete == []
    assert verdict.detail == "1 of 3 targets are new; 2 targets restored by an earlier round of this migration are restored over"


def test_only_a_recorded_index_with_the_same_uuid_is_the_migrations_own():
    here = {"a": IndexInfo("a", uuid="u1"), "b": IndexInfo("b", uuid="new"), "c": IndexInfo("c", uuid="u3")}
    assert restored_by_migration({"indices": {"a": "u1", "b": "u2", "gone": "u4"}}, here) == {"a"}
    assert restored_by_migration({}, here) == set()


def test_check_row_is_the_restore_rule_between_migration_rounds(load_config, make_ctx):
    """check between rounds: what round 1 restored is not a conflict; what someone else made is."""
    ctx, _, _ = make_ctx(load_config())
    source = {"logs-a": IndexInfo("logs-a", primaries=1), "logs-b": IndexInfo("logs-b", primaries=1)}
    dest = {"logs-a": IndexInfo("logs-a", primaries=1, uuid="u1"), "logs-b": IndexInfo("logs-b", primaries=1)}
    row = _existing(ctx, ["logs-a", "logs-b"], source, dest, {"logs-a", "logs-b"})
    assert row.result == "ok" and "0 of 2 targets are new" in row.detail
    row = _existing(ctx, ["logs-a", "logs-b"], source, dest, {"logs-a"})
    assert row.result == "FAIL" and "with the same names: logs-b;" in row.detail


def test_check_row_sees_data_streams_and_shard_counts(load_config, make_ctx):
    ctx, _, _ = make_ctx(load_config("[restore]\nexisting_indices = close\n"))
    source = {"logs-a": IndexInfo("logs-a", primaries=3), "logs-b": IndexInfo("logs-b", is_stream=True)}
    dest = {"logs-a": IndexInfo("logs-a", primaries=1)}
    assert "the number of primary shards differs" in _existing(ctx, ["logs-a"], source, dest, set()).detail
    dest = {"logs-b": IndexInfo("logs-b", is_stream=True)}
    row = _existing(ctx, ["logs-a", "logs-b"], source, dest, set())
    assert row.result == "FAIL" and "data streams cannot be closed" in row.detail


def test_restore_in_a_migration_round_closes_and_restores_over_its_own_index(engine, load_config, make_ctx):
    engine.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es", "readonly": "true"}}
    engine.add_snapshot("repo1", "r2", ["logs-a", "logs-b"], start=100)
    engine.indices.clear()
    engine.add_index("logs-a", 5)
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(snapshot="r2")), side="destination")
    with pytest.raises(IndexConflict):  # not recorded as the migration's own: the policy (refuse) holds
        run_restore(ctx)
    ctx.ours = frozenset({"logs-a"})
    run_restore(ctx)
    assert ("POST", "/logs-a/_close") in engine.changed()
