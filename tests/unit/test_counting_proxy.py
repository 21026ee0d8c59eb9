import json
import time
import urllib.request

from tests.support.counting_proxy import CountingProxy

from .upstream import Upstream


def call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_counting_proxy_forwards_unchanged_and_records_each_exchange():
    with Upstream() as up, CountingProxy(up.url) as proxy:
        before = time.time()
        status, raw = call(proxy.url + "/_snapshot/r1/s1?wait_for_completion=true", "PUT", {"indices": "a"})
        after = time.time()
    assert status == 200 and json.loads(raw) == up.body
    assert up.seen[0][:2] == ("PUT", "/_snapshot/r1/s1?wait_for_completion=true")
    (exchange,) = proxy.exchanges
    assert (exchange.method, exchange.path, exchange.query) == ("PUT", "/_snapshot/r1/s1", "wait_for_completion=true")
    assert exchange.line_bytes == len("PUT /_snapshot/r1/s1?wait_for_completion=true HTTP/1.1")
    assert (exchange.status, exchange.body_bytes) == (200, len(raw))
    assert before <= exchange.started <= exchange.ended <= after


def test_counting_proxy_counts_error_answers_and_reset_starts_over():
    with Upstream(status=404, body={"error": "nope"}) as up, CountingProxy(up.url) as proxy:
        for _ in range(3):
            assert call(proxy.url + "/missing")[0] == 404
        taken = proxy.reset()
        call(proxy.url + "/again")
        left = proxy.exchanges
    assert [(e.path, e.status) for e in taken] == [("/missing", 404)] * 3
    assert [e.path for e in left] == ["/again"]
    assert len(up.seen) == 4
