"""Pure helpers about names: the engines' naming rules, snapshot names, index patterns and renaming.

The rules are those Elasticsearch 7+ and OpenSearch apply when an index or snapshot is created
(``MetadataCreateIndexService.validateIndexOrAliasName``, ``SnapshotsService.validate``), so that a
name no engine accepts is refused when the config is loaded, not halfway through a run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from .selection import is_exclusion

MAX_NAME_BYTES = 255
_BAD_INDEX_CHARS = '\\/*?"<>| ,#:'  # ':' is refused for new indices since Elasticsearch 7 (and by OpenSearch)
_BAD_SNAPSHOT_CHARS = '\\/*?"<>| ,#'
_WILDCARDS = "*?"
# Each strftime directive whose output the engines accept (digits only), with exactly what it
# produces: a snapshot name is matched to its pattern by these, never by "any run of characters",
# so a name chosen by hand (``nightly-before-upgrade``) never passes for ``nightly-%Y.%m.%d``.
DIRECTIVE_REGEX = {
    "Y": "[0-9]{4}",  # year
    "G": "[0-9]{4}",  # ISO year
    "y": "[0-9]{2}",  # year in the century
    "m": "(?:0[1-9]|1[0-2])",  # month
    "d": "(?:0[1-9]|[12][0-9]|3[01])",  # day of the month
    "j": "(?:00[1-9]|0[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6])",  # day of the year
    "H": "(?:[01][0-9]|2[0-3])",  # hour (24)
    "I": "(?:0[1-9]|1[0-2])",  # hour (12)
    "M": "[0-5][0-9]",  # minute
    "S": "[0-5][0-9]",  # second
    "f": "[0-9]{6}",  # microseconds
    "V": "(?:0[1-9]|[1-4][0-9]|5[0-3])",  # ISO week
    "U": "(?:[0-4][0-9]|5[0-3])",  # week of the year (Sunday first)
    "W": "(?:[0-4][0-9]|5[0-3])",  # week of the year (Monday first)
    "u": "[1-7]",  # ISO weekday
    "w": "[0-6]",  # weekday (Sunday 0)
}
STRFTIME_DIRECTIVES = "".join(DIRECTIVE_REGEX)
# two fixed moments a pattern is expanded at to check it: every field with one and two digits
_SAMPLE_TIMES = (datetime(2026, 1, 2, 3, 4, 5, 6), datetime(2026, 12, 31, 23, 59, 58, 999999))


def _control(name: str) -> str | None:
    return next((ch for ch in name if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0), None)


# Each *_problem function returns None for a good name, else "<the name quoted> <what is wrong>",
# so that callers can write "<file>: [section] key <problem>" or "--indices <problem>".


def _common_problem(name: str) -> str | None:
    """What breaks both index and snapshot rules: empty, control characters, too long, capitals."""
    if not name:
        return "is empty"
    control = _control(name)
    if control is not None:
        return f"{name!r} holds the control character {ord(control):#04x}"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"{name[:40]!r}... is longer than {MAX_NAME_BYTES} bytes"
    if name != name.lower():
        return f"{name!r} must be lowercase"
    return None


def _bad_chars(name: str, bad: str) -> str | None:
    found = sorted({ch for ch in name if ch in bad})
    return f"{name!r} must not contain {' '.join(repr(ch) for ch in found)}" if found else None


def index_name_problem(name: str, *, pattern: bool = True) -> str | None:
    """Why no engine would take ``name`` as an index name (with ``pattern``: as an index pattern
    with ``*`` / ``?`` wildcards); None when it is fine.

    A leading ``-`` is refused here: exclusions are judged in their list (``name_list_problem``).
    """
    problem = _common_problem(name)
    if problem:
        return problem
    if name in (".", ".."):
        return f"{name!r} is not an index name"
    if name[0] in "-_+":
        hint = " (an exclusion -pattern must follow the patterns it narrows)" if name[0] == "-" else ""
        return f"{name!r} must not start with {name[0]!r}{hint}"
    return _bad_chars(name, "".join(ch for ch in _BAD_INDEX_CHARS if not (pattern and ch in _WILDCARDS)))


def name_list_problem(names: Sequence[str]) -> str | None:
    """Why a list of index names and patterns is refused; None when it is fine. An exclusion
    (``-pattern``, as in the engines' multi-target syntax) removes what its pattern matches from
    what the entries before it selected, so it cannot come first."""
    for position, name in enumerate(names):
        if is_exclusion(name) and position > 0 and len(name) > 1:
            problem = index_name_problem(name[1:])
            if problem:
                return f"{problem} (in the exclusion {name!r})"
            continue
        problem = index_name_problem(name)
        if problem:
            return problem
    return None


def snapshot_name_problem(name: str) -> str | None:
    """Why no engine would take ``name`` (already expanded) as a snapshot name; None when it is fine."""
    problem = _common_problem(name)
    if problem:
        return problem
    if name[0] in "_-":
        return f"{name!r} must not start with {name[0]!r}"
    return _bad_chars(name, _BAD_SNAPSHOT_CHARS)


def snapshot_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` (a snapshot name with strftime directives) cannot give a valid snapshot name:
    a lone or unknown ``%`` directive, or an expansion the engines refuse. None when it is fine."""
    for match in re.finditer(r"%(.?)", pattern, re.DOTALL):
        directive = match.group(1)
        if not directive:
            return f"{pattern!r} ends with a lone % (write %% for a percent sign)"
        if directive != "%" and directive not in STRFTIME_DIRECTIVES:
            allowed = " ".join(f"%{d}" for d in STRFTIME_DIRECTIVES)
            return f"{pattern!r} has %{directive}, which is not one of {allowed} %%"
    for moment in _SAMPLE_TIMES:
        name = moment.strftime(pattern) if "%" in pattern else pattern
        problem = snapshot_name_problem(name)
        if problem:
            return problem if name == pattern else f"{problem} (from {pattern!r})"
    return None


def expand_snapshot_name(pattern: str, now: datetime) -> str:
    """Expand strftime patterns in a snapshot name and check the result.

    Raises ValueError saying what is wrong with the name.
    """
    problem = snapshot_pattern_problem(pattern)
    name = now.strftime(pattern) if "%" in pattern else pattern
    problem = problem or snapshot_name_problem(name)
    if problem:
        raise ValueError(problem)
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
    """A regular expression whose ``fullmatch`` accepts exactly the names ``expand_snapshot_name(pattern, ...)``
    can give: each directive matches only what it produces (``%Y`` four digits, ``%m`` 01 to 12...),
    the rest of the pattern only itself. The one rule for matching a snapshot name to a pattern
    (prune and retention, restore's newest matching snapshot, migrate's names).

    Raises ValueError for a directive that ``snapshot_pattern_problem`` refuses."""
    parts = re.split(r"(%.)", pattern, flags=re.DOTALL)
    regex = []
    for part in parts:
        if part == "%%":
            regex.append("%")
        elif len(part) == 2 and part[0] == "%":
            if part[1] not in DIRECTIVE_REGEX:
                raise ValueError(f"{pattern!r} has {part}, which no snapshot name pattern may hold")
            regex.append(DIRECTIVE_REGEX[part[1]])
        else:
            regex.append(re.escape(part))
    return re.compile("".join(regex))


RETRY_SUFFIX = "-retry"  # a snapshot taken again after a transient failure: <name>-retry1, <name>-retry2, ...


def retry_name(name: str, attempt: int) -> str:
    """The name of retry ``attempt`` (1, 2, ...) of snapshot ``name``."""
    return f"{name}{RETRY_SUFFIX}{attempt}"


def series_regex(pattern: str) -> re.Pattern:
    """``pattern_regex`` that also matches the tool's retries of those names (``<name>-retryN``)."""
    return re.compile(f"(?:{pattern_regex(pattern).pattern})(?:{re.escape(RETRY_SUFFIX)}[1-9][0-9]*)?")


_BACKING = re.compile(r"\.ds-(.+)-\d{6}")  # .ds-<stream>-<generation>, or .ds-<stream>-<yyyy.MM.dd>-<generation>
_DATED = re.compile(r"(.+)-\d{4}\.\d{2}\.\d{2}")


def backing_stream(index: str, streams) -> str | None:
    """The data stream of ``streams`` whose backing index ``index`` is, by the engines' naming
    (``.ds-<stream>-000001``, or ``.ds-<stream>-2024.01.31-000001`` from Elasticsearch 7.11), or
    None. Exact: ``.ds-logs-web-000001`` is the stream ``logs-web``'s, never ``logs``'s."""
    match = _BACKING.fullmatch(index)
    if match is None:
        return None
    name = match.group(1)
    if name in streams:
        return name
    dated = _DATED.fullmatch(name)
    return dated.group(1) if dated and dated.group(1) in streams else None


def renamed_backing(index: str, pattern: str | None, replacement: str | None) -> str:
    """The name a data stream's backing index gets on restore: the engines rename what follows
    ``.ds-`` (RestoreService.renameIndex), so ``.ds-logs-000001`` becomes ``.ds-<renamed logs>-000001``."""
    return ".ds-" + renamed(index[4:], pattern, replacement)


def renamed(index: str, pattern: str | None, replacement: str | None) -> str:
    """The name an index gets on restore, applying the engine's Java-style rename (``$1`` groups)."""
    if pattern is None:
        return index
    python_replacement = re.sub(r"\$(\d+)", r"\\g<\1>", (replacement or "").replace("\\", "\\\\"))
    return re.sub(pattern, python_replacement, index)
