"""Which indices and data streams a selection means: the one rule, pure, for every mode (backup,
restore, check, migrate, verify, drill). ``resolve`` is the entry point.

The entries are read in order as the engines read a multi-target list: an entry adds what it
selects, an exclusion (``-pattern``) removes what its pattern matches from what came before it.
Data streams are selected by name like indices (their backing indices follow them). System and
hidden indices are never picked up by a wildcard: a pattern such as ``*`` or ``logs-*``
matches only names that do not start with a dot and are not in ``hidden``. A dot-prefixed index is
selected only when it is named exactly, or by a pattern that itself starts with a dot
(``.kibana*``). Reasons: Elasticsearch 8+ refuses to restore system indices outside
``feature_states``, and an OpenSearch security index (``.opendistro_security``,
``.plugins-security-*``) restored over a live one replaces its users and roles and can lock every
user out. Global state and feature states are restored only when configured
(``[restore] include_global_state``, ``feature_states``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Selection:
    """What a list of index patterns selects among the indices and data streams at hand."""

    names: list[str]  # every selected index and data stream, sorted
    streams: list[str]  # the selected data streams (also in names)
    missing: list[str]  # names given exactly (no wildcard, not an exclusion) that are not there
    unmatched: list[str]  # entries (exact names and patterns, exclusions left out) that select nothing
    hidden: list[str] = field(default_factory=list)  # selected hidden indices (named exactly, or by a dot pattern)

    @property
    def indices(self) -> list[str]:
        """The selected plain indices (data streams left out)."""
        streams = set(self.streams)
        return [n for n in self.names if n not in streams]


def resolve(
    patterns: Iterable[str],
    indices: Iterable[str],
    streams: Iterable[str] = (),
    hidden: frozenset[str] | set[str] = frozenset(),
) -> Selection:
    """What ``patterns`` mean among ``indices`` and data ``streams`` (give indices without the
    streams' backing indices), ``hidden`` naming the hidden ones: exact names select themselves,
    wildcards skip system (dot) and hidden indices unless the pattern starts with a dot, and
    exclusions remove what came before them."""
    patterns = tuple(patterns)
    stream_names = set(streams)
    available = set(indices) | stream_names
    per_entry = select(patterns, available, hidden)
    names = selected(patterns, available, hidden)
    return Selection(
        names=names,
        streams=[n for n in names if n in stream_names],
        missing=[p for p, found in per_entry.items() if not found and not is_pattern(p)],
        unmatched=[p for p, found in per_entry.items() if not found],
        hidden=[n for n in names if n in hidden],
    )


def is_pattern(name: str) -> bool:
    """Whether an entry has wildcards (``*`` or ``?``)."""
    return any(ch in name for ch in "*?")


def is_system_name(name: str) -> bool:
    """Dot-prefixed names: system indices (.security, .kibana, .opendistro_security, .tasks...)
    and hidden indices by convention."""
    return name.startswith(".")


def pattern_matches(pattern: str, name: str, hidden: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether ``pattern`` selects ``name``: exact names always; wildcards skip system and hidden
    indices unless the pattern itself starts with a dot."""
    if pattern == name:
        return True
    if not fnmatch.fnmatchcase(name, pattern):
        return False
    return pattern.startswith(".") or not (is_system_name(name) or name in hidden)


def is_exclusion(pattern: str) -> bool:
    """``-pattern``: removes what it matches from what the patterns before it selected."""
    return pattern.startswith("-")


def select(
    patterns: Iterable[str], available: Iterable[str], hidden: frozenset[str] | set[str] = frozenset()
) -> dict[str, list[str]]:
    """For each pattern (exclusions left out), the available names it selects (sorted); like
    plain globbing but leaving system and hidden indices out of wildcard matches."""
    names = sorted(set(available))
    return {p: [n for n in names if pattern_matches(p, n, hidden)] for p in patterns if not is_exclusion(p)}


def selected(
    patterns: Iterable[str], available: Iterable[str], hidden: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """Every name the patterns select, sorted, read in order as the engines read a multi-target
    list: a pattern adds what it selects, an exclusion removes what its pattern matches from what
    came before it (``logs-*,-logs-debug-*``)."""
    names = sorted(set(available))
    chosen: set[str] = set()
    for pattern in patterns:
        if is_exclusion(pattern):
            chosen = {n for n in chosen if not fnmatch.fnmatchcase(n, pattern[1:])}
        else:
            chosen |= {n for n in names if pattern_matches(pattern, n, hidden)}
    return sorted(chosen)


def system_selected(names: Iterable[str]) -> list[str]:
    """The selected names that are system indices (named explicitly, or by a dot pattern)."""
    return sorted(n for n in names if is_system_name(n))
