"""-m check and -m verify send as many requests at 1,000 indices as at 10, on each side (issue #18
point 5): every read is one request for all indices, whatever their number or the length of their
names. Counted on the fake engine of each side; the figures on real nodes are in scripts/bench
(section checkverify)."""

import pytest

from es_s3_snapshot.actions import Context
from es_s3_snapshot.actions.check import Row, collect
from es_s3_snapshot.actions.verify import run_verify
from es_s3_snapshot.cluster import Cluster
from es_s3_snapshot.config import Overrides
from es_s3_snapshot.repository import repository_body

from .fake_engine import FakeEngine

MAX_REQUESTS = 20  # per side, whatever the number of indices (issue #18 point 5)


def long_name(prefix: str, i: int) -> str:
    """An index name of 60+ characters, as the bench uses: a URL listing them would be long."""
    return f"{prefix}-{'service-payments-eu-west-' * 2}{i:05d}"


def sides(count: int, copies: bool) -> dict[str, FakeEngine]:
    """A source with ``count`` indices and a destination holding ``count`` indices too: copies of the
    source's (``copies``: what verify compares) or others (what check judges against the policy)."""
    engines = {"source": FakeEngine(), "destination": FakeEngine()}
    for i in range(count):
        engines["source"].add_index(long_name("logs", i), 10 + i)
        engines["destination"].add_index(long_name("logs" if copies else "other", i), 10 + i)
    return engines


def context(config, engines: dict[str, FakeEngine], lines: list[str]) -> Context:
    clusters = {
        side: Cluster(side, config.side(side).seeds, engine, echo=lines.append) for side, engine in engines.items()
    }
    for side, engine in engines.items():
        repo = config.repository_for(side)
        engine.repos[repo.name] = repository_body(repo, readonly=side == "destination")
    return Context(config=config, cluster=clusters["source"], echo=lines.append, open_cluster=clusters.__getitem__)


def per_side(engines: dict[str, FakeEngine]) -> dict[str, int]:
    return {side: len(engine.requests) for side, engine in engines.items()}


@pytest.fixture
def config(load_config):
    return load_config(overrides=Overrides(indices=("logs-*",)))


def test_check_sends_the_same_few_requests_per_side_at_10_and_at_1000_indices(config):
    counts, names = {}, {}
    for count in (10, 1000):
        engines, lines = sides(count, copies=False), []
        rows = collect(context(config, engines, lines))
        assert [r for r in rows if r.result == "FAIL"] == [], rows
        assert Row("source", "indices", "ok", f"{count} selected, {count * 1000 / 1024:.1f} KiB of primaries") in rows
        counts[count] = per_side(engines)
        names[count] = [p for e in engines.values() for _, p, _, _ in e.requests]
    assert counts[10] == counts[1000], counts
    assert all(n <= MAX_REQUESTS for n in counts[1000].values()), counts
    assert names[10] == names[1000]  # the very same requests: no index name in any URL
    assert not any("logs-" in path for path in names[1000])


def test_verify_sends_the_same_few_requests_per_side_at_10_and_at_1000_indices(config):
    counts, names = {}, {}
    for count in (10, 1000):
        engines, lines = sides(count, copies=True), []
        run_verify(context(config, engines, lines))
        assert lines[-1] == f"verify: {count} indices compared, all the same on both sides"
        counts[count] = per_side(engines)
        names[count] = [p for e in engines.values() for _, p, _, _ in e.requests]
    assert counts[10] == counts[1000], counts
    assert all(n <= MAX_REQUESTS for n in counts[1000].values()), counts
    assert names[10] == names[1000]
    assert not any("logs-" in path for path in names[1000])
