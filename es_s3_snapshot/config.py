"""The INI configuration: where it is found, every key it may hold, and the frozen settings it becomes.

Every key the tool knows stands once, in ``KEYS``, with its parser and default. ``load`` reads a
file, checks every value against that table and returns a ``Config``; anything missing or malformed
raises ``ConfigError`` naming the file, the section and the key. The original es-s3-snapshot
format (``[aws_api_keys]``, ``[aws_s3_config]``, ``[elasticsearch_config]``, ``[elastic_cloud]``)
loads unchanged; the newer sections (``[source]``, ``[destination]``, ``[repository]``,
``[snapshot]``, ``[restore]``, ``[wait]``) are optional.
"""

from __future__ import annotations

import configparser
import difflib
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

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


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"must be more than 0 seconds, not {raw!r}")
    return value


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
    if not isinstance(value, dict):
        raise ValueError('must be a JSON object such as {"index.number_of_replicas": 0}')
    return value


def _name_list(raw: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not names:
        raise ValueError("names no index")
    for name in names:
        if any(ch in name for ch in ' "\\/?<>|#'):
            raise ValueError(f"holds an invalid index name {name!r}")
    return names


def _existing_file(raw: str) -> str:
    path = os.path.expanduser(raw)
    if not os.path.isfile(path):
        raise ValueError(f"names a file that does not exist: {raw}")
    return path


def _proxy_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
        raise ValueError(f"must be a URL such as http://host:3128 or socks5h://host:1080, not {raw!r}")
    return raw


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


def _file_path(raw: str) -> str:
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
    "api_key": Key(secret=True),
    "api_key_env": Key(),
    "verify_certs": Key(_boolean, True),
    "ca_certs": Key(_existing_file),
    "request_timeout": Key(_seconds, 60.0),
    "proxy": Key(_proxy_url),
    "aws_region": Key(),
    "aws_profile": Key(),
    "aws_access_key": Key(),
    "aws_secret_key": Key(secret=True),
    "aws_session_token": Key(secret=True),
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
        "snapshot_name": Key(),
        # es_src_seedN / es_dest_seedN are matched by SEED_PREFIX, for any N
    },
    "elastic_cloud": {
        "shield_auth_username": Key(),
        "shield_auth_password": Key(secret=True),
    },
    "source": _SIDE_KEYS,
    "destination": _SIDE_KEYS,
    "repository": {
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
    },
    "snapshot": {
        "include_global_state": Key(_boolean, False),
        "partial": Key(_boolean, False),
        "ignore_unavailable": Key(_boolean, False),
        "concurrent_wait": Key(_seconds, 600.0),
    },
    "restore": {
        "snapshot": Key(),
        "existing_indices": Key(_choice(*EXISTING_POLICIES), "refuse"),
        "confirm_delete": Key(_boolean, False),
        "rename_pattern": Key(),
        "rename_replacement": Key(),
        "index_settings": Key(_json_object),
        "wait_for_status": Key(_choice("yellow", "green"), "yellow"),
        "include_aliases": Key(_boolean, True),
        "partial": Key(_boolean, False),
    },
    "wait": {
        "poll_interval": Key(_seconds, 5.0),
        "max_wait": Key(_seconds, 21600.0),
        "progress_interval": Key(_seconds, 30.0),
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
        "json_file": Key(_file_path),
        "prometheus_file": Key(_file_path),
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
    proxy: str | None = None
    aws_region: str | None = None
    aws_profile: str | None = None
    aws_access_key: str | None = None
    aws_secret_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)


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


@dataclass(frozen=True)
class WaitConfig:
    poll_interval: float = 5.0
    max_wait: float = 21600.0
    progress_interval: float = 30.0


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
    source: SideConfig
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

    def side(self, name: str) -> SideConfig:
        return self.source if name == "source" else self.destination

    def repository_for(self, side: str) -> RepositoryConfig:
        """The repository that ``side`` registers (issue 11 adds [destination_repository] here)."""
        return self.repository


@dataclass(frozen=True)
class Overrides:
    """Values from the command line that win over the file."""

    snapshot: str | None = None
    indices: tuple[str, ...] | None = None
    existing_indices: str | None = None
    confirm_delete: bool = False


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
        return ConfigError(f"{self.path}: [{section}] {key} {problem}")

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

    def secret_from_env(self, section: str, key: str) -> str | None:
        """The value of the environment variable that ``<key>`` names, if the key is set."""
        var = self.get(section, key)
        if var is None:
            return None
        value = self.environ.get(var)
        if not value:
            raise self.error(section, key, f"names the environment variable {var}, which is not set")
        self.secrets.append(value)
        return value

    def pair(self, section: str, first: str, a: Any, second: str, b: Any) -> None:
        if (a is None) != (b is None):
            missing, given = (first, second) if a is None else (second, first)
            raise self.error(section, missing, f"is missing: it goes together with {given}")


def _read_ini(path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        inline_comment_prefixes=("#", ";"), interpolation=None, strict=True, empty_lines_in_values=False
    )
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle, source=path)
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from err
    except configparser.Error as err:
        first_line = str(err).strip().splitlines()[0]
        raise ConfigError(f"{path}: not a valid INI file: {first_line}") from err
    return parser


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


def _read_side(reader: _Reader, side: str) -> SideConfig:
    get = lambda key: reader.get(side, key) if reader.parser.has_section(side) else KEYS[side][key].default  # noqa: E731
    username, password = get("username"), get("password")
    if password is None and reader.parser.has_section(side):
        password = reader.secret_from_env(side, "password_env")
    api_key = get("api_key")
    if api_key is None and reader.parser.has_section(side):
        api_key = reader.secret_from_env(side, "api_key_env")

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

    return SideConfig(
        name=side,
        seeds=_read_seeds(reader, side),
        seed_key=SEED_PREFIX[side],
        auth=auth,
        username=username,
        password=password,
        api_key=api_key,
        verify_certs=verify,
        ca_certs=ca_certs,
        request_timeout=get("request_timeout"),
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


def load(path: str, overrides: Overrides = Overrides(), environ: Mapping[str, str] = os.environ) -> Config:
    """Read and check the config file at ``path``.

    Returns a ``Config``. Raises ConfigError, naming file, section and key, for a file that cannot
    be read, a missing required value, a malformed value, or half of a pair of settings. Unknown
    sections and keys are logged as warnings with the closest known name.
    """
    parser = _read_ini(path)
    _warn_unknown(path, parser)
    reader = _Reader(path, parser, environ)

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
    )

    source = _read_side(reader, "source")
    destination = _read_side(reader, "destination")
    keys = _section_values(reader, "aws_api_keys")
    reader.pair("aws_api_keys", "aws_access_key", keys["aws_access_key"], "aws_secret_key", keys["aws_secret_key"])
    wait = WaitConfig(**_section_values(reader, "wait"))
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
