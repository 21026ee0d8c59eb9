"""Pure helpers about names: snapshot names, index patterns and renaming on restore."""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime

_BAD_SNAPSHOT_CHARS = set(' ,"*\\<|>/?#')


def expand_snapshot_name(pattern: str, now: datetime) -> str:
    """Expand strftime patterns in a snapshot name and check the result.

    Raises ValueError saying what is wrong with the name.
    """
    name = now.strftime(pattern) if "%" in pattern else pattern
    if not name:
        raise ValueError("is empty")
    if name != name.lower():
        raise ValueError(f"must be lowercase: {name!r}")
    if name.startswith(("_", "-")) or any(ch in _BAD_SNAPSHOT_CHARS for ch in name):
        raise ValueError(f"is not a valid snapshot name: {name!r} (no spaces, commas, wildcards or leading _)")
    return name


MAX_LISTED = 10


def listed(names: list[str], limit: int = MAX_LISTED) -> str:
    """A long list of names as a count and the first few: 'a, b, c and 997 more'."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def chunks(names: list[str], limit: int = 3000) -> list[list[str]]:
    """Split names into comma lists of at most ``limit`` characters, to stay under the engines'
    4 KB request-line limit when a call takes names only in its URL."""
    out: list[list[str]] = []
    size = limit + 1
    for name in names:
        if size + len(name) + 1 > limit:
            out.append([])
            size = 0
        out[-1].append(name)
        size += len(name) + 1
    return out


def pattern_regex(pattern: str) -> re.Pattern:
    """A regular expression matching every name ``expand_snapshot_name(pattern, ...)`` can give."""
    parts = re.split(r"(%[a-zA-Z%])", pattern)
    regex = "".join(
        "%" if part == "%%" else r"[a-z0-9]+?" if part.startswith("%") and len(part) == 2 else re.escape(part.lower())
        for part in parts
    )
    return re.compile(regex)


def is_pattern(name: str) -> bool:
    return any(ch in name for ch in "*?")


def match_indices(patterns: tuple[str, ...], available: list[str]) -> dict[str, list[str]]:
    """For each pattern, the available index names it matches (exact names match themselves)."""
    return {p: sorted(n for n in available if fnmatch.fnmatchcase(n, p)) for p in patterns}


def renamed(index: str, pattern: str | None, replacement: str | None) -> str:
    """The name an index gets on restore, applying the engine's Java-style rename (``$1`` groups)."""
    if pattern is None:
        return index
    python_replacement = re.sub(r"\$(\d+)", r"\\g<\1>", (replacement or "").replace("\\", "\\\\"))
    return re.sub(pattern, python_replacement, index)
