"""Every key the configuration may hold, once: its section, its parser and its default (``KEYS``).

Value parsers take the raw string and return the value, or raise ValueError saying what is wrong;
``config.load`` turns that into a ConfigError naming file, section and key.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..names import index_name_problem, name_list_problem, snapshot_pattern_problem
from ..redact import mask_userinfo

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
    problem = name_list_problem(names)
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


def _drill_prefix(raw: str) -> str:
    """The prefix of the names a drill restores under: the start of a valid index name, and one
    that the engines' rename replacement takes literally (no ``$``)."""
    problem = index_name_problem(raw, pattern=False) or (f"{raw!r} must not contain '$'" if "$" in raw else None)
    if problem:
        raise ValueError(problem)
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
    "connect_timeout": Key(_seconds(HOUR, "1 hour"), 10.0),
    "read_timeout": Key(_seconds(DAY, "1 day"), 120.0),
    "outage_wait": Key(_seconds(DAY, "1 day"), 60.0),
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
        "workers": Key(_positive_int, 16),
        "multipart_threshold": Key(_size, 200 * 1024**2),
        "multipart_chunksize": Key(_size, 8 * 1024**2),
        "server_side_copy": Key(_choice("auto", "never"), "auto"),
    },
    "scrub": {
        "workers": Key(_positive_int, 8),
    },
    "snapshot": {
        "include_global_state": Key(_boolean, False),
        "partial": Key(_boolean, False),
        "ignore_unavailable": Key(_boolean, False),
        "concurrent_wait": Key(_seconds(30 * DAY, "30 days"), 600.0),
        "retries": Key(_count, 1),
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
        "stall_timeout": Key(_seconds(30 * DAY, "30 days"), 300.0),
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
    "drill": {
        "prefix": Key(_drill_prefix, "drill-"),
    },
    "cache": {  # list and prune: the details of ended snapshots (snapcache.py)
        "enabled": Key(_boolean, True),
        "dir": Key(_directory),
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


def seed_number(key: str) -> tuple[str, int] | None:
    for side, prefix in SEED_PREFIX.items():
        match = re.fullmatch(re.escape(prefix) + r"(\d+)", key)
        if match:
            return side, int(match.group(1))
    return None
