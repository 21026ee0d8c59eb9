"""The INI configuration: where it is found, every key it may hold, and the frozen settings it becomes.

Every key the tool knows stands once, in ``KEYS``, with its parser and default. ``load`` reads a
file, checks every value against that table and returns a ``Config``; anything missing or malformed
raises ``ConfigError`` naming the file, the section and the key. The original es-s3-snapshot
format (``[aws_api_keys]``, ``[aws_s3_config]``, ``[elasticsearch_config]``, ``[elastic_cloud]``)
loads unchanged; the newer sections (``[source]``, ``[destination]``, ``[repository]``,
``[snapshot]``, ``[restore]``, ``[wait]``) are optional.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import configparser
import difflib
import json
import logging
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .names import index_name_problem, snapshot_pattern_problem
from .redact import Redactor, mask_userinfo

logger = logging.getLogger(__name__)

CONFIG_ENV = "ES_S3_SNAPSHOT_CONFIG"
DEFAULT_LOCATIONS = ("./es-s3-snapshot.conf", "/etc/es-s3-snapshot.conf")
DEFAULT_SNAPSHOT_NAME = "snapshot-%Y_%m_%dt%H-%M-%S"  # the original tool's, lowercased: engines refuse capitals
LATEST = "latest"

SIDES = ("source", "destination")
SEED_PREFIX = {"source": "es_src_seed", "destination": "es_dest_seed"}
AUTH_KINDS = ("none", "basic", "api_key", "sigv4")
EXISTING_POLICIES = ("refuse", "close", "rename", "delete")


# --- value parsers: each takes the raw string and returns the value, or raises ValueError --------


def _text(raw: str) -> str:
    if not raw:
        raise ValueError("is empty")
    return raw


def _boolean(raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "yes", "true", "on"):
        return True
    if value in ("0", "no", "false", "off"):
        return False
    raise ValueError(f"must be true or false, not {raw!r}")


HOUR, DAY = 3600, 86400


def _seconds(limit: int, words: str) -> Callable[[str], float]:
    """A parser for a finite number of seconds, more than 0 and at most ``limit`` (``words`` says it)."""

    def parse(raw: str) -> float:
        bounds = f"more than 0 and at most {limit} seconds ({words})"
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"must be a number of seconds, {bounds}, not {raw!r}") from None
        if not math.isfinite(value) or not 0 < value <= limit:
            raise ValueError(f"must be {bounds}, not {raw!r}")
        return value

    return parse


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, not {raw!r}")
        return raw

    return parse


def _json_object(raw: str) -> dict:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"must be a JSON object ({err.msg} at column {err.colno})") from None
    except RecursionError:
        raise ValueError("must be a JSON object, not nested this deep") from None
    if not isinstance(value, dict):
        raise ValueError('must be a JSON object such as {"index.number_of_replicas": 0}')
    return value


def _name_list(raw: str) -> tuple[str, ...]:
    """Comma-separated index names or patterns, each checked against the engines' naming rules."""
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not names:
        raise ValueError("names no index")
    for name in names:
        problem = index_name_problem(name)
        if problem:
            raise ValueError(problem)
    return names


def _snapshot_pattern(raw: str) -> str:
    """A snapshot name, possibly with strftime directives, that expands to a name engines accept."""
    problem = snapshot_pattern_problem(raw)
    if problem:
        raise ValueError(problem)
    return raw


def _snapshot_or_latest(raw: str) -> str:
    return raw if raw == LATEST else _snapshot_pattern(raw)


def api_key_problem(key: str) -> str | None:
    """Why ``key`` is neither the base64 "encoded" API key nor ``id:api_key`` (never quoting it)."""
    form = 'must be the base64 "encoded" API key or id:api_key'
    if any(ch.isspace() or ord(ch) < 0x20 for ch in key):
        return f"{form}, without spaces or control characters"
    try:
        key.encode("latin-1")
    except UnicodeEncodeError:
        return f"{form}, in ASCII (it holds characters an HTTP header cannot carry)"
    if ":" in key:
        key_id, _, secret = key.partition(":")
        return None if key_id and secret else f"{form}: id or key is empty"
    try:
        decoded = base64.b64decode(key, validate=True).decode("latin-1")
    except (binascii.Error, ValueError):
        return f"{form}: it is neither base64 nor holds a ':'"
    key_id, _, secret = decoded.partition(":")
    if not key_id or not secret:
        return f"{form}: it is base64 but does not decode to id:api_key"
    return None


def _api_key(raw: str) -> str:
    problem = api_key_problem(raw)
    if problem:
        raise ValueError(problem)
    return raw


def _file_path(raw: str) -> str:
    """A path to a file; that it exists is checked only for the sides a run works on."""
    return os.path.expanduser(raw)


def _proxy_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
        raise ValueError(f"must be a URL such as http://host:3128 or socks5h://host:1080, not {mask_userinfo(raw)!r}")
    return raw


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"must be 1 or more, not {raw!r}")
    return value


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}


def _size(raw: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([a-zA-Z]*)", raw)
    unit = match.group(2).lower().replace("ib", "b") if match else None
    if not match or unit not in _SIZE_UNITS or int(match.group(1)) < 1:
        raise ValueError(f"must be a size such as 8MB, 64MiB or 1GB, not {raw!r}")
    return int(match.group(1)) * _SIZE_UNITS[unit]


def _url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) URL such as https://s3.eu-west-1.amazonaws.com, not {raw!r}")
    if parts.username or parts.password:
        raise ValueError("must not hold credentials: set access_key/secret_key or profile")
    return raw.rstrip("/")


def _repository_name(raw: str) -> str:
    if not raw or any(ch in raw for ch in ' ,*"\\/?<>|#'):
        raise ValueError(f"is not a valid repository name: {raw!r}")
    return raw


def _count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"must be 0 or more, not {raw!r}")
    return value


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(raw: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``12h``, ``30d`` or ``2w``; raise ValueError otherwise."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw]?)", raw.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"must be a duration such as 30d, 12h, 90m or 3600 (seconds), not {raw!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]


def _directory(raw: str) -> str:
    path = os.path.expanduser(raw)
    if not os.path.isdir(path):
        raise ValueError(f"names a directory that does not exist: {raw}")
    return path


def _output_path(raw: str) -> str:
    """A file the tool writes: its directory must exist."""
    path = os.path.expanduser(raw)
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise ValueError(f"is in a directory that does not exist: {raw}")
    return path


def _http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL such as https://hc-ping.com/<uuid>")
    return raw.rstrip("/")


def parse_seed(raw: str) -> str:
    """Turn ``host:port`` or a URL into a normalised base URL; raise ValueError when it is neither."""
    text = raw.strip()
    if not text:
        raise ValueError("is empty")
    raw = mask_userinfo(raw)  # every message below may quote it, never with a password
    url = text if "://" in text else f"http://{text}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must be host:port or an http(s) URL, not {raw!r}")
    if parts.username or parts.password:
        raise ValueError("must not hold credentials: set username/password in [source] or [destination]")
    if not parts.hostname:
        raise ValueError(f"has no host name: {raw!r}")
    try:
        port = parts.port or (9200 if "://" not in text else 443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"has a bad port: {raw!r}") from None
    if parts.query or parts.fragment:
        raise ValueError(f"must not hold a query or fragment: {raw!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class Key:
    parse: Callable[[str], Any] = _text
    default: Any = None
    secret: bool = False


_SIDE_KEYS = {
    "auth": Key(_choice(*AUTH_KINDS)),
    "username": Key(),
    "password": Key(secret=True),
    "password_env": Key(),
    "api_key": Key(_api_key, secret=True),
    "api_key_env": Key(),
    "verify_certs": Key(_boolean, True),
    "ca_certs": Key(_file_path),
    "request_timeout": Key(_seconds(DAY, "1 day"), 60.0),
    "long_request_timeout": Key(_seconds(DAY, "1 day"), 600.0),
    "proxy": Key(_proxy_url),
    "aws_region": Key(),
    "aws_profile": Key(),
    "aws_access_key": Key(),
    "aws_secret_key": Key(secret=True),
    "aws_session_token": Key(secret=True),
}

_REPOSITORY_KEYS = {
    "type": Key(_choice("s3", "fs"), "s3"),
    "location": Key(),
    "client": Key(),
    "role_arn": Key(),
    "server_side_encryption": Key(_boolean),
    "storage_class": Key(),
    "canned_acl": Key(),
    "compress": Key(_boolean),
    "chunk_size": Key(),
    "max_snapshot_bytes_per_sec": Key(),
    "max_restore_bytes_per_sec": Key(),
    "readonly_on_destination": Key(_boolean, True),
}

# An object store that -m sync reads from or writes to, with boto3 ([source_store], [destination_store]).
_STORE_KEYS = {
    "endpoint_url": Key(_url),
    "region": Key(),
    "bucket": Key(),
    "base_path": Key(_text),
    "profile": Key(),
    "access_key": Key(secret=True),  # never printed either
    "access_key_env": Key(),
    "secret_key": Key(secret=True),
    "secret_key_env": Key(),
    "session_token": Key(secret=True),
    "session_token_env": Key(),
    "addressing_style": Key(_choice("auto", "path", "virtual"), "auto"),
    "verify": Key(_boolean, True),
    "ca_bundle": Key(_file_path),
}

KEYS: dict[str, dict[str, Key]] = {
    "aws_api_keys": {
        "aws_access_key": Key(),
        "aws_secret_key": Key(secret=True),
    },
    "aws_s3_config": {
        "aws_region": Key(),
        "s3_bucket_name": Key(),
        "s3_base_path": Key(),
    },
    "elasticsearch_config": {
        "es_repository_name": Key(_repository_name),
        "index_names": Key(_name_list),
        "snapshot_name": Key(_snapshot_pattern),
        # es_src_seedN / es_dest_seedN are matched by SEED_PREFIX, for any N
    },
    "elastic_cloud": {
        "shield_auth_username": Key(),
        "shield_auth_password": Key(secret=True),
    },
    "source": _SIDE_KEYS,
    "destination": _SIDE_KEYS,
    "repository": _REPOSITORY_KEYS,
    # Unset keys fall back to [repository] / [aws_s3_config] (bucket, base_path, region).
    "destination_repository": {**_REPOSITORY_KEYS, "bucket": Key(), "base_path": Key(), "region": Key()},
    "source_store": _STORE_KEYS,
    "destination_store": _STORE_KEYS,
    "sync": {
        "workers": Key(_positive_int, 8),
        "multipart_threshold": Key(_size, 8 * 1024**2),
        "multipart_chunksize": Key(_size, 8 * 1024**2),
        "server_side_copy": Key(_choice("auto", "never"), "auto"),
    },
    "snapshot": {
        "include_global_state": Key(_boolean, False),
        "partial": Key(_boolean, False),
        "ignore_unavailable": Key(_boolean, False),
        "concurrent_wait": Key(_seconds(30 * DAY, "30 days"), 600.0),
    },
    "restore": {
        "snapshot": Key(_snapshot_or_latest),
        "existing_indices": Key(_choice(*EXISTING_POLICIES), "refuse"),
        "confirm_delete": Key(_boolean, False),
        "rename_pattern": Key(),
        "rename_replacement": Key(),
        "index_settings": Key(_json_object),
        "wait_for_status": Key(_choice("yellow", "green"), "yellow"),
        "include_aliases": Key(_boolean, True),
        "partial": Key(_boolean, False),
        "include_global_state": Key(_boolean, False),
        "feature_states": Key(_name_list),
    },
    "wait": {
        "poll_interval": Key(_seconds(HOUR, "1 hour"), 5.0),
        "max_wait": Key(_seconds(30 * DAY, "30 days"), 21600.0),
        "progress_interval": Key(_seconds(DAY, "1 day"), 30.0),
    },
    "retention": {
        "keep_last": Key(_count),
        "keep_hourly": Key(_count),
        "keep_daily": Key(_count),
        "keep_weekly": Key(_count),
        "keep_monthly": Key(_count),
        "keep_yearly": Key(_count),
        "max_age": Key(parse_duration),
        "min_count": Key(_count, 1),
        "prune_after_backup": Key(_boolean, False),
    },
    "lock": {
        "dir": Key(_directory),
        "wait": Key(_count, 0),
    },
    "report": {
        "json_file": Key(_output_path),
        "prometheus_file": Key(_output_path),
        "ping_url": Key(_http_url, secret=True),  # healthchecks.io URLs are the secret
    },
}

# Repository keys sent to the engine as they are, when set.
REPOSITORY_PASSTHROUGH = (
    "client",
    "role_arn",
    "server_side_encryption",
    "storage_class",
    "canned_acl",
    "compress",
    "chunk_size",
    "max_snapshot_bytes_per_sec",
    "max_restore_bytes_per_sec",
)


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
            f"(the mode must be in actions.TWO_SIDED, or config.load(..., sides=...) name {self.name})"
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


@dataclass(frozen=True)
class WaitConfig:
    poll_interval: float = 5.0
    max_wait: float = 21600.0
    progress_interval: float = 30.0


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

    def __str__(self) -> str:
        where = f"s3://{self.bucket}/{self.base_path}".rstrip("/")
        return f"{self.side} store {where}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")


@dataclass(frozen=True)
class SyncConfig:
    workers: int = 8
    multipart_threshold: int = 8 * 1024**2
    multipart_chunksize: int = 8 * 1024**2
    server_side_copy: str = "auto"
    delete: bool = False  # --delete: remove destination objects the source no longer has


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
class LockConfig:
    dir: str | None = None  # None: tempfile.gettempdir()
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


# --- finding and reading the file ----------------------------------------------------------------


def find_config(explicit: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """Return the config path: ``-c``, then $ES_S3_SNAPSHOT_CONFIG, then the default locations.

    Raise ConfigError listing every place looked at when none holds a file.
    """
    if explicit:
        if not os.path.isfile(explicit):
            raise ConfigError(f"config file not found: {explicit}")
        return explicit
    tried = []
    if environ.get(CONFIG_ENV):
        tried.append(f"${CONFIG_ENV}={environ[CONFIG_ENV]}")
        if os.path.isfile(environ[CONFIG_ENV]):
            return environ[CONFIG_ENV]
    for candidate in DEFAULT_LOCATIONS:
        tried.append(candidate)
        if os.path.isfile(candidate):
            return candidate
    raise ConfigError(f"no config file given with -c and none found; looked at: {', '.join(tried)}")


class _Reader:
    """Reads values out of a parsed INI file, naming file, section and key in every error."""

    def __init__(self, path: str, parser: configparser.ConfigParser, environ: Mapping[str, str]):
        self.path = path
        self.parser = parser
        self.environ = environ
        self.secrets: list[str] = []

    def error(self, section: str, key: str, problem: str) -> ConfigError:
        return ConfigError(Redactor(self.secrets)(f"{self.path}: [{section}] {key} {problem}"))

    def get(self, section: str, key: str) -> Any:
        spec = KEYS[section][key]
        if not self.parser.has_option(section, key):
            return spec.default
        raw = self.parser.get(section, key).strip()
        if spec.secret and raw:
            self.secrets.append(raw)
        try:
            return spec.parse(raw)
        except ValueError as err:
            raise self.error(section, key, str(err)) from None

    def require(self, section: str, key: str, why: str) -> Any:
        value = self.get(section, key)
        if value is None:
            raise self.error(section, key, f"is missing ({why})")
        return value

    def secret_from_env(
        self, section: str, key: str, check: Callable[[str], str | None] = lambda value: None
    ) -> str | None:
        """The value of the environment variable that ``<key>`` names, if the key is set; ``check``
        says what is wrong with a value (the message names the variable, never the value)."""
        var = self.get(section, key)
        if var is None:
            return None
        value = self.environ.get(var)
        if not value:
            raise self.error(section, key, f"names the environment variable {var}, which is not set")
        self.secrets.append(value)
        problem = check(value)
        if problem:
            raise self.error(section, key, f"names the environment variable {var}, whose value {problem}")
        return value

    def pair(self, section: str, first: str, a: Any, second: str, b: Any) -> None:
        if (a is None) != (b is None):
            missing, given = (first, second) if a is None else (second, first)
            raise self.error(section, missing, f"is missing: it goes together with {given}")


MAX_CONFIG_BYTES = 1 << 20


def decode_config(path: str, data: bytes) -> str:
    """The text of a config file: UTF-8, a UTF-8 BOM allowed, no NUL or control characters.

    Raises ConfigError saying where the first offending byte is (never quoting the text).
    """
    head = data[:64]
    zeros = max(head[0::2].count(0), head[1::2].count(0))  # UTF-16 without a BOM: every other byte is 0
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (len(head) >= 4 and zeros > len(head) // 4):
        raise ConfigError(f"{path}: is not UTF-8 text (it looks like UTF-16): save it as UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError(
            f"{path}: is not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start}, line {line}): save it as UTF-8"
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    bad = re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise ConfigError(f"{path}: holds the control character {ord(bad.group()):#04x} on line {line}")
    return text


def _ini_problem(err: configparser.Error) -> str:
    """One line for a configparser error, without quoting the offending line (it may hold a secret)."""
    if isinstance(err, configparser.MissingSectionHeaderError):
        return f"line {err.lineno}: a key before the first [section]"
    if isinstance(err, configparser.DuplicateSectionError):
        return f"line {err.lineno}: section [{err.section}] appears twice"
    if isinstance(err, configparser.DuplicateOptionError):
        return f"line {err.lineno}: [{err.section}] {err.option} is set twice"
    if isinstance(err, configparser.ParsingError) and err.errors:
        return f"line {err.errors[0][0]}: neither [section], key = value nor a comment"
    return type(err).__name__


def _read_ini(path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        inline_comment_prefixes=("#", ";"), interpolation=None, strict=True, empty_lines_in_values=False
    )
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from err
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: is larger than {MAX_CONFIG_BYTES // 1024} KiB: not a config file")
    try:
        parser.read_string(decode_config(path, data), source=path)
    except configparser.Error as err:
        raise ConfigError(f"{path}: not a valid INI file: {_ini_problem(err)}") from None
    return parser


def warn_if_readable(path: str, parser: configparser.ConfigParser) -> None:
    """Log one warning, as ssh does for keys, when a file holding secrets is readable by group or others."""
    holds = any(
        parser.has_option(section, key) and parser.get(section, key).strip()
        for section, keys in KEYS.items()
        if parser.has_section(section)
        for key, spec in keys.items()
        if spec.secret
    )
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if holds and mode & (stat.S_IRGRP | stat.S_IROTH):
        logger.warning(
            "%s is readable by group or others (mode %04o) and holds secrets: chmod 600 %s",
            path,
            stat.S_IMODE(mode),
            path,
        )


def _warn_unknown(path: str, parser: configparser.ConfigParser) -> None:
    for section in parser.sections():
        if section not in KEYS:
            hint = difflib.get_close_matches(section, KEYS, n=1)
            suffix = f" (did you mean [{hint[0]}]?)" if hint else ""
            logger.warning("%s: unknown section [%s] is ignored%s", path, section, suffix)
            continue
        for key in parser.options(section):
            if key in KEYS[section]:
                continue
            if section == "elasticsearch_config" and _seed_number(key) is not None:
                continue
            known = list(KEYS[section]) + (
                [f"{p}1" for p in SEED_PREFIX.values()] if section == "elasticsearch_config" else []
            )
            hint = difflib.get_close_matches(key, known, n=1)
            suffix = f" (did you mean {hint[0]}?)" if hint else ""
            logger.warning("%s: unknown key %s in [%s] is ignored%s", path, key, section, suffix)


def _seed_number(key: str) -> tuple[str, int] | None:
    for side, prefix in SEED_PREFIX.items():
        match = re.fullmatch(re.escape(prefix) + r"(\d+)", key)
        if match:
            return side, int(match.group(1))
    return None


def _read_seeds(reader: _Reader, side: str) -> tuple[str, ...]:
    section = "elasticsearch_config"
    if not reader.parser.has_section(section):
        return ()
    numbered = []
    for key in reader.parser.options(section):
        found = _seed_number(key)
        if found and found[0] == side:
            raw = reader.parser.get(section, key)
            try:
                numbered.append((found[1], parse_seed(raw)))
            except ValueError as err:
                raise reader.error(section, key, str(err)) from None
    unique: dict[str, int] = {}
    for number, url in sorted(numbered):
        if url in unique:
            logger.warning(
                "%s: %s%d repeats %s%d (%s); it is used once",
                reader.path,
                SEED_PREFIX[side],
                number,
                SEED_PREFIX[side],
                unique[url],
                url,
            )
            continue
        unique[url] = number
    return tuple(unique)


def _read_side(reader: _Reader, side: str, active: bool = True) -> SideConfig | UnloadedSide:
    """The settings of one side. For a side the run does not work on (``active`` false) every key
    is still checked, but no environment variable, CA file or pairing of credentials is: it gives
    an UnloadedSide."""
    get = lambda key: reader.get(side, key) if reader.parser.has_section(side) else KEYS[side][key].default  # noqa: E731
    seeds = _read_seeds(reader, side)
    if not active:
        return UnloadedSide(side)
    username, password = get("username"), get("password")
    if password is None and reader.parser.has_section(side):
        password = reader.secret_from_env(side, "password_env")
    api_key = get("api_key")
    if api_key is None and reader.parser.has_section(side):
        api_key = reader.secret_from_env(side, "api_key_env", api_key_problem)

    cloud = "elastic_cloud"
    if reader.parser.has_section(cloud) and username is None and password is None:
        username = reader.get(cloud, "shield_auth_username")
        password = reader.get(cloud, "shield_auth_password")
        reader.pair(cloud, "shield_auth_username", username, "shield_auth_password", password)
    else:
        reader.pair(side, "username", username, "password", password)

    access, secret = get("aws_access_key"), get("aws_secret_key")
    reader.pair(side, "aws_access_key", access, "aws_secret_key", secret)

    auth = get("auth")
    if auth is None:
        auth = "api_key" if api_key else "basic" if username else "none"
    if auth == "basic" and username is None:
        raise reader.error(side, "username", "is missing (auth = basic needs username and password)")
    if auth == "api_key" and api_key is None:
        raise reader.error(side, "api_key", "is missing (auth = api_key needs api_key or api_key_env)")
    if auth == "sigv4" and access is None and reader.parser.has_section("aws_api_keys"):
        access = reader.get("aws_api_keys", "aws_access_key")
        secret = reader.get("aws_api_keys", "aws_secret_key")
    ca_certs = get("ca_certs")
    verify = get("verify_certs")
    if ca_certs and not verify:
        raise reader.error(side, "ca_certs", "cannot be used with verify_certs = false")
    if ca_certs and not os.path.isfile(ca_certs):
        raise reader.error(side, "ca_certs", f"names a file that does not exist: {ca_certs}")

    return SideConfig(
        name=side,
        seeds=seeds,
        seed_key=SEED_PREFIX[side],
        auth=auth,
        username=username,
        password=password,
        api_key=api_key,
        verify_certs=verify,
        ca_certs=ca_certs,
        request_timeout=get("request_timeout"),
        long_request_timeout=get("long_request_timeout"),
        proxy=get("proxy"),
        aws_region=get("aws_region"),
        aws_profile=get("aws_profile"),
        aws_access_key=access,
        aws_secret_key=secret,
        aws_session_token=get("aws_session_token"),
    )


def _section_values(reader: _Reader, section: str) -> dict[str, Any]:
    if not reader.parser.has_section(section):
        return {key: spec.default for key, spec in KEYS[section].items()}
    return {key: reader.get(section, key) for key in KEYS[section]}


def _read_repository(reader: _Reader) -> RepositoryConfig:
    es = "elasticsearch_config"
    if not reader.parser.has_section(es):
        raise ConfigError(f"{reader.path}: section [{es}] is missing")
    name = reader.require(es, "es_repository_name", "the snapshot repository to register")
    values = _section_values(reader, "repository")
    s3 = _section_values(reader, "aws_s3_config")
    if values["type"] == "s3" and s3["s3_bucket_name"] is None:
        raise reader.error("aws_s3_config", "s3_bucket_name", "is missing (an s3 repository needs a bucket)")
    if values["type"] == "fs" and values["location"] is None:
        raise reader.error("repository", "location", "is missing (an fs repository needs a location)")
    extra = {key: values[key] for key in REPOSITORY_PASSTHROUGH if values[key] is not None}
    return RepositoryConfig(
        name=name,
        type=values["type"],
        bucket=s3["s3_bucket_name"],
        base_path=s3["s3_base_path"],
        location=values["location"],
        region=s3["aws_region"],
        readonly_on_destination=values["readonly_on_destination"],
        extra=extra,
    )


def _check_overrides(overrides: Overrides) -> None:
    """The command line's names follow the same rules as the file's."""
    for name in overrides.indices or ():
        problem = index_name_problem(name)
        if problem:
            raise ConfigError(mask_userinfo(f"--indices {problem}"))
    if overrides.snapshot is not None and overrides.snapshot != LATEST:
        problem = snapshot_pattern_problem(overrides.snapshot)
        if problem:
            raise ConfigError(mask_userinfo(f"--snapshot {problem}"))


def _read_destination_repository(reader: _Reader, source: RepositoryConfig) -> RepositoryConfig | None:
    """[destination_repository]: the keys it sets, over the source's repository for the rest."""
    section = "destination_repository"
    if not reader.parser.has_section(section):
        return None
    given = {key: reader.get(section, key) for key in KEYS[section] if reader.parser.has_option(section, key)}
    kind = given.get("type", source.type)
    bucket = given.get("bucket", source.bucket)
    location = given.get("location", source.location)
    if kind == "s3" and bucket is None:
        raise reader.error(section, "bucket", "is missing (an s3 repository needs a bucket)")
    if kind == "fs" and location is None:
        raise reader.error(section, "location", "is missing (an fs repository needs a location)")
    extra = dict(source.extra)
    extra.update({key: given[key] for key in REPOSITORY_PASSTHROUGH if key in given})
    return RepositoryConfig(
        name=source.name,
        type=kind,
        bucket=bucket,
        base_path=given.get("base_path", source.base_path),
        location=location,
        region=given.get("region", source.region),
        readonly_on_destination=given.get("readonly_on_destination", source.readonly_on_destination),
        extra=extra,
    )


def _read_store(reader: _Reader, side: str, repository: RepositoryConfig, secrets: bool) -> StoreConfig | None:
    """[<side>_store]; bucket and base_path default to the side's repository. Its keys' environment
    variables are read only when ``secrets`` (the modes that copy between stores)."""
    section = f"{side}_store"
    if not reader.parser.has_section(section):
        return None
    values = _section_values(reader, section)
    for key in ("access_key", "secret_key", "session_token"):
        if values[key] is None and secrets:
            values[key] = reader.secret_from_env(section, f"{key}_env")
    reader.pair(section, "access_key", values["access_key"], "secret_key", values["secret_key"])
    if values["profile"] and values["access_key"]:
        raise reader.error(section, "profile", "cannot be used with access_key/secret_key: choose one")
    if values["ca_bundle"] and not values["verify"]:
        raise reader.error(section, "ca_bundle", "cannot be used with verify = false")
    if values["ca_bundle"] and secrets and not os.path.isfile(values["ca_bundle"]):
        raise reader.error(section, "ca_bundle", f"names a file that does not exist: {values['ca_bundle']}")
    bucket = values["bucket"] or (repository.bucket if repository.type == "s3" else None)
    if not bucket:
        raise reader.error(section, "bucket", "is missing (and the repository of this side names none)")
    base_path = values["base_path"] if values["base_path"] is not None else (repository.base_path or "")
    return StoreConfig(
        side=side,
        section=section,
        bucket=bucket,
        base_path=base_path.strip("/"),
        endpoint_url=values["endpoint_url"],
        region=values["region"] or repository.region,
        profile=values["profile"],
        access_key=values["access_key"],
        secret_key=values["secret_key"],
        session_token=values["session_token"],
        addressing_style=values["addressing_style"],
        verify=values["verify"],
        ca_bundle=values["ca_bundle"],
    )


def load(
    path: str,
    overrides: Overrides = Overrides(),
    environ: Mapping[str, str] = os.environ,
    sides: tuple[str, ...] = SIDES,
    stores: bool = True,
) -> Config:
    """Read and check the config file at ``path``, with the secrets of ``sides`` only.

    Every key of the file is checked, whichever side it belongs to; environment variables
    (``password_env``, ``api_key_env``), CA files and the pairing of credentials are read and
    checked only for ``sides``, and a side left out is an ``UnloadedSide`` that fails loudly when
    used. Returns a ``Config``. Raises ConfigError, naming file, section and key, for a file that
    cannot be read or is not UTF-8 INI text, a missing required value, a malformed value (names
    against the engines' rules, numbers in range), or half of a pair of settings. Unknown sections
    and keys are logged as warnings with the closest known name, and a file holding secrets that
    group or others can read gets one warning.
    """
    unknown = set(sides) - set(SIDES)
    if unknown:
        raise ValueError(f"sides must be some of {SIDES}, not {sides!r}")
    parser = _read_ini(path)
    _warn_unknown(path, parser)
    warn_if_readable(path, parser)
    _check_overrides(overrides)
    reader = _Reader(path, parser, environ)
    for section in parser.sections():  # every key's syntax, whichever side or mode uses it
        for key in KEYS.get(section, {}):
            reader.get(section, key)

    repository = _read_repository(reader)
    es = "elasticsearch_config"
    indices = overrides.indices or reader.require(es, "index_names", "the indices to back up or restore")
    configured_name = reader.get(es, "snapshot_name")

    snap = _section_values(reader, "snapshot")
    snapshot = SnapshotConfig(
        name=overrides.snapshot or configured_name or DEFAULT_SNAPSHOT_NAME,
        indices=indices,
        include_global_state=snap["include_global_state"],
        partial=snap["partial"],
        ignore_unavailable=snap["ignore_unavailable"],
        concurrent_wait=snap["concurrent_wait"],
    )

    rest = _section_values(reader, "restore")
    reader.pair("restore", "rename_pattern", rest["rename_pattern"], "rename_replacement", rest["rename_replacement"])
    policy = overrides.existing_indices or rest["existing_indices"]
    if policy == "rename" and rest["rename_pattern"] is None:
        raise reader.error(
            "restore",
            "rename_pattern",
            "is missing (existing_indices = rename needs rename_pattern and rename_replacement)",
        )
    if rest["rename_pattern"] is not None:
        try:
            re.compile(rest["rename_pattern"])
        except re.error as err:
            raise reader.error("restore", "rename_pattern", f"is not a valid regular expression: {err}") from None
        except (RecursionError, OverflowError):
            raise reader.error(
                "restore", "rename_pattern", "is not a valid regular expression: nested too deep"
            ) from None
    restore = RestoreConfig(
        snapshot=overrides.snapshot or rest["snapshot"] or configured_name or LATEST,
        existing_indices=policy,
        confirm_delete=overrides.confirm_delete or rest["confirm_delete"],
        rename_pattern=rest["rename_pattern"],
        rename_replacement=rest["rename_replacement"],
        index_settings=rest["index_settings"] or {},
        wait_for_status=rest["wait_for_status"],
        include_aliases=rest["include_aliases"],
        partial=rest["partial"],
        ignore_unavailable=snap["ignore_unavailable"],
        include_global_state=rest["include_global_state"],
        feature_states=rest["feature_states"] or (),
    )

    source = _read_side(reader, "source", "source" in sides)
    destination = _read_side(reader, "destination", "destination" in sides)
    keys = _section_values(reader, "aws_api_keys")
    reader.pair("aws_api_keys", "aws_access_key", keys["aws_access_key"], "aws_secret_key", keys["aws_secret_key"])
    wait = WaitConfig(**_section_values(reader, "wait"))
    destination_repository = _read_destination_repository(reader, repository)
    source_store = _read_store(reader, "source", repository, stores)
    destination_store = _read_store(reader, "destination", destination_repository or repository, stores)
    sync = SyncConfig(**_section_values(reader, "sync"), delete=overrides.delete)
    retention = RetentionConfig(**_section_values(reader, "retention"))
    if retention.prune_after_backup and not retention.has_rule:
        raise reader.error("retention", "prune_after_backup", f"needs at least one rule: {', '.join(RETENTION_RULES)}")

    return Config(
        path=path,
        source=source,
        destination=destination,
        repository=repository,
        snapshot=snapshot,
        restore=restore,
        wait=wait,
        retention=retention,
        lock=LockConfig(**_section_values(reader, "lock")),
        report=ReportConfig(**_section_values(reader, "report")),
        s3_keys_in_file=keys["aws_access_key"] is not None,
        secrets=tuple(dict.fromkeys(s for s in reader.secrets if s)),
        destination_repository=destination_repository,
        source_store=source_store,
        destination_store=destination_store,
        sync=sync,
    )


def require_seeds(config: Config, side: str, mode: str) -> SideConfig:
    """Return the side's settings; raise ConfigError when it has no seed to connect to."""
    settings = config.side(side)
    if not settings.seeds:
        raise ConfigError(
            f"{config.path}: [elasticsearch_config] {settings.seed_key}1 is missing "
            f"({mode} runs against the {side} cluster and needs at least one seed)"
        )
    return settings
