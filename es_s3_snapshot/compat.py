"""Which destination can restore which index from a snapshot: one table of rules, and the judge.

Pure: no requests. ``judge`` takes what ``check`` and ``migrate`` read from the two clusters and
returns a ``Verdict`` (``ok``, ``warn`` or ``FAIL``) with the reason and what to do. The README
shows the same table ("Compatibility").

Index versions: ``index.version.created`` is an integer. Elasticsearch writes
``major*1000000 + minor*10000 + patch*100 + 99`` up to 8.10, then "IndexVersion" ids
(8.11+: 8_500_000 and up, 9.x: 9_000_000 and up), so the major is ``id // 1000000`` in every case.
OpenSearch writes the same layout XOR-ed with bit 27 (``0x08000000``), which is how an index
created by OpenSearch is told apart from one created by Elasticsearch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OK, WARN, FAIL = "ok", "warn", "FAIL"
ELASTICSEARCH, OPENSEARCH = "Elasticsearch", "OpenSearch"
OPENSEARCH_MASK = 0x08000000
NEW_ES_IDS = 8_500_000  # Elasticsearch 8.11+ index versions no longer spell the release


@dataclass(frozen=True)
class Rule:
    key: str
    text: str  # the rule in one sentence (the README table shows it)
    source: str  # where it is documented or seen


RULES: tuple[Rule, ...] = (
    Rule(
        "older",
        "Never restore into an older version than the one that wrote the snapshot or created the index.",
        "Elastic docs, Snapshot and restore > 'Snapshot compatibility'; OpenSearch docs, Snapshots > "
        "'Restoring snapshots'; seen here: OS 3.3.2 -> 2.19.6 and ES 9.2.4 -> 8.19.21 answer 500",
    ),
    Rule(
        "es-es",
        "Elasticsearch -> Elasticsearch: indices created in the same major or the previous one restore.",
        "Elastic docs, 'Snapshot compatibility' (https://www.elastic.co/guide/en/elasticsearch/reference/"
        "current/snapshot-restore.html#snapshot-restore-version-compatibility); seen here: ES 7.17 -> 8.19",
    ),
    Rule(
        "es-archive",
        "Elasticsearch -> Elasticsearch, two or more majors forward: a plain restore refuses the index; 8.3+ "
        "can mount 5.x-7.x indices only as read-only archive indices (Enterprise license).",
        "Elastic docs, 'Reading indices from older Elasticsearch versions' (archive indices)",
    ),
    Rule(
        "es-os",
        "Elasticsearch -> OpenSearch: only indices created by Elasticsearch 7.10.2 or older (6.x only into "
        "OpenSearch 1.x), from a repository written by Elasticsearch 7.10.x or older; never into OpenSearch 3.",
        "OpenSearch docs, 'Migrating from Elasticsearch' / upgrade compatibility; opendistro-build#805, "
        "OpenSearch#17567 ('unknown field [uuid]' for repositories written by ES 7.12+); seen here: "
        "ES 7.10.2 -> OS 1.3.20 restores, ES 8.19.21 -> OS 2.19.6 cannot list the repository",
    ),
    Rule(
        "os-os",
        "OpenSearch -> OpenSearch: indices created in the same major or the previous one restore.",
        "OpenSearch docs, Upgrading OpenSearch > 'Compatibility' (one major version forward); "
        "seen here: OS 1.3 -> 2.19, OS 2.19 -> 3.3",
    ),
    Rule(
        "os-es",
        "OpenSearch -> Elasticsearch: never (different formats since the fork).",
        "Elastic and OpenSearch docs list no such path; the repository and index formats diverged after 7.10.2",
    ),
)
RULE = {rule.key: rule for rule in RULES}


@dataclass(frozen=True)
class Verdict:
    level: str  # OK, WARN or FAIL
    reason: str
    action: str = ""  # what to do, for warn and FAIL
    rule: str = ""  # RULES key


@dataclass(frozen=True)
class IndexVersion:
    engine: str
    major: int
    text: str  # "7.17.29", "OpenSearch 2.19.6", or "8.x (index version 8521000)"
    release: tuple[int, int, int] | None  # None when the id does not spell a release (ES 8.11+)


def parse_release(text: str) -> tuple[int, int, int]:
    """'8.19.21' -> (8, 19, 21); missing parts are 0; raises ValueError when there is no number."""
    numbers = [int(n) for n in re.findall(r"\d+", text.split("-")[0])[:3]]
    if not numbers:
        raise ValueError(f"not a version: {text!r}")
    return tuple((numbers + [0, 0])[:3])  # type: ignore[return-value]


def decode_created(created: int | str) -> IndexVersion:
    """What ``index.version.created`` says: the engine that created the index and its version."""
    value = int(created)
    engine = ELASTICSEARCH
    if value & OPENSEARCH_MASK:
        engine, value = OPENSEARCH, value ^ OPENSEARCH_MASK
    major = value // 1_000_000
    if engine == ELASTICSEARCH and value >= NEW_ES_IDS:
        return IndexVersion(engine, major, f"{major}.x (index version {value})", None)
    release = (major, (value // 10_000) % 100, (value // 100) % 100)
    prefix = "OpenSearch " if engine == OPENSEARCH else ""
    return IndexVersion(engine, major, prefix + ".".join(map(str, release)), release)


def _fail(rule: str, reason: str, action: str) -> Verdict:
    return Verdict(FAIL, reason, action, rule)


def judge(
    source_engine: str,
    created: int | str,
    dest_engine: str,
    dest_version: str,
    writer_version: str,
) -> Verdict:
    """Can a ``dest_engine`` ``dest_version`` cluster restore an index created as ``created``, from a
    repository written by ``source_engine`` ``writer_version`` (the newest version that wrote to it)?
    """
    index = decode_created(created)
    dest = parse_release(dest_version)
    writer = parse_release(writer_version)
    where = f"{dest_engine} {dest_version}"
    if (
        source_engine == OPENSEARCH
        and dest_engine == ELASTICSEARCH
        or index.engine == OPENSEARCH
        and dest_engine == ELASTICSEARCH
    ):
        return _fail(
            "os-es",
            f"OpenSearch snapshots cannot be restored into {where}",
            "reindex from a remote cluster, or re-ingest",
        )
    if source_engine == dest_engine and writer > dest:
        return _fail(
            "older",
            f"the snapshot is written by {source_engine} {writer_version}, newer than {where}",
            f"upgrade the destination to {writer_version} or later",
        )
    if index.engine == dest_engine and index.release and index.release > dest:
        return _fail("older", f"index created by {index.text}, newer than {where}", "upgrade the destination")
    if index.engine == dest_engine and index.major > dest[0]:
        return _fail("older", f"index created by {index.text}, newer than {where}", "upgrade the destination")
    if index.engine == ELASTICSEARCH and dest_engine == ELASTICSEARCH:
        if dest[0] - index.major <= 1:
            return Verdict(OK, f"index created by {index.text} restores into {where}", rule="es-es")
        archive = dest >= (8, 3, 0) and index.major >= 5
        return _fail(
            "es-archive",
            f"index created by {index.text} is {dest[0] - index.major} majors older than {where}: a restore refuses it"
            + (" (it could only be mounted as a read-only archive index, Enterprise license)" if archive else ""),
            f"restore it into Elasticsearch {index.major + 1}.x first and reindex it there, then migrate that",
        )
    if index.engine == ELASTICSEARCH and dest_engine == OPENSEARCH:
        if source_engine == ELASTICSEARCH and writer > (7, 10, 99):
            return _fail(
                "es-os",
                f"the repository is written by Elasticsearch {writer_version}; OpenSearch reads repositories "
                "written by Elasticsearch 7.10.x or older only",
                "reindex from remote into OpenSearch, or go through an Elasticsearch 7.10.2 cluster",
            )
        if index.release is None or index.release > (7, 10, 2):
            return _fail(
                "es-os",
                f"index created by Elasticsearch {index.text}; OpenSearch restores indices created by 7.10.2 or older",
                "reindex from remote into OpenSearch",
            )
        if dest[0] >= 3 or (index.major <= 6 and dest[0] >= 2):
            return _fail(
                "es-os",
                f"index created by Elasticsearch {index.text} is too old for {where}",
                "restore into OpenSearch 1.x (6.x indices) or 2.x (7.x indices), reindex there, then migrate that",
            )
        return Verdict(OK, f"index created by Elasticsearch {index.text} restores into {where}", rule="es-os")
    # OpenSearch -> OpenSearch
    if dest[0] - index.major <= 1:
        return Verdict(OK, f"index created by {index.text} restores into {where}", rule="os-os")
    return _fail(
        "os-os",
        f"index created by {index.text} is {dest[0] - index.major} majors older than {where}",
        f"restore it into OpenSearch {index.major + 1}.x first and reindex it there, then migrate that",
    )
