"""The snapshot repository: its settings (pure), and registering and verifying it on a cluster.

S3 keys are never sent as repository settings: engines refuse them unless started with an insecure
flag. They belong in every node's keystore (self-managed), or are replaced by ``role_arn`` on AWS
managed domains. Known failures are turned into advice naming what to fix.
"""

from __future__ import annotations

import logging
from typing import Any

from .cluster import Cluster, error_chain, path_of
from .config import RepositoryConfig
from .errors import ConfigError, EngineError, RepositoryError

logger = logging.getLogger(__name__)

# Settings that say where the data is: a registered repository that differs in one of them is
# someone else's, and is never re-pointed.
LOCATION_KEYS = ("bucket", "base_path", "location", "client")


def repository_body(repo: RepositoryConfig, *, readonly: bool) -> dict[str, Any]:
    """The body of ``PUT _snapshot/<name>`` for this repository."""
    if repo.type == "fs":
        settings: dict[str, Any] = {"location": repo.location}
    else:
        settings = {"bucket": repo.bucket}
        if repo.base_path:
            settings["base_path"] = repo.base_path
        if "role_arn" in repo.extra and repo.region:
            settings["region"] = repo.region  # AWS managed domains take the bucket's region
    settings.update(repo.extra)
    if readonly:
        settings["readonly"] = True
    return {"type": repo.type, "settings": settings}


def _same(a: Any, b: Any) -> bool:
    return str(a).lower() == str(b).lower()


def _where(settings: dict) -> str:
    if "location" in settings:
        return f"location {settings['location']}"
    path = settings.get("base_path") or ""
    return f"s3://{settings.get('bucket', '?')}/{path}".rstrip("/")


def advice(repo: RepositoryConfig, side: str, err: EngineError) -> str:
    """One line saying what is wrong with the repository and what to do about it."""
    text = " ".join(f"{t} {r}" for t, r in error_chain(err.body)) or err.reason
    lower = text.lower()
    client = repo.extra.get("client", "default")
    where = f"s3://{repo.bucket}/{repo.base_path or ''}".rstrip("/") if repo.type == "s3" else repo.location
    if f"[{repo.type}] does not exist" in text or "unknown repository type" in lower:
        return (
            f"the {side} cluster has no '{repo.type}' repository type: install the repository-s3 plugin on "
            "every node and restart them (Elasticsearch 8 and later ship it in the default distribution)"
        )
    if "passrole" in lower:
        return (
            f"the {side} domain refused the role {repo.extra.get('role_arn')}: the signing principal needs "
            "iam:PassRole on that role and es:ESHttpPut on the domain (README: AWS managed domains)"
        )
    if "nosuchbucket" in lower or "bucket does not exist" in lower:
        return f"bucket {repo.bucket} does not exist or is not visible to the {side} cluster's S3 client"
    if any(
        s in lower
        for s in (
            "unable to load credentials",
            "unable to load aws credentials",
            "invalidaccesskeyid",
            "signaturedoesnotmatch",
            "access key id you provided",
        )
    ):
        return (
            f"the {side} cluster's nodes have no valid S3 keys: add s3.client.{client}.access_key and "
            f"s3.client.{client}.secret_key to every node's keystore, then POST _nodes/reload_secure_settings"
        )
    if "accessdenied" in lower or "access denied" in lower:
        return (
            f"the {side} cluster's S3 credentials may not write to {where}: check the bucket policy and the nodes' keys"
        )
    if "path.repo" in lower:
        return f"{repo.location} is not listed in path.repo on the {side} cluster's nodes: add it and restart them"
    deepest = error_chain(err.body)[-1][1] if error_chain(err.body) else err.reason
    return f"repository {repo.name} failed on the {side} cluster: {err.error_type}: {deepest}"


def registration_problem(repo: RepositoryConfig, registered: dict | None, side: str, *, writes: bool) -> str | None:
    """Why the registration a cluster holds under ``repo.name`` (``registered``: its entry in
    ``GET _snapshot/<name>``, None when there is none) must not be used as configured; None when
    it may (as it is, or once its other settings are updated). The one rule, for every mode and
    for check:

    - one that points elsewhere (another type, bucket, base_path, location or client) is someone
      else's: never re-pointed;
    - one registered read-only is never made writable by a mode that writes (``writes``: backup,
      prune): another cluster may be writing that repository, and two writers corrupt it. A mode
      that only reads uses it read-only as it is.
    """
    if not registered:
        return None
    wanted = repository_body(repo, readonly=False)["settings"]
    have = registered.get("settings") or {}
    if registered.get("type") != repo.type or any(
        not _same(have.get(k, ""), wanted.get(k, "")) for k in LOCATION_KEYS if k in have or k in wanted
    ):
        return (
            f"repository {repo.name} on the {side} cluster already points at {_where(have)} "
            f"({registered.get('type')}), not at {_where(wanted)}: it is left as it is; choose another "
            "es_repository_name"
        )
    if writes and _same(have.get("readonly", "false"), "true"):
        return (
            f"repository {repo.name} is registered read-only on the {side} cluster (readonly: true), and this "
            "mode writes to it: it is left read-only, since another cluster may be writing that repository "
            "and two writers corrupt it. If this cluster is to be its only writer, register it writable "
            f'(PUT _snapshot/{repo.name} with "readonly": false in its settings); else choose another '
            "es_repository_name"
        )
    return None


def is_readonly(registered: dict | None) -> bool:
    """Whether a registration (an entry of ``GET _snapshot/<name>``) is read-only."""
    return _same(((registered or {}).get("settings") or {}).get("readonly", "false"), "true")


def ensure_repository(cluster: Cluster, repo: RepositoryConfig, *, readonly: bool, writes: bool = False) -> None:
    """Register the repository on ``cluster`` (read-only if asked), verified in the same call.

    A repository already registered as configured is left as it is (the snapshot or restore that
    follows reads it, and its failures get the same advice). One registered read-only stays
    read-only: a mode that only reads uses it so, a mode that ``writes`` (backup, prune) is refused
    (``registration_problem``). A repository of that name that points elsewhere is refused, never
    re-pointed. One that points at the same place with other settings is updated. Raises
    RepositoryError with advice.
    """
    if cluster.auth == "sigv4" and repo.name.startswith("cs-"):
        raise ConfigError(f"repository name {repo.name} starts with cs-, which AWS managed domains reserve")
    wanted = repository_body(repo, readonly=readonly)
    current = cluster.get(path_of("_snapshot", repo.name), ok=(404,))
    if current.status == 200 and repo.name in current.body:
        have = current.body[repo.name]
        problem = registration_problem(repo, have, cluster.side, writes=writes)
        if problem:
            raise RepositoryError(problem)
        have_settings = have.get("settings", {})
        if is_readonly(have) and not readonly:
            logger.info(
                "repository %s is registered read-only on the %s cluster; used read-only as it is",
                repo.name,
                cluster.side,
            )
            return None
        if all(_same(have_settings.get(k), v) for k, v in wanted["settings"].items()) and (
            readonly or not is_readonly(have)
        ):
            logger.info("repository %s is registered on the %s cluster as configured", repo.name, cluster.side)
            return None
        logger.info("updating the settings of repository %s on the %s cluster", repo.name, cluster.side)
    try:  # the engine verifies the repository on every node before it answers
        cluster.request(
            "PUT", path_of("_snapshot", repo.name), wanted, changes=True, timeout=cluster.long_request_timeout
        )
    except EngineError as err:
        raise RepositoryError(advice(repo, cluster.side, err)) from err
    logger.info(
        "registered and verified repository %s (%s, %s%s) on the %s cluster",
        repo.name,
        repo.type,
        _where(wanted["settings"]),
        ", read-only" if readonly else "",
        cluster.side,
    )


def is_repository_failure(err: EngineError) -> bool:
    """Whether an engine error is about the repository (plugin, bucket, keys, permissions)."""
    text = " ".join(t for t, _ in error_chain(err.body)) + " " + err.error_type
    return "repository" in text or "s3" in text.lower() or "amazon" in text.lower()
