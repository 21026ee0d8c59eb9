"""Start-up stays light (issue 18): --help and --version load no mode, no HTTP stack, no boto3.

A mode's imports load only when it runs; checked in a fresh interpreter, since this test process
has imported everything already.
"""

import json
import subprocess
import sys

import pytest

HEAVY = ("boto3", "botocore", "elastic_transport", "urllib3", "s3transfer", "ssl", "http.client")
OURS_HEAVY = ("es_s3_snapshot.cluster", "es_s3_snapshot.store", "es_s3_snapshot.s3http", "es_s3_snapshot.clients")

PROBE = """
import json, sys
from es_s3_snapshot import cli
try:
    cli.main([{flag!r}])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_no_mode_and_no_http_stack(flag):
    done = subprocess.run([sys.executable, "-c", PROBE.format(flag=flag)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert not [m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY]
    assert not [m for m in loaded if m in OURS_HEAVY]
    modes = [m for m in loaded if m.startswith("es_s3_snapshot.actions.")]
    assert modes == [], modes
    # nor what only a run needs: the config, the actions' package, logging, dataclasses, typing
    assert sorted(m for m in loaded if m.startswith("es_s3_snapshot")) == [
        "es_s3_snapshot", "es_s3_snapshot.cli", "es_s3_snapshot.errors", "es_s3_snapshot.modes"
    ]  # fmt: skip
    assert not {"logging", "dataclasses", "typing"} & loaded


def test_running_a_mode_loads_only_that_mode():
    probe = (
        "import sys, json\n"
        "from es_s3_snapshot.actions import get_mode\n"
        "get_mode('list')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('es_s3_snapshot.actions.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "es_s3_snapshot.actions.list" in loaded
    assert not {"es_s3_snapshot.actions.sync", "es_s3_snapshot.actions.backup", "es_s3_snapshot.actions.restore"} & set(
        loaded
    )
