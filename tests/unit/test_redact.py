"""Redaction of printed and logged text: every credential shape masked, other text left alone."""

import json

import pytest

from es_s3_snapshot.redact import Redactor


@pytest.mark.parametrize(
    "text,shown",
    [
        ("GET /x?X-Amz-Signature=0123456789abcdef0123 200", "X-Amz-Signature=***"),
        ("authorization: ApiKey dGhpc2lzYWtleQ==", "ApiKey ***"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Basic ***"),
        ("Authorization: Bearer abcdefghijkl", "Bearer ***"),
        ("x-amz-security-token: FQoGZXIvYXdzE", "x-amz-security-token: ***"),
        ("X-Amz-Security-Token=FQoGZXIvYXdzE&a=b", "X-Amz-Security-Token=***"),
        ("proxy http://user:pa55word@proxy:3128 failed", "http://user:***@proxy:3128"),
        ('{"PASSWORD": "hunter22"}', '"PASSWORD": "***"'),
        ("secret_key=abc123xyz", "secret_key=***"),
    ],
)
def test_redaction_still_masks_every_credential_shape(text, shown):
    assert shown in Redactor()(text)


def test_redaction_leaves_a_long_listing_without_credentials_as_it_is():
    text = json.dumps(
        [{"name": f"nightly-{n}", "state": "SUCCESS", "taken_by_us": True} for n in range(2000)], indent=1
    )
    assert Redactor(["s3cr3t"])(text) == text
    assert Redactor(["nightly-7"])(text).count("***") == 111  # nightly-7, -7x, -7xx: secrets are still replaced
