"""Keeping secrets out of everything the tool prints or logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"

# The password in a URL's userinfo (scheme://user:PASSWORD@host), up to the last @ of the authority.
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/@:\s]*:)[^/\s]*(?=@[^@/\s]*)")


def mask_userinfo(text: str) -> str:
    """``text`` with the password of every URL in it masked: ``ftp://user:***@host``."""
    return _USERINFO.sub(lambda m: m.group(1) + MASK, text)


# Credentials that may show up in text the tool did not write itself (errors, debug output), each
# with the words (lowercase) one of which its match contains: a text without them is not scanned
# (list --json prints hundreds of KB).
_PATTERNS = (
    (("signature=",), re.compile(r"(Signature=)[0-9a-fA-F]{16,}")),
    (("apikey ", "basic ", "bearer "), re.compile(r"((?:ApiKey|Basic|Bearer) )[A-Za-z0-9+/=_\-.:]{8,}")),
    # a header line, a query parameter, or botocore's debug repr ('X-Amz-Security-Token': b'...')
    (
        ("x-amz-security-token",),
        re.compile(r"((?:X-Amz-Security-Token|x-amz-security-token)['\"]?\s*[=:]\s*b?['\"]?)[^\s&,'\"]+"),
    ),
    (("credential=",), re.compile(r"(Credential=)[^/\s,'\"]+")),  # the access key id of a SigV4 Authorization header
    (("://",), _USERINFO),
    (
        ("access_key", "secret_key", "session_token", "password"),
        re.compile(
            r"((?:access_key|secret_key|session_token|password)[\"']?\s*[:=]\s*[\"']?)[^\s,'\"}]+", re.IGNORECASE
        ),
    ),
)


class Redactor:
    """Replaces every known secret value, and anything shaped like a credential, with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        # longest first, so that a secret containing another is masked whole
        found = set(self.secrets) | {s for s in secrets if s and len(s) >= 3}
        self.secrets = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        lowered = text.lower()
        for words, pattern in _PATTERNS:
            if any(word in lowered for word in words):
                text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text


class RedactingFormatter(logging.Formatter):
    """A log formatter whose output, tracebacks included, passes through a Redactor."""

    def __init__(self, fmt: str, redactor: Redactor, datefmt: str | None = None):
        super().__init__(fmt, datefmt)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor(super().format(record))
