"""devstack's cluster specs and the discovery settings of multi-node clusters (no engine started)."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from devstack.stack import Node, parse_clusters


def test_cluster_specs_give_node_counts():
    assert parse_clusters(("source:3", "destination:2", "es")) == {"source": 3, "destination": 2, "es": 1}
    assert parse_clusters({"source": 3}) == {"source": 3}


@pytest.mark.parametrize(
    "spec, words",
    [
        (("source:0",), "at least 1 node"),
        (("es:2",), "only source, destination can have several nodes"),
        (("source:x",), "whole number"),
        (("source", "source:2"), "distinct names"),
        (("nope",), "distinct names"),
    ],
)
def test_bad_cluster_specs_are_refused(spec, words):
    with pytest.raises(ValueError, match=words):
        parse_clusters(spec)


def test_every_node_of_a_cluster_is_a_seed_and_named_for_the_first_election(tmp_path):
    fetched = SimpleNamespace(engine="opensearch", version="3.3.2", home="/x", java_home="/j", java_version="25")
    nodes = [Node(f"source-{i}", fetched, Path(tmp_path), "384m", cluster="source") for i in (1, 2, 3)]
    for port, node in enumerate(nodes, 9301):
        node.peers, node.transport_port = nodes, port
    assert nodes[0].cluster_name == "devstack-source" and nodes[1].dir == Path(tmp_path) / "source-2"
    assert nodes[1].discovery_settings() == [
        'discovery.seed_hosts: ["127.0.0.1:9301", "127.0.0.1:9302", "127.0.0.1:9303"]',
        'cluster.initial_cluster_manager_nodes: ["source-1", "source-2", "source-3"]',
    ]
    alone = Node("source", fetched, Path(tmp_path), "512m")
    assert alone.discovery_settings() == ["discovery.type: single-node"]
