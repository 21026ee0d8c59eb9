"""The INI configuration: where it is found, every key it may hold, and the frozen settings it becomes.

Every key the tool knows stands once, in ``KEYS``, with its parser and default. ``load`` reads a
file, checks every value against that table and returns a ``Config``; anything missing or malformed
raises ``ConfigError`` naming the file, the section and the key. The original es-s3-snapshot
format (``[aws_api_keys]``, ``[aws_s3_config]``, ``[elasticsearch_config]``, ``[elastic_cloud]``)
loads unchanged; the newer sections (``[source]``, ``[destination]``, ``[repository]``,
``[snapshot]``, ``[restore]``, ``[wait]``, ...) are optional.

The modules: ``keys`` (the one table of keys and the value parsers), ``settings`` (the dataclasses),
``file`` (finding and reading the file), and here the reading of each section and ``load``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..names import name_list_problem, snapshot_pattern_problem
from ..redact import mask_userinfo
from .file import (  # noqa: F401
    MAX_CONFIG_BYTES,
    Reader,
    check_permissions,
    decode_config,
    find_config,
    read_ini,
    warn_if_readable,
    warn_unknown,
)
from .keys import (  # noqa: F401
    AUTH_KINDS,
    CONFIG_ENV,
    DEFAULT_SNAPSHOT_NAME,
    EXISTING_POLICIES,
    KEYS,
    LATEST,
    REPOSITORY_PASSTHROUGH,
    SEED_PREFIX,
    SIDES,
    api_key_problem,
    parse_duration,
    parse_seed,
    seed_number,
)
from .settings import (  # noqa: F401
    RETENTION_RULES,
    CacheConfig,
    Config,
    DrillConfig,
    LockConfig,
    Overrides,
    ReportConfig,
    RepositoryConfig,
    RestoreConfig,
    RetentionConfig,
    ScrubConfig,
    SideConfig,
    SideNotLoaded,
    SnapshotConfig,
    StoreConfig,
    SyncConfig,
    UnloadedSide,
    WaitConfig,
)

logger = logging.getLogger(__name__)

NO_OVERRIDES = Overrides()


def _read_seeds(reader: Reader, side: str) -> tuple[str, ...]:
    section = "elasticsearch_config"
    if not reader.parser.has_section(section):
        return ()
    numbered = []
    for key in reader.parser.options(section):
        found = seed_number(key)
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


def _read_side(reader: Reader, side: str, active: bool = True) -> SideConfig | UnloadedSide:
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


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost``, 127.0.0.0/8 or ::1."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_clear_credentials(path: str, side: SideConfig) -> None:
    """One warning when the side's basic-auth password or API key would go over plain http:// to a
    seed on another host, naming the side and those seeds (never the secret). SigV4 sends none."""
    if side.auth not in ("basic", "api_key"):
        return
    clear = [
        seed for seed in side.seeds if seed.startswith("http://") and not is_loopback(urlsplit(seed).hostname or "")
    ]
    if clear:
        what = "basic-auth password" if side.auth == "basic" else "API key"
        logger.warning(
            "%s: the %s cluster's %s goes in clear over http:// to %s: anyone on the way can read it; "
            "use https:// seeds",
            path,
            side.name,
            what,
            ", ".join(clear),
        )


def _section_values(reader: Reader, section: str) -> dict[str, Any]:
    if not reader.parser.has_section(section):
        return {key: spec.default for key, spec in KEYS[section].items()}
    return {key: reader.get(section, key) for key in KEYS[section]}


def _read_repository(reader: Reader) -> RepositoryConfig:
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
    problem = name_list_problem(overrides.indices or ())
    if problem:
        raise ConfigError(mask_userinfo(f"--indices {problem}"))
    if overrides.snapshot is not None and overrides.snapshot != LATEST:
        problem = snapshot_pattern_problem(overrides.snapshot)
        if problem:
            raise ConfigError(mask_userinfo(f"--snapshot {problem}"))


def _read_destination_repository(reader: Reader, source: RepositoryConfig) -> RepositoryConfig | None:
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


def _read_store(reader: Reader, side: str, repository: RepositoryConfig, secrets: bool) -> StoreConfig | None:
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
        connect_timeout=values["connect_timeout"],
        read_timeout=values["read_timeout"],
        outage_wait=values["outage_wait"],
    )


def load(
    path: str,
    overrides: Overrides = NO_OVERRIDES,
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
    group or others can read gets one warning. A file others can write, or owned by another user
    than the runner or root, is refused (ConfigError); one its group can write gets a warning.
    """
    unknown = set(sides) - set(SIDES)
    if unknown:
        raise ValueError(f"sides must be some of {SIDES}, not {sides!r}")
    check_permissions(path)
    parser = read_ini(path)
    warn_unknown(path, parser)
    warn_if_readable(path, parser)
    _check_overrides(overrides)
    reader = Reader(path, parser, environ)
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
        retries=snap["retries"],
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
    for side in (source, destination):
        if isinstance(side, SideConfig):
            warn_clear_credentials(path, side)
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
        drill=DrillConfig(**_section_values(reader, "drill")),
        scrub=ScrubConfig(**_section_values(reader, "scrub")),
        cache=CacheConfig(**_section_values(reader, "cache")),
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
