"""The modes by name: which cluster each works on. Plain data, imported by --help and --version,
which must not pay for anything else (the actions themselves are in ``actions/``)."""

# Every mode, and the side ``ctx.cluster`` is for (the cli builds it; other sides via ctx.open_cluster);
# None: the mode works on no cluster, and ctx.cluster is None.
SIDE = {
    "backup": "source",
    "restore": "destination",
    "check": "source",
    "migrate": "source",
    "verify": "source",
    "sync": None,
    "scrub": None,
    "list": "source",
    "prune": "source",
    "drill": "destination",  # --on source: the source's cluster and repository
}
MODES = tuple(SIDE)
# Modes that work on both sides: the cli checks both sides' seeds and gives ctx.open_cluster.
TWO_SIDED = {"check", "migrate", "verify"}
