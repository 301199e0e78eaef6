"""Every HTTP limit with its status, dort's JSON error body, Connection:
close and the connection closed afterwards, the server serving on:
431 (max_header_bytes 8192), 413 (max_body_bytes 65536, from Content-Length
before reading and while reading a chunked body), 408 (request_timeout_ms
1500: slowloris and stalls), 400 (malformed), 503 (max_connections 50, with
a second fixture config)."""

import os
import select
import socket
import time

import dortproc as dp

TIMEOUT_S = 1.5  # request_timeout_ms in testapp.json
SLACK_S = 1.0


def expect_error_and_close(c, status, code, timeout=3.0):
    r = c.read_response(timeout=timeout)
    dp.error_body(r, status, code)
    dp.eq((r.header("connection") or "").lower(), "close", "Connection header of a %d" % status)
    rest = c.read_to_eof(timeout=4.0)
    dp.eq(rest, b"", "bytes after the %d answer" % status)
    dp.ok(c.eof, "the server closes the connection after a %d" % status)
    return r


def still_serving(srv):
    r = srv.get("/health")
    dp.eq(r.status, 200, "server still serving")
    dp.eq(r.body, b"ok")


# ---- 431 ----

def test_431_many_headers(srv):
    headers = [("X-Pad-%03d" % i, "v" * 100) for i in range(100)]  # ~11 KB
    with srv.conn() as c:
        c.send(dp.build("GET", "/health", headers=headers))
        expect_error_and_close(c, 431, "headers_too_large")
    still_serving(srv)


def test_431_long_url(srv):
    with srv.conn() as c:
        c.send(dp.build("GET", "/health?q=" + "a" * 9000))
        expect_error_and_close(c, 431, "headers_too_large")
    still_serving(srv)


def test_431_one_huge_header_in_pieces(srv):
    with srv.conn() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            for _ in range(20):
                c.send(b"b" * 1000)
                time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            pass
        expect_error_and_close(c, 431, "headers_too_large")
    still_serving(srv)


def test_headers_under_limit_served(srv):
    headers = [("X-Pad-%02d" % i, "v" * 100) for i in range(60)]  # ~6.5 KB < 8192
    with srv.conn() as c:
        r = c.request("GET", "/health", headers=headers)
        dp.eq(r.status, 200)
        # The count starts over for every request on a connection.
        r = c.request("GET", "/health", headers=headers)
        dp.eq(r.status, 200)


def test_431_after_good_request_same_connection(srv):
    headers = [("X-Pad-%03d" % i, "v" * 100) for i in range(100)]
    with srv.conn() as c:
        c.send(dp.build("GET", "/health") + dp.build("GET", "/health", headers=headers))
        r = c.read_response()
        dp.eq(r.status, 200)
        dp.eq(r.body, b"ok")
        expect_error_and_close(c, 431, "headers_too_large")


# ---- 413 ----

def test_413_content_length_not_read(srv):
    with srv.conn() as c:
        t0 = time.monotonic()
        # Only the headers: the body is never sent, the answer comes anyway.
        c.send(dp.build("POST", "/echo", headers=[("Content-Length", "65537")]))
        expect_error_and_close(c, 413, "body_too_large", timeout=1.0)
        dp.ok(time.monotonic() - t0 < 1.0, "413 without waiting for the body")
    still_serving(srv)


def test_413_huge_content_length(srv):
    with srv.conn() as c:
        c.send(dp.build("POST", "/echo", headers=[("Content-Length", "1000000000000")]))
        expect_error_and_close(c, 413, "body_too_large", timeout=1.0)


def test_413_chunked_growing(srv):
    with srv.conn() as c:
        c.send(dp.build("POST", "/echo", headers=[("Transfer-Encoding", "chunked")]))
        chunk = b"%x\r\n%s\r\n" % (8192, b"c" * 8192)
        sent = 0
        got = False
        for _ in range(12):  # up to 96 KiB
            try:
                c.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 8192
            r, _, _ = select.select([c.sock], [], [], 0.02)
            if r:
                got = True
                break
        dp.ok(sent > 65536 or got, "sent %d bytes" % sent)
        dp.ok(sent > 65536 - 8192, "413 only once the body is past the limit (after %d)" % sent)
        expect_error_and_close(c, 413, "body_too_large")
    still_serving(srv)


def test_413_after_good_request_same_connection(srv):
    with srv.conn() as c:
        r = c.request("POST", "/echo", body="fine")
        dp.eq(r.body, b"fine")
        c.send(dp.build("POST", "/echo", headers=[("Content-Length", "70000")]))
        expect_error_and_close(c, 413, "body_too_large")


# ---- 408 ----

def slow_send_until_answer(c, first, drip, interval, limit_s):
    """Sends `first`, then one byte of `drip` every `interval` s until the
    server answers something; returns seconds from the first byte."""
    t0 = time.monotonic()
    c.send(first)
    i = 0
    while time.monotonic() - t0 < limit_s:
        r, _, _ = select.select([c.sock], [], [], interval)
        if r:
            return time.monotonic() - t0
        try:
            c.send(drip[i % len(drip):i % len(drip) + 1])
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - t0
        i += 1
    raise dp.TestFailure("no answer within %.1fs of a slowloris" % limit_s)


def test_408_slowloris_byte_by_byte(srv):
    with srv.conn(timeout=6) as c:
        # Headers one byte every 100 ms, never finished: each byte is new
        # data, but the request as a whole must arrive within the timeout.
        t = slow_send_until_answer(c, b"G", b"ET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " +
                                   b"s" * 200, 0.1, TIMEOUT_S + SLACK_S + 2)
        dp.within(t, TIMEOUT_S - 0.1, TIMEOUT_S + SLACK_S, "408 after (s)")
        expect_error_and_close(c, 408, "request_timeout")
    still_serving(srv)


def test_408_stall_mid_headers(srv):
    with srv.conn(timeout=6) as c:
        t0 = time.monotonic()
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        r = c.read_response(timeout=TIMEOUT_S + SLACK_S + 1)
        t = time.monotonic() - t0
        dp.error_body(r, 408, "request_timeout")
        dp.within(t, TIMEOUT_S - 0.1, TIMEOUT_S + SLACK_S, "408 after (s)")
        dp.ok(c.at_eof(3.0), "closed after the 408")
    still_serving(srv)


def test_408_stall_mid_body(srv):
    with srv.conn(timeout=6) as c:
        t0 = time.monotonic()
        c.send(dp.build("POST", "/echo", headers=[("Content-Length", "100")]) + b"0123456789")
        expect_error_and_close(c, 408, "request_timeout", timeout=TIMEOUT_S + SLACK_S + 1)
        dp.within(time.monotonic() - t0, TIMEOUT_S - 0.1, TIMEOUT_S + SLACK_S + 0.5, "408 after")


def test_408_stall_mid_chunked_body(srv):
    with srv.conn(timeout=6) as c:
        c.send(dp.build("POST", "/echo", headers=[("Transfer-Encoding", "chunked")]) +
               b"5\r\nabcde\r\n")
        expect_error_and_close(c, 408, "request_timeout", timeout=TIMEOUT_S + SLACK_S + 1)


def test_no_408_between_requests(srv):
    # The request timeout runs only while a request is arriving: an idle
    # keep-alive connection (before the first request and between requests)
    # is governed by the longer keep-alive timeout.
    with srv.conn(timeout=6) as c:
        time.sleep(TIMEOUT_S + 0.5)
        r = c.request("GET", "/health")
        dp.eq(r.status, 200)
        time.sleep(TIMEOUT_S + 0.5)
        r = c.request("GET", "/health")
        dp.eq(r.status, 200)


def test_408_second_pipelined_request_stalls(srv):
    # A complete request followed by half of another: the first is answered,
    # the second times out with 408 and the connection closes.
    with srv.conn(timeout=6) as c:
        c.send(dp.build("GET", "/health") + b"GET /health HTTP/1.1\r\nHo")
        r = c.read_response()
        dp.eq(r.status, 200)
        expect_error_and_close(c, 408, "request_timeout", timeout=TIMEOUT_S + SLACK_S + 1)


# ---- 400 ----

BAD_REQUESTS = [
    ("garbage line", b"GARBAGE\r\n\r\n"),
    ("unknown method", b"FROB /health HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("space in target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("bad version", b"GET /health HTTP/x.y\r\nHost: x\r\n\r\n"),
    ("binary", b"\x00\x01\x02\x03\r\n\r\n"),
    ("bad content-length", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
    ("two content-lengths", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                            b"Content-Length: 4\r\n\r\nabcd"),
    ("content-length and chunked", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
    ("bad chunk size", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\nabc\r\n0\r\n\r\n"),
    ("header without colon", b"GET /health HTTP/1.1\r\nHost x\r\n\r\n"),
]


def test_400_malformed(srv):
    for name, raw in BAD_REQUESTS:
        with srv.conn() as c:
            c.send(raw)
            try:
                expect_error_and_close(c, 400, "bad_request")
            except Exception as e:
                raise dp.TestFailure("%s (%r): %s" % (name, raw, e))
    still_serving(srv)


def test_400_space_before_colon(srv):
    # RFC 9112 5.1: "A server MUST reject, with a response status code of
    # 400 (Bad Request), any received request message that contains
    # whitespace between a header field name and colon" (a smuggling vector:
    # llhttp in its default mode passes the name on as "Host ").
    for raw in (b"GET /health HTTP/1.1\r\nHost : x\r\n\r\n",
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc"):
        with srv.conn() as c:
            c.send(raw)
            expect_error_and_close(c, 400, "bad_request")


def test_400_after_good_request(srv):
    with srv.conn() as c:
        c.send(dp.build("GET", "/health") + b"NOT HTTP AT ALL\r\n\r\n")
        r = c.read_response()
        dp.eq(r.body, b"ok")
        expect_error_and_close(c, 400, "bad_request")


def test_400_while_earlier_answer_pending(srv):
    # The 400 is written after the answer of the request before it (slow).
    with srv.conn() as c:
        c.send(dp.build("GET", "/slow?ms=200") + b"NOT HTTP AT ALL\r\n\r\n")
        r = c.read_response()
        dp.eq(r.body, b"slow")
        expect_error_and_close(c, 400, "bad_request")


# ---- 503: max_connections 50 ----

def test_503_beyond_max_connections():
    cfg = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testapp_maxconn.json")
    srv = dp.Server(config=cfg)
    conns = []
    try:
        for i in range(50):
            c = srv.conn()
            conns.append(c)
            r = c.request("GET", "/health")
            dp.eq(r.status, 200, "connection %d" % i)
        # The 51st is accepted only to be told 503 and closed.
        with srv.conn() as extra:
            expect_error_and_close(extra, 503, "too_many_connections")
        # A few more in a row, all refused the same way.
        for _ in range(3):
            with srv.conn() as extra:
                r = extra.read_response()
                dp.error_body(r, 503, "too_many_connections")
        # The first 50 were not disturbed.
        for i, c in enumerate(conns):
            r = c.request("POST", "/echo", body="still %d" % i)
            dp.eq(r.body, b"still %d" % i, "connection %d after the refusals" % i)
        # Freeing slots lets new connections in again.
        for c in conns[:10]:
            c.close()
        conns = conns[10:]

        def served():
            try:
                with srv.conn() as c:
                    return c.request("GET", "/health").status == 200
            except (dp.Closed, OSError, dp.TestFailure):
                return False
        dp.wait_until(served, 5.0, "a new connection is served once others closed")
        for c in conns:
            dp.eq(c.request("GET", "/health").status, 200)
    finally:
        for c in conns:
            c.close()
        srv.stop()


if __name__ == "__main__":
    dp.main(globals())
