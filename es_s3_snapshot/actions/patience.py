"""Following an operation while the cluster's nodes come and go.

A node that restarts, or an election after the master left, makes requests fail for a while: no
seed answers, or the node that answers knows no elected master (503). The operation itself goes on
in the cluster. ``Patient`` wraps a Cluster so that the reads of a wait ask again, every
poll_interval, for up to [wait] stall_timeout, instead of ending the run with a verdict the
cluster would not give.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import ClusterUnreachable, EngineError, UnexpectedAnswer
from . import Context

logger = logging.getLogger(__name__)

# error types of a cluster between two masters, or of a node on its way out
PASSING_TYPES = {
    "master_not_discovered_exception",
    "cluster_manager_not_discovered_exception",
    "not_master_exception",
    "not_cluster_manager_exception",
    "node_closed_exception",
    "node_disconnected_exception",
    "node_not_connected_exception",
    "connect_transport_exception",
    "process_cluster_event_timeout_exception",
}


def passing(err: BaseException | None) -> bool:
    """Whether an error says the cluster is between two states (a node or the master away), not
    that the request is wrong: it is worth asking again (and an answer it replaced is lost, not a
    refusal)."""
    if isinstance(err, ClusterUnreachable):
        return True
    if isinstance(err, UnexpectedAnswer):
        return err.status in (502, 503, 504)
    if isinstance(err, EngineError):  # a busy answer (other snapshot operations) is a refusal: not passing
        busy = err.error_type == "concurrent_snapshot_execution_exception"
        return err.error_type in PASSING_TYPES or (err.status == 503 and not busy)
    return False


class Patient:
    """A Cluster whose GET requests ride through node restarts and elections (see module doc).
    Everything else is the wrapped cluster's."""

    def __init__(self, ctx: Context, cluster: Any = None):
        self._ctx = ctx
        self._cluster = cluster if cluster is not None else ctx.cluster

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cluster, name)

    def get(self, path: str, **kwargs: Any) -> Any:
        """``Cluster.get``, asked again while the error is passing, for up to stall_timeout; then
        (or for any other error) raises what the cluster raised."""
        ctx, since = self._ctx, None
        while True:
            try:
                return self._cluster.get(path, **kwargs)
            except (ClusterUnreachable, EngineError, UnexpectedAnswer) as err:
                if not passing(err):
                    raise
                since = ctx.clock() if since is None else since
                if ctx.clock() - since >= ctx.config.wait.stall_timeout:
                    raise
                logger.warning(
                    "the %s cluster does not answer for now (%s); asking again (stall_timeout in [wait])",
                    self._cluster.side,
                    err,
                )
                ctx.sleep(ctx.config.wait.poll_interval)
