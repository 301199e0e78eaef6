"""1,000 concurrent connections, all open at once (one selector thread,
non-blocking sockets): every one gets its answer; through one actor the
1,000 increments are serialized (each count seen exactly once); the metrics
gauge counts the open connections."""

import errno
import re
import selectors
import socket
import time

import dortproc as dp

N = 1000


def open_all(srv, n):
    """n connected non-blocking sockets (all connects finished)."""
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((srv.host, srv.port))
        if rc not in (0, errno.EINPROGRESS):
            raise dp.TestFailure("connect failed: %s" % errno.errorcode.get(rc, rc))
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE)
    pending = len(socks)
    deadline = time.monotonic() + 15
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            s = key.fileobj
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise dp.TestFailure("connect failed: %s" % errno.errorcode.get(err, err))
            sel.unregister(s)
            pending -= 1
    sel.close()
    dp.eq(pending, 0, "connections still connecting")
    return socks


def exchange_all(socks, reqs, timeout=20):
    """Sends reqs[i] on socks[i] and reads one Content-Length response from
    each, all concurrently; returns [(status, body)] in socket order."""
    sel = selectors.DefaultSelector()
    out = [None] * len(socks)
    state = {}
    for i, s in enumerate(socks):
        state[s] = [i, reqs[i], b""]
        sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ)
    left = len(socks)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        for key, ev in sel.select(0.5):
            s = key.fileobj
            st = state[s]
            if ev & selectors.EVENT_WRITE and st[1]:
                n = s.send(st[1])
                st[1] = st[1][n:]
                if not st[1]:
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    raise dp.TestFailure("connection %d closed without an answer (%r)" %
                                         (st[0], st[2]))
                st[2] += data
                head, sep, body = st[2].partition(b"\r\n\r\n")
                if sep:
                    m = re.search(rb"\r\nContent-Length: (\d+)", head, re.I)
                    if m and len(body) >= int(m.group(1)):
                        status = int(head.split(b" ", 2)[1])
                        out[st[0]] = (status, body[:int(m.group(1))])
                        sel.unregister(s)
                        left -= 1
    sel.close()
    dp.eq(left, 0, "connections without an answer after %ds" % timeout)
    return out


def close_all(socks):
    for s in socks:
        s.close()


def test_1000_concurrent_health(srv):
    socks = open_all(srv, N)
    try:
        res = exchange_all(socks, [dp.build("GET", "/health?i=%d" % i) for i in range(N)])
        bad = [(i, r) for i, r in enumerate(res) if r != (200, b"ok")]
        dp.eq(bad[:5], [], "answers other than 200 ok (%d of them)" % len(bad))
        # Still all open and all usable: a second round on the same sockets.
        res = exchange_all(socks, [dp.build("POST", "/echo", body="r2-%d" % i)
                                   for i in range(N)])
        for i, r in enumerate(res):
            dp.eq(r, (200, b"r2-%d" % i), "second round, connection %d" % i)
        # The server counts them (1000 + the metrics request itself).
        m = srv.get("/__dort/metrics").body.decode()
        g = re.search(r"^dort_http_connections_open (\d+)$", m, re.M)
        dp.ok(g is not None, "dort_http_connections_open in metrics")
        dp.ok(int(g.group(1)) >= N + 1, "connections_open %s with %d open" % (g.group(1), N))
    finally:
        close_all(socks)


def test_1000_concurrent_one_actor(srv):
    socks = open_all(srv, N)
    try:
        res = exchange_all(socks, [dp.build("POST", "/counter/conc") for _ in range(N)])
        counts = []
        for i, (status, body) in enumerate(res):
            dp.eq(status, 200, "connection %d (%r)" % (i, body))
            counts.append(int(re.match(rb'\{"count":(\d+)\}$', body).group(1)))
        dp.eq(sorted(counts), list(range(1, N + 1)), "each increment seen exactly once")
    finally:
        close_all(socks)
    dp.eq(srv.get("/counter/conc").json(), {"count": N})


def test_1000_concurrent_many_actors(srv):
    socks = open_all(srv, N)
    try:
        res = exchange_all(socks, [dp.build("POST", "/counter/many-%d" % (i % 100))
                                   for i in range(N)])
        dp.eq(sorted(set(r[0] for r in res)), [200])
    finally:
        close_all(socks)
    for k in (0, 42, 99):
        dp.eq(srv.get("/counter/many-%d" % k).json(), {"count": 10}, "actor many-%d" % k)


def test_connections_closed_are_counted_down(srv):
    socks = open_all(srv, 200)
    exchange_all(socks, [dp.build("GET", "/health") for _ in range(200)])
    close_all(socks)

    def open_count():
        m = srv.get("/__dort/metrics").body.decode()
        return int(re.search(r"^dort_http_connections_open (\d+)$", m, re.M).group(1))
    dp.wait_until(lambda: open_count() <= 2, 5.0, "connections_open back down after closing")


if __name__ == "__main__":
    dp.main(globals())
