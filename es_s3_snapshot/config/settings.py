"""The frozen settings the rest of the tool reads, one dataclass per section or group of sections."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .keys import AUTH_KINDS, EXISTING_POLICIES, SIDES  # noqa: F401

# --- the settings the rest of the tool reads -----------------------------------------------------


@dataclass(frozen=True)
class SideConfig:
    """How to reach one cluster: its seeds, credentials, TLS, proxy and timeouts."""

    name: str  # "source" or "destination"
    seeds: tuple[str, ...]
    seed_key: str  # the key prefix the seeds came from, for messages
    auth: str = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    verify_certs: bool = True
    ca_certs: str | None = None
    request_timeout: float = 60.0
    long_request_timeout: float = 600.0  # calls that may take long: restore start, repository reads, verify
    proxy: str | None = None
    aws_region: str | None = None
    aws_profile: str | None = None
    aws_access_key: str | None = None
    aws_secret_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)


class SideNotLoaded(RuntimeError):
    """A bug: code used a side whose settings and secrets this run did not load (exit 4)."""


@dataclass(frozen=True)
class UnloadedSide:
    """Stands for a side the run does not work on: its keys were checked, its secrets not read.

    Any use but ``name`` raises SideNotLoaded, so a mode can never run on it without credentials.
    """

    name: str

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise SideNotLoaded(
            f"bug: the {self.name} side's settings were not loaded for this run "
            f"(the mode must be in modes.TWO_SIDED, or config.load(..., sides=...) name {self.name})"
        )


@dataclass(frozen=True)
class RepositoryConfig:
    name: str
    type: str = "s3"
    bucket: str | None = None
    base_path: str | None = None
    location: str | None = None
    region: str | None = None  # sent only to AWS managed domains (with role_arn)
    readonly_on_destination: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)  # REPOSITORY_PASSTHROUGH keys that are set


@dataclass(frozen=True)
class SnapshotConfig:
    name: str  # may hold strftime patterns; expanded when the backup starts
    indices: tuple[str, ...]
    include_global_state: bool = False
    partial: bool = False
    ignore_unavailable: bool = False
    concurrent_wait: float = 600.0
    retries: int = 1  # a PARTIAL/FAILED snapshot with a transient cause is taken again, as <name>-retryN


@dataclass(frozen=True)
class RestoreConfig:
    snapshot: str  # a name (strftime patterns allowed) or "latest"
    existing_indices: str = "refuse"
    confirm_delete: bool = False
    rename_pattern: str | None = None
    rename_replacement: str | None = None
    index_settings: Mapping[str, Any] = field(default_factory=dict)
    wait_for_status: str = "yellow"
    include_aliases: bool = True
    partial: bool = False
    ignore_unavailable: bool = False
    include_global_state: bool = False  # never by default: see selection.py
    feature_states: tuple[str, ...] = ()  # Elasticsearch 8+ feature states to restore; none by default
    ignore_index_settings: tuple[str, ...] = ()  # index settings left out of the restored indices (drill)


@dataclass(frozen=True)
class WaitConfig:
    poll_interval: float = 5.0
    max_wait: float = 21600.0
    progress_interval: float = 30.0
    stall_timeout: float = 300.0  # a restore whose unassigned primaries do not move fails after this


@dataclass(frozen=True)
class StoreConfig:
    """One object store that -m sync reads (source) or writes (destination) through boto3."""

    side: str  # "source" or "destination"
    section: str  # "source_store" / "destination_store", for messages
    bucket: str
    base_path: str = ""
    endpoint_url: str | None = None  # None: AWS S3 of the region
    region: str | None = None
    profile: str | None = None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    addressing_style: str = "auto"
    verify: bool = True
    ca_bundle: str | None = None
    connect_timeout: float = 10.0  # seconds for a connection (TCP, proxy tunnel, TLS handshake)
    read_timeout: float = 120.0  # seconds each read from the socket may wait
    outage_wait: float = 60.0  # seconds the store may be away once it has answered (a restart)

    def __str__(self) -> str:
        where = f"s3://{self.bucket}/{self.base_path}".rstrip("/")
        return f"{self.side} store {where}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")


@dataclass(frozen=True)
class SyncConfig:
    workers: int = 16
    multipart_threshold: int = 200 * 1024**2
    multipart_chunksize: int = 8 * 1024**2
    server_side_copy: str = "auto"
    delete: bool = False  # --delete: remove destination objects the source no longer has


@dataclass(frozen=True)
class ScrubConfig:
    workers: int = 8  # blobs read at once (and shard folders worked on at once)


@dataclass(frozen=True)
class RetentionConfig:
    """[retention]: which of this tool's snapshots prune keeps (None: the rule is not set)."""

    keep_last: int | None = None
    keep_hourly: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None
    max_age: float | None = None  # seconds
    min_count: int = 1
    prune_after_backup: bool = False

    @property
    def has_rule(self) -> bool:
        return any(getattr(self, k) is not None for k in RETENTION_RULES)


RETENTION_RULES = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "max_age")


@dataclass(frozen=True)
class DrillConfig:
    prefix: str = "drill-"  # the restored copies' names: prefix + the index's name


@dataclass(frozen=True)
class CacheConfig:
    enabled: bool = True  # list and prune keep the details of ended snapshots (snapcache.py)
    dir: str | None = None  # None: the runner's cache directory (snapcache.default_dir)


@dataclass(frozen=True)
class LockConfig:
    dir: str | None = None  # None: the runner's private directory (ownfiles.default_dir)
    wait: int = 0  # seconds to wait for the holder


@dataclass(frozen=True)
class ReportConfig:
    json_file: str | None = None
    prometheus_file: str | None = None
    ping_url: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Config:
    path: str
    source: SideConfig  # an UnloadedSide when load(..., sides=...) left it out
    destination: SideConfig
    repository: RepositoryConfig
    snapshot: SnapshotConfig
    restore: RestoreConfig
    wait: WaitConfig
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    lock: LockConfig = field(default_factory=LockConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    s3_keys_in_file: bool = False  # [aws_api_keys] was filled in: it is not sent to clusters any more
    secrets: tuple[str, ...] = field(default=(), repr=False)  # every secret value, for redaction
    destination_repository: RepositoryConfig | None = None  # [destination_repository], when present
    source_store: StoreConfig | None = None  # [source_store], when present
    destination_store: StoreConfig | None = None  # [destination_store], when present
    sync: SyncConfig = field(default_factory=SyncConfig)
    drill: DrillConfig = field(default_factory=DrillConfig)
    scrub: ScrubConfig = field(default_factory=ScrubConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)

    def side(self, name: str) -> SideConfig:
        return self.source if name == "source" else self.destination

    def repository_for(self, side: str) -> RepositoryConfig:
        """The repository that ``side`` registers: [destination_repository] on the destination when
        the file has one, else [repository] (with [aws_s3_config]) on both sides."""
        if side == "destination" and self.destination_repository is not None:
            return self.destination_repository
        return self.repository

    def store(self, side: str) -> StoreConfig | None:
        """The object store of ``side`` for -m sync, or None when its section is absent."""
        return self.source_store if side == "source" else self.destination_store


@dataclass(frozen=True)
class Overrides:
    """Values from the command line that win over the file."""

    snapshot: str | None = None
    indices: tuple[str, ...] | None = None
    existing_indices: str | None = None
    confirm_delete: bool = False
    delete: bool = False  # sync --delete
