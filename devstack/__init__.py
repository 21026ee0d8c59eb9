"""Local test stack for es-s3-snapshot: moto S3 + real OpenSearch / Elasticsearch nodes.

    from devstack import Stack, StackError
    with Stack(nodes=("source", "destination", "es")) as stack:
        stack.s3.endpoint, stack.s3.bucket, stack.s3.client()
        stack.nodes["source"].url
        stack.node_request("es", "GET", "/_cluster/health")

See devstack/README.md.  Standard library + boto3 + moto[server] only.
"""

from .engines import (
    ELASTICSEARCH_VERSION,
    OPENSEARCH_VERSION,
    FetchedEngine,
    FetchError,
    cache_dir,
    fetch_all,
    find_jdks,
)
from .stack import (
    DEFAULT_NODES,
    MATRIX_NODES,
    MULTI_NODE_KINDS,
    NODE_ENGINES,
    Node,
    S3ProxyServer,
    S3Server,
    Stack,
    StackError,
    clean_stale,
    parse_clusters,
)

__all__ = [
    "Stack",
    "StackError",
    "Node",
    "S3Server",
    "S3ProxyServer",
    "NODE_ENGINES",
    "DEFAULT_NODES",
    "MATRIX_NODES",
    "MULTI_NODE_KINDS",
    "parse_clusters",
    "fetch_all",
    "FetchedEngine",
    "FetchError",
    "cache_dir",
    "find_jdks",
    "clean_stale",
    "OPENSEARCH_VERSION",
    "ELASTICSEARCH_VERSION",
]
