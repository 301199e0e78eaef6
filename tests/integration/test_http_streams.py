"""Streaming answers and clients that leave: disconnect mid-body (FIN and
RST), mid-stream (/stream), mid-pipeline; SSE subscribers are dropped when
their client leaves (GET /sse/ROOM/count back to 0); SSE events arrive in
publish order, to every subscriber."""

import re
import time

import dortproc as dp


def still_serving(srv):
    r = srv.get("/health")
    dp.eq(r.status, 200, "server still serving")
    dp.eq(r.body, b"ok")


def sse_count(srv, room):
    r = srv.get("/sse/%s/count" % room)
    dp.eq(r.status, 200)
    return int(r.body)


def open_sse(srv, room):
    c = srv.conn(timeout=5)
    c.send(dp.build("GET", "/sse/" + room))
    r = c.read_head()
    dp.eq(r.status, 200)
    dp.eq(r.header("content-type"), "text/event-stream")
    dp.eq(r.header("cache-control"), "no-cache")
    dp.eq((r.header("transfer-encoding") or "").lower(), "chunked")
    dp.eq(r.header("content-length"), None, "no Content-Length on a stream")
    c.sse_buf = b""
    return c


def next_event(c, timeout=5.0):
    """The next SSE event (text between blank lines) from a chunked stream."""
    deadline = time.monotonic() + timeout
    while b"\n\n" not in c.sse_buf:
        chunk = c.read_chunk(timeout=max(0.01, deadline - time.monotonic()))
        if chunk == b"":
            raise dp.TestFailure("the stream ended")
        c.sse_buf += chunk
    ev, c.sse_buf = c.sse_buf.split(b"\n\n", 1)
    return ev.decode()


# ---- disconnects ----

def test_disconnect_mid_body(srv):
    for _ in range(20):
        c = srv.conn()
        c.send(dp.build("POST", "/echo", headers=[("Content-Length", "50000")]) + b"x" * 1000)
        c.close()
    for _ in range(20):
        c = srv.conn()
        c.send(dp.build("POST", "/echo", headers=[("Transfer-Encoding", "chunked")]) +
               b"100\r\n" + b"y" * 50)
        c.reset()
    still_serving(srv)


def test_disconnect_mid_headers(srv):
    for i in range(20):
        c = srv.conn()
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Partial: abc"[: 5 + i])
        c.close() if i % 2 else c.reset()
    still_serving(srv)


def test_disconnect_before_slow_answer(srv):
    # The worker still holds the exchange when the client leaves; its later
    # answer must be dropped quietly.
    for i in range(10):
        c = srv.conn()
        c.send(dp.build("GET", "/slow?ms=100"))
        c.close() if i % 2 else c.reset()
    for i in range(10):
        c = srv.conn()
        c.send(dp.build("GET", "/slow?ms=50") + dp.build("POST", "/counter/gone") +
               dp.build("GET", "/health"))
        c.close()
    time.sleep(0.3)
    still_serving(srv)
    r = srv.get("/counter/gone")
    dp.eq(r.json(), {"count": 10}, "the actor requests of departed clients still ran")


def test_disconnect_mid_pipeline_flood(srv):
    # Many pipelined requests, the client leaves before reading anything.
    reqs = b"".join(dp.build("POST", "/echo", body="z" * 100) for _ in range(200))
    for i in range(5):
        c = srv.conn()
        try:
            c.send(reqs)
        except OSError:
            pass
        c.reset()
    still_serving(srv)


def test_reset_while_answers_queued(srv):
    # 70 answers queue up behind a slow one (reading pauses at the pipeline
    # limit, so the server does not see the reset); the client resets; when
    # the slow answer comes, the server writes the queue to a dead socket:
    # EPIPE must close that connection, not kill the process (SIGPIPE).
    for _ in range(3):
        c = srv.conn()
        c.send(dp.build("GET", "/slow?ms=200") + dp.build("GET", "/health") * 70)
        time.sleep(0.05)
        c.reset()
    time.sleep(0.5)
    dp.ok(srv.alive(), "server alive after clients reset under queued answers (exit %r)" %
          srv.proc.poll())
    still_serving(srv)


def test_reset_after_expect_continue(srv):
    # Request + a second one with Expect: 100-continue, then an immediate
    # reset. The server writes "100 Continue" (gets ECONNRESET), then the
    # first answer: that write gets EPIPE, and with SIGPIPE not ignored the
    # process dies.
    for _ in range(50):
        c = srv.conn()
        c.send(dp.build("GET", "/health") +
               dp.build("POST", "/echo", headers=[("Expect", "100-continue"),
                                                  ("Content-Length", "5")]))
        c.reset()
        if not srv.alive():
            break
    time.sleep(0.3)
    dp.ok(srv.alive(), "server alive after resets (exit %r)" % srv.proc.poll())
    still_serving(srv)


def test_stream_complete(srv):
    with srv.conn() as c:
        r = c.request("GET", "/stream?n=5&ms=10")
        dp.eq(r.status, 200)
        dp.eq(r.header("content-type"), "text/plain")
        dp.eq(r.body, b"".join(b"chunk %d\n" % i for i in range(5, 0, -1)))
        # The connection serves on after a stream ended.
        dp.eq(c.request("GET", "/health").body, b"ok")


def test_stream_chunks_arrive_over_time(srv):
    with srv.conn() as c:
        c.send(dp.build("GET", "/stream?n=4&ms=100"))
        t0 = time.monotonic()
        r = c.read_head()
        dp.eq(r.status, 200)
        times = []
        for i in range(4):
            dp.eq(c.read_chunk(), b"chunk %d\n" % (4 - i))
            times.append(time.monotonic() - t0)
        dp.eq(c.read_chunk(), b"", "last chunk")
        dp.ok(times[-1] - times[0] >= 0.25, "chunks were spread over time: %r" % times)


def test_disconnect_mid_stream(srv):
    for i in range(10):
        c = srv.conn()
        c.send(dp.build("GET", "/stream?n=100&ms=20"))
        r = c.read_head()
        dp.eq(r.status, 200)
        for k in range(3):
            dp.eq(c.read_chunk(), b"chunk %d\n" % (100 - k))
        c.close() if i % 2 else c.reset()
    time.sleep(0.2)  # the producers' next ticks find the clients gone
    still_serving(srv)


def open_connections(srv):
    m = srv.get("/__dort/metrics").body.decode()
    return int(re.search(r"^dort_http_connections_open (\d+)$", m, re.M).group(1))


def test_reset_during_stream_with_error_queued(srv):
    # A stream at the head, a 400 queued behind it (so the server has
    # stopped reading), the client resets: the stream's next write fails and
    # the connection must be closed, not kept open forever.
    for _ in range(3):
        c = srv.conn()
        c.send(dp.build("GET", "/stream?n=30&ms=20") + b"NOT HTTP\r\n\r\n")
        dp.eq(c.read_head().status, 200)
        c.read_chunk()
        c.reset()
    dp.wait_until(lambda: open_connections(srv) == 1, 3.0,
                  "connections_open back to 1 (this metrics request) after the resets")


def test_stream_then_pipelined_request(srv):
    # A request pipelined behind a stream waits until the stream ended.
    with srv.conn() as c:
        c.send(dp.build("GET", "/stream?n=3&ms=30") + dp.build("GET", "/health"))
        r = c.read_response()
        dp.eq(r.body, b"chunk 3\nchunk 2\nchunk 1\n")
        r = c.read_response()
        dp.eq(r.body, b"ok")


# ---- SSE ----

def test_sse_subscriber_dropped_when_client_leaves(srv):
    room = "leave"
    dp.eq(sse_count(srv, room), 0)
    c = open_sse(srv, room)
    dp.eq(next_event(c), ": connected")
    dp.eq(sse_count(srv, room), 1)
    c2 = open_sse(srv, room)
    dp.eq(next_event(c2), ": connected")
    dp.eq(sse_count(srv, room), 2)
    c.close()
    dp.wait_until(lambda: sse_count(srv, room) == 1, 3.0, "count back to 1 after a FIN")
    c2.reset()
    dp.wait_until(lambda: sse_count(srv, room) == 0, 3.0, "count back to 0 after an RST")
    # Publishing into the empty room reaches nobody and does not fail.
    r = srv.request("POST", "/sse/" + room, body="nobody")
    dp.eq(r.status, 200)
    dp.eq(r.json(), {"delivered": 0})
    still_serving(srv)


def test_sse_many_subscribers_leave(srv):
    room = "crowd"
    subs = []
    for _ in range(30):
        c = open_sse(srv, room)
        dp.eq(next_event(c), ": connected")
        subs.append(c)
    dp.eq(sse_count(srv, room), 30)
    for i, c in enumerate(subs):
        c.close() if i % 2 else c.reset()
    dp.wait_until(lambda: sse_count(srv, room) == 0, 5.0, "all 30 subscribers dropped")


def test_sse_events_in_order(srv):
    room = "order"
    a = open_sse(srv, room)
    b = open_sse(srv, room)
    dp.eq(next_event(a), ": connected")
    dp.eq(next_event(b), ": connected")
    n = 40
    with srv.conn() as p:
        for i in range(n):
            r = p.request("POST", "/sse/" + room, body="event-%03d" % i)
            dp.eq(r.status, 200)
            dp.eq(r.json(), {"delivered": 2})
    for sub in (a, b):
        for i in range(n):
            dp.eq(next_event(sub), "data: event-%03d" % i, "event %d" % i)
    a.close()
    b.close()


def test_sse_pipelined_publishes_in_order(srv):
    room = "order-pipe"
    a = open_sse(srv, room)
    dp.eq(next_event(a), ": connected")
    n = 50
    with srv.conn() as p:
        p.send(b"".join(dp.build("POST", "/sse/" + room, body="p%d" % i) for i in range(n)))
        for i in range(n):
            dp.eq(p.read_response().json(), {"delivered": 1}, "publish %d" % i)
    got = [next_event(a) for _ in range(n)]
    dp.eq(got, ["data: p%d" % i for i in range(n)])
    a.close()


def test_sse_publishers_on_many_connections(srv):
    # Publishes from several connections: each publisher's events keep their
    # own order in the stream, and nothing is lost.
    room = "multi"
    a = open_sse(srv, room)
    dp.eq(next_event(a), ": connected")
    pubs = [srv.conn() for _ in range(4)]
    for i in range(10):
        for k, p in enumerate(pubs):
            p.send(dp.build("POST", "/sse/" + room, body="%d-%d" % (k, i)))
    for p in pubs:
        for i in range(10):
            dp.eq(p.read_response().status, 200)
        p.close()
    got = [next_event(a)[len("data: "):] for _ in range(40)]
    for k in range(4):
        mine = [g for g in got if g.startswith("%d-" % k)]
        dp.eq(mine, ["%d-%d" % (k, i) for i in range(10)], "publisher %d's order" % k)
    a.close()


if __name__ == "__main__":
    dp.main(globals())
