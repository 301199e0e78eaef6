"""GET /__dort/metrics (Prometheus text: served in dev, in serve only with
--metrics, otherwise the worker's own 404) and the request log on stderr:
one line per request as text (method, path, status, duration) or as JSON
lines with --log-format json."""

import json
import re
import signal
import time

import dortproc as dp

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|\+Inf|NaN)$')
TEXT_LOG_RE = re.compile(r"^([A-Z]+) (\S*) (\d{3}) (\d+\.\d+)ms$")


def parse_metrics(text):
    """{name{labels}: value}; checks the exposition format line by line."""
    samples = {}
    typed = set()
    for ln in text.splitlines():
        if not ln:
            continue
        if ln.startswith("# HELP ") or ln.startswith("# TYPE "):
            parts = ln.split(" ", 3)
            dp.ok(len(parts) == 4, "comment line %r" % ln)
            if parts[1] == "TYPE":
                dp.ok(parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"),
                      "metric type in %r" % ln)
                typed.add(parts[2])
            continue
        m = SAMPLE_RE.match(ln)
        dp.ok(m is not None, "not a Prometheus sample line: %r" % ln)
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        dp.ok(m.group(1) in typed or base in typed, "sample %r without # TYPE" % ln)
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def check_histogram(samples, name):
    buckets = sorted(((float(re.search(r'le="([^"]+)"', k).group(1)), v)
                      for k, v in samples.items() if k.startswith(name + "_bucket{")))
    dp.ok(buckets, "%s has buckets" % name)
    dp.eq(buckets[-1][0], float("inf"), "%s ends with le=+Inf" % name)
    vals = [v for _, v in buckets]
    dp.eq(vals, sorted(vals), "%s buckets are cumulative" % name)
    dp.eq(buckets[-1][1], samples[name + "_count"], "%s +Inf bucket == _count" % name)


def test_metrics_in_dev(srv):
    with srv.conn() as c:
        for _ in range(3):
            dp.eq(c.request("POST", "/counter/metrics").status, 200)
        for _ in range(5):
            dp.eq(c.request("GET", "/health").status, 200)
        dp.eq(c.request("GET", "/nope").status, 404)
        r = c.request("GET", "/__dort/metrics")
    dp.eq(r.status, 200)
    dp.ok(r.header("content-type").startswith("text/plain; version=0.0.4"), r.header("content-type"))
    text = r.body.decode()
    s = parse_metrics(text)
    for name in ("dort_actors_live", 'dort_http_requests_total{code="2xx"}',
                 'dort_commit_batch_size_bucket{le="1"}', "dort_http_connections_open",
                 'dort_http_requests_total{code="4xx"}'):
        dp.ok(name in s, "%s in metrics:\n%s" % (name, text))
    dp.ok(s["dort_actors_live"] >= 1, "an actor is live")
    dp.ok(s['dort_http_requests_total{code="2xx"}'] >= 8, "2xx count %r" %
          s['dort_http_requests_total{code="2xx"}'])
    dp.ok(s['dort_http_requests_total{code="4xx"}'] >= 1, "4xx count")
    dp.ok(s["dort_http_connections_open"] >= 1, "this connection is open")
    dp.ok(s["dort_commit_batch_size_count"] >= 1, "commits counted")
    dp.ok(s["dort_committed_keys_total"] >= 3, "3 writes committed")
    check_histogram(s, "dort_commit_batch_size")
    check_histogram(s, "dort_http_request_duration_seconds")


def test_metrics_query_and_near_paths(srv):
    dp.eq(srv.get("/__dort/metrics?format=text").status, 200)
    dp.error_body(srv.get("/__dort/metricsx"), 404, "not_found")
    dp.error_body(srv.get("/__dort/metric"), 404, "not_found")
    dp.error_body(srv.get("/__dort/metrics/x"), 404, "not_found")


def test_metrics_counts_grow(srv):
    def count2xx():
        return parse_metrics(srv.get("/__dort/metrics").body.decode())[
            'dort_http_requests_total{code="2xx"}']
    before = count2xx()
    with srv.conn() as c:
        for _ in range(10):
            c.request("GET", "/health")
    time.sleep(0.05)
    dp.ok(count2xx() >= before + 10, "2xx count grew by 10")


def test_metrics_serve_only_with_flag():
    srv = dp.Server(mode="serve")
    try:
        r = srv.get("/__dort/metrics")
        dp.error_body(r, 404, "not_found")
    finally:
        srv.stop()
    srv = dp.Server(mode="serve", args=["--metrics"])
    try:
        r = srv.get("/__dort/metrics")
        dp.eq(r.status, 200)
        dp.ok("dort_actors_live" in parse_metrics(r.body.decode()), "metrics served")
    finally:
        srv.stop()


REQUESTS = [
    ("GET", "/health", None, 200),
    ("POST", "/echo", "abc", 200),
    ("GET", "/counter/logs", None, 200),
    ("POST", "/counter/logs", None, 200),
    ("GET", "/no/such", None, 404),
    ("DELETE", "/health", None, 405),
    ("GET", "/__test/fail", None, 500),
    ("GET", "/health?x=1&y=2", None, 200),
]


def send_all(srv):
    with srv.conn() as c:
        for m, p, b, st in REQUESTS:
            dp.eq(c.request(m, p, body=b).status, st, "%s %s" % (m, p))
    with srv.conn() as c:
        c.send(dp.build("POST", "/echo", headers=[("Content-Length", "999999")]))
        dp.eq(c.read_response().status, 413)


def log_lines(srv, n, timeout=3.0):
    def lines():
        ls = [ln for ln in srv.stderr_text().splitlines() if ln.strip()]
        return ls if len(ls) >= n else None
    dp.wait_until(lines, timeout, "%d log lines" % n)
    time.sleep(0.1)
    return [ln for ln in srv.stderr_text().splitlines() if ln.strip()]


def test_text_request_log():
    srv = dp.Server()
    try:
        send_all(srv)
        lines = log_lines(srv, len(REQUESTS) + 1)
        dp.eq(len(lines), len(REQUESTS) + 1, "one line per request:\n" + "\n".join(lines))
        for ln, (m, p, _, st) in zip(lines, REQUESTS):
            g = TEXT_LOG_RE.match(ln)
            dp.ok(g is not None, "log line %r" % ln)
            dp.eq((g.group(1), g.group(2), int(g.group(3))), (m, p, st), "log line %r" % ln)
            dp.ok(float(g.group(4)) >= 0, ln)
        g = TEXT_LOG_RE.match(lines[-1])
        dp.ok(g is not None and g.group(3) == "413" and g.group(1) == "POST" and
              g.group(2) == "/echo", "the 413 is logged with its request: %r" % lines[-1])
        # A slow request logs its duration.
        dp.eq(srv.get("/slow?ms=150").status, 200)
        last = log_lines(srv, len(REQUESTS) + 2)[-1]
        g = TEXT_LOG_RE.match(last)
        dp.ok(g is not None and g.group(2) == "/slow?ms=150", last)
        dp.within(float(g.group(4)), 140.0, 2000.0, "logged duration of /slow?ms=150")
    finally:
        srv.stop()


def test_json_request_log():
    srv = dp.Server(args=["--log-format", "json"])
    try:
        send_all(srv)
        # A path that needs JSON escaping, and a stream the client leaves.
        with srv.conn() as c:
            dp.eq(c.request("GET", '/a"b\\c').status, 404)
        c = srv.conn()
        c.send(dp.build("GET", "/stream?n=100&ms=20"))
        c.read_head()
        c.read_chunk()
        c.close()
        lines = log_lines(srv, len(REQUESTS) + 3)
        dp.eq(len(lines), len(REQUESTS) + 3, "one line per request:\n" + "\n".join(lines))
        recs = []
        for ln in lines:
            try:
                recs.append(json.loads(ln))
            except ValueError:
                raise dp.TestFailure("not a JSON line: %r" % ln)
        for rec, (m, p, _, st) in zip(recs, REQUESTS):
            dp.eq((rec.get("method"), rec.get("path"), rec.get("status")), (m, p, st), rec)
        dp.eq((recs[-3]["method"], recs[-3]["path"], recs[-3]["status"]), ("POST", "/echo", 413))
        dp.eq(recs[-2]["path"], '/a"b\\c', "escaped path round-trips")
        dp.eq((recs[-1]["path"], recs[-1]["status"]), ("/stream?n=100&ms=20", 200))
        now_ms = time.time() * 1000
        for rec in recs:
            for k, t in (("ts", int), ("method", str), ("path", str), ("status", int),
                         ("ms", (int, float)), ("bytes", int), ("peer", str)):
                dp.ok(isinstance(rec.get(k), t), "%s in %r" % (k, rec))
            dp.within(rec["ts"], now_ms - 60000, now_ms + 5000, "ts is Unix ms")
            dp.ok(rec["ms"] >= 0, rec)
            dp.eq(rec["peer"], "127.0.0.1", "peer of %r" % rec)
            dp.ok(rec["bytes"] > 0, "bytes of %r" % rec)
    finally:
        srv.stop()


if __name__ == "__main__":
    dp.main(globals())
