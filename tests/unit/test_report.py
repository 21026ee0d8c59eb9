"""Run reports: JSON and Prometheus files written atomically, and pings to a local HTTP server."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from es_s3_snapshot.config import ReportConfig
from es_s3_snapshot.report import Report, prometheus_text, write_reports


def report(mode="backup", code=0, finished=1_700_000_100.0, deleted=(), repo="repo1", message="ok"):
    return Report(
        mode=mode,
        config="/etc/x.conf",
        repository=repo,
        started=finished - 100,
        finished=finished,
        exit_code=code,
        message=message,
        snapshot="s1",
        indices=["a"],
        bytes=1234 if mode == "backup" else None,
        deleted_snapshots=list(deleted),
    )


def value(text, metric, mode="backup", repo="repo1"):
    prefix = f'es_s3_snapshot_{metric}{{mode="{mode}",repository="{repo}"}} '
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0][len(prefix) :]) if lines else None


def test_json_report_has_every_key(tmp_path):
    path = tmp_path / "r.json"
    write_reports(ReportConfig(json_file=str(path)), report(code=1, message="snapshot failed"))
    data = json.loads(path.read_text())
    assert set(data) == {
        "mode",
        "config",
        "repository",
        "snapshot",
        "started",
        "finished",
        "duration_s",
        "exit_code",
        "outcome",
        "message",
        "indices",
        "bytes",
        "deleted_snapshots",
    }
    assert data["outcome"] == "failed" and data["exit_code"] == 1 and data["duration_s"] == 100
    assert data["finished"] == "2023-11-14T22:15:00Z"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


def test_prometheus_keeps_other_series_and_the_last_success_across_failures():
    text = prometheus_text("", report(finished=1000.0))
    text = prometheus_text(text, report(mode="prune", finished=1500.0, deleted=["a", "b"]))
    text = prometheus_text(text, report(code=1, finished=2000.0))
    text = prometheus_text(text, report(mode="prune", finished=2500.0, deleted=["c"]))
    assert value(text, "last_success_timestamp_seconds") == 1000.0
    assert value(text, "last_run_timestamp_seconds") == 2000.0
    assert value(text, "last_exit_code") == 1
    assert value(text, "last_bytes") == 1234
    assert value(text, "snapshots_deleted_total", mode="prune") == 3
    assert value(text, "last_success_timestamp_seconds", mode="prune") == 2500.0
    assert text.count("# TYPE es_s3_snapshot_last_exit_code gauge") == 1
    assert "# TYPE es_s3_snapshot_snapshots_deleted_total counter" in text


class Recorder(BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        Recorder.seen.append((self.path, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Recorder.seen = []
    httpd = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/ping/abc"
    httpd.shutdown()
    httpd.server_close()


def test_success_pings_the_url_and_failure_pings_fail_with_the_message(server):
    write_reports(ReportConfig(ping_url=server), report())
    write_reports(ReportConfig(ping_url=server), report(code=2, message="could not connect to the source cluster"))
    assert Recorder.seen == [("/ping/abc", "ok"), ("/ping/abc/fail", "could not connect to the source cluster")]


def test_a_ping_that_fails_is_only_a_warning(caplog, tmp_path):
    path = tmp_path / "r.json"
    write_reports(ReportConfig(json_file=str(path), ping_url="http://127.0.0.1:9/nothing"), report())
    assert json.loads(path.read_text())["outcome"] == "success"
    assert any("ping http://127.0.0.1:9/nothing failed" in r.message for r in caplog.records)
