"""What restore does with indices that exist on the destination already."""

import pytest

from .conftest import s3_config


@pytest.fixture
def backed_up(stack, src, cli, write, unique):
    """Two indices backed up as snapshot 'base' (40 and 60 docs); returns (config path, names)."""
    a, b = f"{unique}-pa", f"{unique}-pb"
    src.seed(a, 40)
    src.seed(b, 60)
    config = write(s3_config(stack, repo=f"repo-{unique}", base_path=f"pol/{unique}", indices=f"{a},{b}"))
    result = cli("-m", "backup", "-c", config, "--snapshot", "base")
    assert result.code == 0, result
    return config, a, b


def test_default_refuses_lists_conflicts_and_leaves_data_untouched(dest, cli, backed_up):
    config, a, b = backed_up
    dest.seed(a, 3)
    result = cli("-m", "restore", "-c", config, "--snapshot", "base")
    assert result.code == 1, result
    assert f"the destination already has 1 index with the same names: {a}; nothing was changed" in result.err
    assert dest.count(a) == 3
    assert not dest.exists(b)


def test_close_restores_over_existing_indices(dest, cli, backed_up):
    config, a, b = backed_up
    dest.seed(a, 3)
    result = cli("-m", "restore", "-c", config, "--snapshot", "base", "--existing", "close")
    assert result.code == 0, result
    assert dest.count(a) == 40 and dest.count(b) == 60


def test_rename_restores_beside_the_originals(dest, cli, write, backed_up):
    config, a, b = backed_up
    dest.seed(a, 3)
    renamed = write(
        open(config).read()
        + "[restore]\nexisting_indices = rename\nrename_pattern = (.+)\nrename_replacement = copy-$1\n",
        "rename.conf",
    )
    result = cli("-m", "restore", "-c", renamed, "--snapshot", "base")
    assert result.code == 0, result
    assert dest.count(a) == 3
    assert dest.count(f"copy-{a}") == 40 and dest.count(f"copy-{b}") == 60


def test_delete_needs_its_opt_in_then_says_what_it_deleted(dest, cli, backed_up):
    config, a, b = backed_up
    dest.seed(a, 3)
    refused = cli("-m", "restore", "-c", config, "--snapshot", "base", "--existing", "delete")
    assert refused.code == 1
    assert f"would delete {a} on the destination; nothing was changed" in refused.err
    assert dest.count(a) == 3

    done = cli("-m", "restore", "-c", config, "--snapshot", "base", "--existing", "delete", "--confirm-delete")
    assert done.code == 0, done
    assert f"deleted 1 index on the destination before restoring: {a}" in done.err
    assert dest.count(a) == 40
