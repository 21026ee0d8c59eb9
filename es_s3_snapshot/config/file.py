"""Finding the config file, reading it as UTF-8 INI text, and reading values out of it with errors
that name file, section and key; warnings for unknown keys and for a file others can read; and,
as ssh treats its files, refusing a file that others could rewrite."""

from __future__ import annotations

import codecs
import configparser
import logging
import os
import re
import stat
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError
from ..redact import Redactor
from .keys import CONFIG_ENV, DEFAULT_LOCATIONS, KEYS, SEED_PREFIX, seed_number

logger = logging.getLogger("es_s3_snapshot.config")

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


class Reader:
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


def read_ini(path: str) -> configparser.ConfigParser:
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


def check_permissions(path: str, euid: int | None = None) -> None:
    """Refuse a config file that someone other than the runner (or root) could rewrite, as ssh does.

    Whoever can rewrite the file can point the seeds at their own host and receive the credentials.
    Raises ConfigError (exit 3) for a file writable by others (``chmod o-w``) or owned by another
    user than the runner or root (``chown``); logs a warning for one writable by its group.
    """
    try:
        info = os.stat(path)
    except OSError:
        return  # reading it says what is wrong
    euid = os.geteuid() if euid is None else euid
    mode = stat.S_IMODE(info.st_mode)
    why = "could point the tool at their own cluster and receive its credentials"
    if info.st_uid not in (euid, 0):
        from ..ownfiles import owner_name, user_name

        raise ConfigError(
            f"{path} is owned by {owner_name(info.st_uid)}, not by {owner_name(euid)} or root: its owner {why}; "
            f"chown {user_name(euid)} {path} (or copy it to a file of your own)"
        )
    if mode & stat.S_IWOTH:
        raise ConfigError(
            f"{path} is writable by others (mode {mode:04o}): anyone on this host {why}: chmod o-w {path}"
        )
    if mode & stat.S_IWGRP:
        logger.warning("%s is writable by its group (mode %04o): every member %s: chmod g-w %s", path, mode, why, path)


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


def warn_unknown(path: str, parser: configparser.ConfigParser) -> None:
    for section in parser.sections():
        if section not in KEYS:
            import difflib  # 1 ms of imports, for a misspelled name only

            hint = difflib.get_close_matches(section, KEYS, n=1)
            suffix = f" (did you mean [{hint[0]}]?)" if hint else ""
            logger.warning("%s: unknown section [%s] is ignored%s", path, section, suffix)
            continue
        for key in parser.options(section):
            if key in KEYS[section]:
                continue
            if section == "elasticsearch_config" and seed_number(key) is not None:
                continue
            known = list(KEYS[section]) + (
                [f"{p}1" for p in SEED_PREFIX.values()] if section == "elasticsearch_config" else []
            )
            import difflib

            hint = difflib.get_close_matches(key, known, n=1)
            suffix = f" (did you mean {hint[0]}?)" if hint else ""
            logger.warning("%s: unknown key %s in [%s] is ignored%s", path, key, section, suffix)
