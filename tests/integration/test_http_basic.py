"""HTTP/1.1 basics over raw sockets: keep-alive, pipelining in order (also
behind a slow answer and past the pipeline limit), HEAD, Date, HTTP/1.0,
Connection: close, chunked request bodies, Expect: 100-continue, the JSON
error form of the worker's 404/405/500."""

import re
import socket
import time

import dortproc as dp

DATE_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|"
                     r"Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")


def check_date(r):
    d = r.header("date")
    dp.ok(d is not None, "no Date header in %r" % r.raw_head)
    dp.ok(DATE_RE.match(d), "Date header %r is not an IMF-fixdate (head %r)" % (d, r.raw_head))
    t = time.mktime(time.strptime(d, "%a, %d %b %Y %H:%M:%S GMT")) - time.timezone
    dp.within(t, time.time() - 5, time.time() + 5, "Date header is now")


def test_first_response_has_date():
    # A fresh server: its very first answer must carry a valid Date too.
    srv = dp.Server()
    try:
        r = srv.get("/health")
        dp.eq(r.status, 200)
        check_date(r)
    finally:
        srv.stop()


def test_health_exact(srv):
    c = srv.conn()
    c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    r = c.read_response()
    dp.eq(r.status, 200)
    dp.eq(r.reason, "OK")
    dp.eq(r.version, "HTTP/1.1")
    dp.eq(r.body, b"ok")
    dp.eq(r.header("content-length"), "2")
    dp.eq(r.header("content-type"), "text/plain")
    dp.eq(r.header("connection"), None, "no Connection header on a kept-alive 1.1 answer")
    check_date(r)
    dp.ok(not c.at_eof(0.3), "connection must stay open after a keep-alive answer")
    c.close()


def test_keepalive_many_requests(srv):
    with srv.conn() as c:
        for i in range(50):
            r = c.request("POST", "/echo", body="msg-%d" % i)
            dp.eq(r.status, 200)
            dp.eq(r.body, b"msg-%d" % i)
            dp.eq(r.header("x-body-length"), str(len("msg-%d" % i)))
        r = c.request("GET", "/counter/ka")
        dp.eq(r.status, 200)
        dp.eq(r.json(), {"count": 0})
        r = c.request("GET", "/health")
        dp.eq(r.body, b"ok")


def test_pipelining_in_order(srv):
    reqs = b"".join(dp.build("POST", "/echo", body="n%03d" % i) for i in range(40))
    with srv.conn() as c:
        c.send(reqs)
        for i in range(40):
            r = c.read_response()
            dp.eq(r.status, 200)
            dp.eq(r.body, b"n%03d" % i, "answer %d" % i)
        dp.ok(not c.at_eof(0.2), "connection stays open after pipelined answers")


def test_pipelining_slow_first(srv):
    reqs = dp.build("GET", "/slow?ms=200") + dp.build("GET", "/health") * 5
    with srv.conn() as c:
        t0 = time.monotonic()
        c.send(reqs)
        r = c.read_response()
        t_slow = time.monotonic() - t0
        dp.eq(r.status, 200)
        dp.eq(r.body, b"slow", "the slow answer comes first")
        dp.ok(t_slow >= 0.19, "slow answer after %.3fs, expected >= 0.2s" % t_slow)
        # Nothing of the /health answers may have come before: the buffer
        # after the slow answer holds only whole /health answers.
        for i in range(5):
            r = c.read_response()
            dp.eq(r.status, 200, "health %d" % i)
            dp.eq(r.body, b"ok", "health %d" % i)


def test_pipelining_actor_and_worker_mixed(srv):
    # Answers from an actor (after a durable commit) and from the worker
    # (at once) interleaved: still strictly in request order.
    parts = []
    for i in range(10):
        parts.append(dp.build("POST", "/counter/pipe-mixed"))
        parts.append(dp.build("POST", "/echo", body="e%d" % i))
    with srv.conn() as c:
        c.send(b"".join(parts))
        for i in range(10):
            r = c.read_response()
            dp.eq(r.status, 200)
            dp.eq(r.json(), {"count": i + 1}, "counter answer %d" % i)
            r = c.read_response()
            dp.eq(r.body, b"e%d" % i, "echo answer %d" % i)


def test_pipelining_beyond_pipeline_limit(srv):
    # 300 requests in one write: more than max_pipeline (64) are queued, so
    # parsing pauses and resumes; every answer still comes, in order.
    n = 300
    reqs = b"".join(dp.build("POST", "/echo", body=str(i)) for i in range(n))
    with srv.conn(timeout=10) as c:
        c.send(reqs)
        for i in range(n):
            r = c.read_response()
            dp.eq(r.body, str(i).encode(), "answer %d" % i)
        r = c.request("GET", "/health")
        dp.eq(r.body, b"ok")


def test_pipelining_split_everywhere(srv):
    # The same pipelined bytes delivered in tiny pieces (requests split
    # across reads at every position) must parse identically.
    reqs = (dp.build("POST", "/echo", body="first") +
            dp.build("POST", "/echo", body=None,
                     headers=[("Transfer-Encoding", "chunked")]) + dp.chunked(["ab", "cde"]) +
            dp.build("GET", "/health"))
    with srv.conn() as c:
        for i in range(0, len(reqs), 7):
            c.send(reqs[i:i + 7])
            time.sleep(0.001)
        dp.eq(c.read_response().body, b"first")
        dp.eq(c.read_response().body, b"abcde")
        dp.eq(c.read_response().body, b"ok")


def test_head_forwarded_to_actor(srv):
    # HEAD through a "*" route to the Counter actor: the headers of the GET
    # answer (Content-Length of the body it would have), no body. A GET
    # right behind it on the same connection proves no body bytes came.
    with srv.conn() as c:
        get = c.request("GET", "/counter/head1")
        c.send(dp.build("HEAD", "/counter/head1") + dp.build("GET", "/health"))
        r = c.read_response(head_request=True)
        dp.eq(r.status, 200)
        dp.eq(r.header("content-length"), str(len(get.body)))
        dp.eq(r.header("content-type"), "application/json")
        dp.eq(r.body, b"")
        r = c.read_response()
        dp.eq(r.status, 200, "GET after HEAD (a HEAD body leaked?) %r" % r.raw_head)
        dp.eq(r.body, b"ok")


def test_head_on_get_route(srv):
    # RFC 9110 9.3.2: HEAD is GET without the body; a general-purpose server
    # must support it wherever GET works. /health is a GET route.
    with srv.conn() as c:
        c.send(dp.build("HEAD", "/health") + dp.build("GET", "/health"))
        r = c.read_response(head_request=True)
        dp.eq(r.status, 200, "HEAD /health (body %r)" % r.header("content-length"))
        dp.eq(r.header("content-length"), "2")
        r = c.read_response()
        dp.eq(r.body, b"ok")


def test_head_on_streaming_answer(srv):
    # HEAD of a route that answers with a stream: the head, never chunks.
    with srv.conn() as c:
        c.send(dp.build("HEAD", "/stream?n=3&ms=10") + dp.build("GET", "/health"))
        r = c.read_response(head_request=True)
        dp.eq(r.status, 200, "HEAD /stream")
        time.sleep(0.1)  # let the producer's chunks come, if they are (wrongly) written
        r = c.read_response()
        dp.eq((r.status, r.body), (200, b"ok"),
              "the answer after HEAD (chunks of the HEAD answer leaked?) %r" % r.raw_head[:80])


def test_http10_closes(srv):
    with srv.conn() as c:
        c.send(b"GET /health HTTP/1.0\r\n\r\n")
        r = c.read_response()
        dp.eq(r.status, 200)
        dp.eq(r.body, b"ok")
        dp.eq((r.header("connection") or "").lower(), "close")
        dp.ok(c.at_eof(2.0), "HTTP/1.0 without keep-alive must be closed by the server")


def test_http10_keepalive_worker(srv):
    with srv.conn() as c:
        for _ in range(3):
            c.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            dp.eq(r.body, b"ok")
            dp.eq((r.header("connection") or "").lower(), "keep-alive")
        dp.ok(not c.at_eof(0.3), "HTTP/1.0 keep-alive stays open")


def test_http10_keepalive_actor(srv):
    # Same as above but answered by an actor (the request was forwarded):
    # an HTTP/1.0 client keeps the connection only if told keep-alive.
    with srv.conn() as c:
        c.send(b"GET /counter/h10 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        dp.eq(r.status, 200)
        dp.eq((r.header("connection") or "").lower(), "keep-alive",
              "Connection header of a kept-alive HTTP/1.0 answer from an actor")
        c.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        dp.eq(c.read_response().body, b"ok")


def test_connection_close_honoured(srv):
    with srv.conn() as c:
        # A second request pipelined after the closing one is never answered.
        c.send(dp.build("GET", "/health", headers=[("Connection", "close")]) +
               dp.build("GET", "/health"))
        r = c.read_response()
        dp.eq(r.status, 200)
        dp.eq(r.body, b"ok")
        dp.eq((r.header("connection") or "").lower(), "close")
        rest = c.read_to_eof(3.0)
        dp.eq(rest, b"", "nothing after the Connection: close answer")


def test_connection_close_after_actor(srv):
    with srv.conn() as c:
        c.send(dp.build("POST", "/counter/cc", headers=[("Connection", "close")]))
        r = c.read_response()
        dp.eq(r.json(), {"count": 1})
        dp.eq((r.header("connection") or "").lower(), "close")
        dp.ok(c.at_eof(3.0), "closed after the answer")


def test_chunked_request_body(srv):
    parts = [b"hello ", b"chunked ", b"x" * 5000, b"", ]
    body = b"".join(parts)
    with srv.conn() as c:
        c.send(dp.build("POST", "/echo", headers=[("Transfer-Encoding", "chunked")]) +
               dp.chunked([p for p in parts if p], ext=True))
        r = c.read_response()
        dp.eq(r.status, 200)
        dp.eq(r.header("x-body-length"), str(len(body)))
        dp.eq(r.body, body)
        # The connection is usable after a chunked request.
        r = c.request("POST", "/echo", body="after")
        dp.eq(r.body, b"after")


def test_chunked_body_with_trailers(srv):
    with srv.conn() as c:
        c.send(dp.build("POST", "/echo", headers=[("Transfer-Encoding", "chunked")]) +
               b"3\r\nabc\r\n0\r\nX-Trailer: yes\r\n\r\n" + dp.build("GET", "/health"))
        r = c.read_response()
        dp.eq(r.body, b"abc")
        dp.eq(c.read_response().body, b"ok")


def test_chunked_slowly(srv):
    with srv.conn() as c:
        c.send(dp.build("POST", "/echo", headers=[("Transfer-Encoding", "chunked")]))
        for p in (b"5\r\nab", b"cde\r\n", b"1", b"0\r\n0123456789abcdef\r", b"\n0\r\n", b"\r\n"):
            time.sleep(0.03)
            c.send(p)
        r = c.read_response()
        dp.eq(r.body, b"abcde0123456789abcdef")


def test_empty_bodies(srv):
    with srv.conn() as c:
        r = c.request("POST", "/echo", body="")
        dp.eq(r.status, 200)
        dp.eq(r.header("x-body-length"), "0")
        dp.eq(r.body, b"")
        c.send(dp.build("POST", "/echo", headers=[("Transfer-Encoding", "chunked")]) +
               b"0\r\n\r\n")
        r = c.read_response()
        dp.eq(r.header("x-body-length"), "0")


def test_expect_100_continue(srv):
    with srv.conn() as c:
        c.send(dp.build("POST", "/echo", headers=[("Expect", "100-continue"),
                                                  ("Content-Length", "11")]))
        interim = c.read_until(b"\r\n\r\n", timeout=2.0)
        dp.eq(interim, b"HTTP/1.1 100 Continue\r\n\r\n", "interim answer before the body")
        c.send(b"hello world")
        r = c.read_response()
        dp.eq(r.status, 200)
        dp.eq(r.body, b"hello world")
        # No second 100 on the next request without Expect.
        r = c.request("POST", "/echo", body="x")
        dp.eq(r.body, b"x")


def test_expect_100_continue_chunked(srv):
    with srv.conn() as c:
        c.send(dp.build("POST", "/echo", headers=[("Expect", "100-continue"),
                                                  ("Transfer-Encoding", "chunked")]))
        interim = c.read_until(b"\r\n\r\n", timeout=2.0)
        dp.eq(interim, b"HTTP/1.1 100 Continue\r\n\r\n")
        c.send(dp.chunked([b"abc", b"def"]))
        r = c.read_response()
        dp.eq(r.body, b"abcdef")


def test_expect_100_continue_behind_pending_answer(srv):
    # The interim 100 belongs to the second request: it may not overtake the
    # answer of the first (slow) one on the wire.
    with srv.conn() as c:
        c.send(dp.build("GET", "/slow?ms=300") +
               dp.build("POST", "/echo", headers=[("Expect", "100-continue"),
                                                  ("Content-Length", "5")]))
        first = c.read_head(timeout=2.0)
        dp.eq(first.status, 200, "first thing on the wire is the /slow answer, not %r" %
              first.raw_head)
        dp.eq(c.read_exact(4), b"slow")
        interim = c.read_until(b"\r\n\r\n", timeout=2.0)
        dp.eq(interim, b"HTTP/1.1 100 Continue\r\n\r\n", "the 100 after the earlier answer")
        c.send(b"hello")
        r = c.read_response()
        dp.eq(r.body, b"hello")


def test_expect_100_too_large_gets_413_not_100(srv):
    with srv.conn() as c:
        c.send(dp.build("POST", "/echo", headers=[("Expect", "100-continue"),
                                                  ("Content-Length", "1000000")]))
        r = c.read_response(allow_1xx=True, timeout=2.0)
        dp.error_body(r, 413, "body_too_large")


def test_upgrade_not_taken(srv):
    # An Upgrade the route does not take (h2c on /health): an ordinary
    # answer, then the connection closes (what follows is not HTTP/1.1 any
    # more for the client); the server serves on.
    with srv.conn() as c:
        c.send(dp.build("GET", "/health", headers=[("Connection", "Upgrade, HTTP2-Settings"),
                                                   ("Upgrade", "h2c"),
                                                   ("HTTP2-Settings", "AAMAAABkAAQAAP__")]) +
               b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        r = c.read_response()
        dp.eq((r.status, r.body), (200, b"ok"))
        dp.ok(r.header("upgrade") is None, "no Upgrade in the answer")
        dp.eq(c.read_to_eof(3.0), b"", "nothing after the answer")
    r = srv.get("/health")
    dp.eq(r.body, b"ok")


def test_not_found_json(srv):
    r = srv.get("/no/such/route")
    dp.error_body(r, 404, "not_found")
    r = srv.request("DELETE", "/health")
    dp.error_body(r, 405, "method_not_allowed")


def test_handler_failure_500_and_connection_kept(srv):
    with srv.conn() as c:
        r = c.request("GET", "/__test/fail")
        dp.error_body(r, 500, "handler_failed")
        r = c.request("GET", "/health")
        dp.eq(r.body, b"ok", "the connection serves on after a 500")


def test_query_and_percent_path(srv):
    r = srv.get("/counter/a%20b?x=1")
    dp.eq(r.status, 200)
    dp.eq(r.json(), {"count": 0})
    r = srv.get("/health?probe=1")
    dp.eq(r.body, b"ok")


def test_big_echo(srv):
    body = bytes(range(256)) * 200  # 51200 bytes, under the 65536 limit
    with srv.conn() as c:
        r = c.request("PUT", "/echo", body=body)
        dp.eq(r.status, 200)
        dp.eq(r.body, body)
        body = b"z" * 65536  # exactly the limit
        r = c.request("POST", "/echo", body=body)
        dp.eq(r.status, 200)
        dp.eq(len(r.body), 65536)


if __name__ == "__main__":
    dp.main(globals())
