"""WebSockets over the real binary: the opening handshake (101 with the
right Sec-WebSocket-Accept; bad keys and versions refused without an
upgrade), echo of text and binary messages across every length encoding,
tags and getWebSockets(tag), broadcast within one actor only, hibernation
(the actor is evicted while its sockets stay open; the attachment survives
and init runs again), the auto-response and pings answered without waking
the actor, close codes for oversized (1009) and malformed (1002) input, the
closing handshake from either side, 200 sockets on one actor, and SIGINT
closing every socket with 1001.

The actor is WsEcho (ws_echo.c) behind GET /ws/:name. The client below is
plain sockets: frames are built and parsed byte by byte.

Four tests failed when written, each on a runtime bug (not on the test):
test_handshake_needs_connection_upgrade and test_handshake_http10_not_upgraded
(a 101 is answered on a connection the HTTP layer does not hand over),
test_close_with_one_byte_body_1002 (taken as a close without a code), and
test_sigint_flushes_queued_data_before_1001 (stop closes sockets with
output still queued, so the 1001 never leaves)."""

import base64
import hashlib
import os
import re
import signal
import socket
import struct
import time

import dortproc as dp

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455, section 1.3

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

MAX_MSG = 1000  # limits.websocket_max_message_bytes of the small-limit server


def accept_of(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


# ---- frames ----

def frame(op, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """One client frame. `length` overrides the encoded payload length (for
    headers that lie); the mask key is random unless mask is bytes."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    out = bytes([(0x80 if fin else 0) | (rsv << 4) | op])
    m = 0x80 if mask else 0
    if n < 126:
        out += bytes([m | n])
    elif n < 65536:
        out += bytes([m | 126]) + struct.pack(">H", n)
    else:
        out += bytes([m | 127]) + struct.pack(">Q", n)
    if mask:
        key = mask if isinstance(mask, bytes) else os.urandom(4)
        out += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if len(payload) < 4096 \
            else xor_mask(payload, key)
    return out + payload


def xor_mask(data, key):
    """Fast masking of a long payload (whole 4-byte words as one integer)."""
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def server_header(op, n):
    """The exact header of an unfragmented, unmasked server frame."""
    b0 = bytes([0x80 | op])
    if n < 126:
        return b0 + bytes([n])
    if n < 65536:
        return b0 + bytes([126]) + struct.pack(">H", n)
    return b0 + bytes([127]) + struct.pack(">Q", n)


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + (reason.encode() if isinstance(reason, str) else reason)


class WS:
    """A client socket after its 101: exact frames in and out."""

    def __init__(self, conn, name, head):
        self.c = conn
        self.name = name
        self.head = head

    def send_raw(self, data):
        self.c.send(data)

    def send(self, op, payload=b"", **kw):
        self.c.send(frame(op, payload, **kw))

    def text(self, s):
        self.send(OP_TEXT, s)

    def binary(self, b):
        self.send(OP_BINARY, b)

    def read_frame(self, timeout=5.0):
        """(fin, rsv, op, payload, raw header) of the next server frame; server
        frames must not be masked."""
        h = self.c.read_exact(2, timeout)
        n = h[1] & 0x7F
        dp.eq(h[1] & 0x80, 0, "server frames are unmasked (header %r)" % h)
        ext = b""
        if n == 126:
            ext = self.c.read_exact(2, timeout)
            n = struct.unpack(">H", ext)[0]
        elif n == 127:
            ext = self.c.read_exact(8, timeout)
            n = struct.unpack(">Q", ext)[0]
        payload = self.c.read_exact(n, timeout) if n else b""
        return bool(h[0] & 0x80), (h[0] >> 4) & 7, h[0] & 0x0F, payload, h + ext

    def expect(self, op, payload, timeout=5.0, what=""):
        """The next frame is exactly one unfragmented frame `op` with `payload`."""
        if isinstance(payload, str):
            payload = payload.encode()
        fin, rsv, got_op, got, raw = self.read_frame(timeout)
        w = (what + ": ") if what else ""
        dp.eq((fin, rsv, got_op), (True, 0, op), w + "FIN, RSV and opcode (payload %r)" % got[:80])
        dp.eq(raw, server_header(op, len(payload)), w + "frame header bytes")
        if got != payload:
            raise dp.TestFailure("%spayload of %d bytes differs from the %d expected "
                                 "(first bytes %r vs %r)" % (w, len(got), len(payload),
                                                             got[:40], payload[:40]))

    def ask_many(self, *cmds, timeout=5.0):
        """Sends text commands in one write (they reach the actor back to
        back, so no eviction falls between them); returns the answers."""
        self.send_raw(b"".join(frame(OP_TEXT, c) for c in cmds))
        out = []
        for c in cmds:
            fin, rsv, op, payload, _ = self.read_frame(timeout)
            dp.eq((fin, op), (True, OP_TEXT), "answer to %r (payload %r)" % (c, payload[:80]))
            out.append(payload.decode())
        return out

    def expect_text(self, s, **kw):
        self.expect(OP_TEXT, s, **kw)

    def ask(self, s, timeout=5.0):
        """Sends a text command and returns the text answer."""
        self.text(s)
        fin, rsv, op, payload, _ = self.read_frame(timeout)
        dp.eq((fin, op), (True, OP_TEXT), "answer to %r (payload %r)" % (s, payload[:80]))
        return payload.decode()

    def expect_close(self, timeout=5.0):
        """The next frame is a close frame; returns (code, reason bytes), code
        None for an empty close."""
        fin, rsv, op, payload, raw = self.read_frame(timeout)
        dp.eq((fin, rsv, op), (True, 0, OP_CLOSE), "close frame (payload %r)" % payload[:80])
        dp.ok(len(payload) != 1, "close payload of one byte")
        if not payload:
            return None, b""
        return struct.unpack(">H", payload[:2])[0], payload[2:]

    def expect_eof(self, timeout=5.0, what="the server ends the TCP connection"):
        try:
            rest = self.c.read_to_eof(timeout)
        except socket.timeout:
            raise dp.TestFailure(what + ": still open after %.1fs" % timeout)
        dp.eq(rest, b"", what + ": nothing after the close frame")
        dp.ok(self.c.eof, what + ": no EOF within %.1fs" % timeout)
        self.c.close()  # the server lingers until the client closes too

    def close(self):
        self.c.close()


def upgrade_request(path, key=RFC_KEY, version="13", extra=(), connection="Upgrade",
                    upgrade="websocket", method="GET"):
    h = []
    if upgrade is not None:
        h.append(("Upgrade", upgrade))
    if connection is not None:
        h.append(("Connection", connection))
    if key is not None:
        h.append(("Sec-WebSocket-Key", key))
    if version is not None:
        h.append(("Sec-WebSocket-Version", version))
    return dp.build(method, path, headers=h + list(extra))


def ws_path(name, tags=()):
    q = "&".join("tag=" + t for t in tags)
    return "/ws/%s%s" % (name, ("?" + q) if q else "")


def open_ws(srv, name, tags=(), timeout=5.0):
    """A socket to actor `name`, its handshake checked exactly."""
    c = srv.conn(timeout)
    key = new_key()
    c.send(upgrade_request(ws_path(name, tags), key=key))
    r = c.read_head(timeout)
    dp.eq(r.status, 101, "upgrade of %s (head %r)" % (name, r.raw_head[:300]))
    dp.eq(r.reason, "Switching Protocols")
    dp.eq(r.header("upgrade", "").lower(), "websocket", "Upgrade header")
    dp.eq(r.header("connection", "").lower(), "upgrade", "Connection header")
    dp.eq(r.header_all("sec-websocket-accept"), [accept_of(key)], "Sec-WebSocket-Accept")
    dp.eq(r.header("content-length"), None, "no Content-Length on a 101")
    dp.eq(r.header("transfer-encoding"), None, "no Transfer-Encoding on a 101")
    return WS(c, name, r)


def metrics(srv):
    r = srv.get("/__dort/metrics")
    dp.eq(r.status, 200)
    out = {}
    for ln in r.body.decode().splitlines():
        m = re.match(r"^(dort_[a-z_]+) (\d+)$", ln)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def metric(srv, name):
    return metrics(srv)[name]


def wait_ws_open(srv, n, timeout=3.0):
    dp.wait_until(lambda: metric(srv, "dort_websockets_open") == n, timeout,
                  "dort_websockets_open == %d" % n)


def still_serving(srv):
    r = srv.get("/health")
    dp.eq(r.status, 200, "server still serving")


def start(args=(), config=None):
    return dp.Server(config=config, args=list(args))


def with_server(fn, args=(), config=None):
    """Runs fn(server) on a server of its own, stopped with SIGINT and exit 0."""
    s = start(args, config)
    try:
        fn(s)
    except BaseException:
        s.kill()
        raise
    s.stop()


# ---- the handshake ----

def test_handshake_known_answer(srv):
    c = srv.conn()
    c.send(upgrade_request("/ws/hs", key=RFC_KEY))
    r = c.read_head()
    dp.eq(r.raw_head.split(b"\r\n")[0], b"HTTP/1.1 101 Switching Protocols", "status line")
    dp.eq(r.header_all("sec-websocket-accept"), [RFC_ACCEPT])
    dp.eq(r.header("upgrade"), "websocket")
    ws = WS(c, "hs", r)
    ws.text("hello")
    ws.expect_text("hello")
    ws.close()
    # Header names and tokens in any case, lists, whitespace.
    for extra in ([("Upgrade", "h2c, WebSocket"), ("Connection", "keep-alive, Upgrade")],
                  [("UPGRADE", "WEBSOCKET"), ("CONNECTION", "UPGRADE")]):
        c = srv.conn()
        key = new_key()
        c.send(dp.build("GET", "/ws/hs", headers=extra + [("Sec-WebSocket-Key", "  " + key),
                                                          ("Sec-WebSocket-Version", " 13")]))
        r = c.read_head()
        dp.eq(r.status, 101, "upgrade with %r" % extra)
        dp.eq(r.header("sec-websocket-accept"), accept_of(key))
        ws = WS(c, "hs", r)
        ws.text("x")
        ws.expect_text("x")
        ws.close()


def expect_refused(srv, req, status, what):
    """An upgrade that is refused: the answer, no 101, no socket; the server
    closes the connection (what follows an upgrade request is not HTTP)."""
    before = metric(srv, "dort_websockets_open")
    with srv.conn() as c:
        c.send(req)
        r = c.read_response()
        dp.eq(r.status, status, "%s: status (body %r)" % (what, r.body[:200]))
        dp.eq(r.header("sec-websocket-accept"), None, what + ": no Sec-WebSocket-Accept")
        dp.ok((r.header("upgrade") or "") == "", what + ": no Upgrade header in %r" % r.headers)
        if status == 426:
            dp.eq(r.header("sec-websocket-version"), "13", what + ": the version we speak")
        # A frame now must not be answered as a WebSocket would.
        try:
            c.send(frame(OP_TEXT, "are you a websocket?"))
        except OSError:
            pass
        try:
            rest = c.read_to_eof(timeout=3.0)
        except socket.timeout:
            raise dp.TestFailure(what + ": connection still open after the refusal")
        dp.ok(b"are you" not in rest, what + ": the frame was echoed: %r" % rest[:100])
    dp.eq(metric(srv, "dort_websockets_open"), before, what + ": no socket opened")


def test_handshake_refused(srv):
    for key, what in [(None, "no key"),
                      ("c2hvcnQ=", "key of 5 bytes"),
                      ("dGhlIHNhbXBsZSBub25jZQ=", "key of 23 characters"),
                      ("dGhlIHNhbXBsZSBub25j*Q==", "key not base64"),
                      ("dGhlIHNhbXBsZSBub25jZQo=", "key of 17 bytes"),
                      ("", "empty key")]:
        expect_refused(srv, upgrade_request("/ws/refused", key=key), 400, what)
    for version in ("12", "8", "14", "13, 8"):
        expect_refused(srv, upgrade_request("/ws/refused", version=version), 426,
                       "version %r" % version)
    expect_refused(srv, upgrade_request("/ws/refused", version=None), 400, "no version")
    # Upgrade to something else than websocket.
    expect_refused(srv, upgrade_request("/ws/refused", upgrade="h2c"), 400, "Upgrade: h2c")
    # Only GET upgrades (the route is GET only: 405 from the worker).
    expect_refused(srv, upgrade_request("/ws/refused", method="POST"), 405, "POST upgrade")
    # Too many tags for one socket: the actor refuses (DORT_ELIMIT).
    expect_refused(srv, upgrade_request(ws_path("refused", ["t%d" % i for i in range(11)])),
                   400, "11 tags")
    expect_refused(srv, upgrade_request(ws_path("refused", ["x" * 257])), 400, "a 257-byte tag")
    # A plain GET of the socket's URL is answered 426 and stays HTTP.
    with srv.conn() as c:
        r = c.request("GET", "/ws/refused")
        dp.eq(r.status, 426)
        dp.eq(r.header("sec-websocket-version"), "13")
        dp.eq(c.request("GET", "/health").body, b"ok", "keep-alive after a plain 426")
    still_serving(srv)


def test_handshake_needs_connection_upgrade(srv):
    # RFC 6455 4.2.1: the request must carry Connection: Upgrade. Without it
    # the HTTP layer does not hand the connection over, so a 101 would be a
    # lie: the client would speak WebSocket to an HTTP parser.
    for conn_value in (None, "keep-alive"):
        with srv.conn() as c:
            c.send(upgrade_request("/ws/noconn", connection=conn_value))
            r = c.read_response()
            dp.ok(r.status != 101,
                  "Connection: %r: answered 101 without an upgrade (head %r)" %
                  (conn_value, r.raw_head[:300]))
            dp.ok(400 <= r.status < 500, "Connection: %r: a 4xx, got %d" % (conn_value, r.status))
    still_serving(srv)


def test_handshake_http10_not_upgraded(srv):
    # RFC 7230 6.7: a server MUST ignore Upgrade in an HTTP/1.0 request;
    # RFC 6455 4.1 asks for HTTP/1.1 or higher.
    with srv.conn() as c:
        c.send(upgrade_request("/ws/h10").replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1))
        r = c.read_head()
        dp.ok(r.status != 101, "HTTP/1.0 request upgraded (head %r)" % r.raw_head[:300])


def test_handshake_offers_declined(srv):
    # Subprotocols and extensions the client offers are not taken: no
    # Sec-WebSocket-Protocol or -Extensions in the 101, and frames stay
    # uncompressed (RSV1 unset).
    c = srv.conn()
    c.send(upgrade_request("/ws/offers", extra=[
        ("Sec-WebSocket-Protocol", "chat, superchat"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
        ("Origin", "http://example.com")]))
    r = c.read_head()
    dp.eq(r.status, 101)
    dp.eq(r.header("sec-websocket-protocol"), None, "no subprotocol chosen")
    dp.eq(r.header("sec-websocket-extensions"), None, "no extension accepted")
    ws = WS(c, "offers", r)
    ws.text("plain " * 50)
    ws.expect_text("plain " * 50)
    ws.close()


# ---- messages ----

SIZES = [0, 1, 124, 125, 126, 127, 1000, 65535, 65536, 65537, 200000]


def test_echo_text_and_binary(srv):
    ws = open_ws(srv, "echo")
    for n in SIZES:
        data = os.urandom(n)
        ws.binary(data)
        ws.expect(OP_BINARY, data, what="binary of %d bytes" % n)
        txt = ("abcdefghijklmnopqrstuvwxyz0123456789" * (n // 36 + 1))[:n]
        ws.text(txt)
        ws.expect(OP_TEXT, txt, what="text of %d bytes" % n)
    # UTF-8 passes through as bytes.
    s = "h\u00e9llo \u20ac \U0001F600"
    ws.text(s)
    ws.expect_text(s.encode("utf-8"))
    # Many messages in one write keep their order.
    ws.send_raw(b"".join(frame(OP_TEXT, "m%d" % i) for i in range(100)))
    for i in range(100):
        ws.expect_text("m%d" % i)
    # A frame split across many writes.
    raw = frame(OP_BINARY, b"slow" * 100)
    for i in range(0, len(raw), 7):
        ws.send_raw(raw[i:i + 7])
        time.sleep(0.001)
    ws.expect(OP_BINARY, b"slow" * 100)
    # A zero mask key leaves the payload as is.
    ws.send(OP_TEXT, "zero mask", mask=b"\0\0\0\0")
    ws.expect_text("zero mask")
    ws.close()


def test_fragmented_messages(srv):
    ws = open_ws(srv, "frag")
    ws.send(OP_TEXT, "frag", fin=False)
    ws.send(OP_CONT, "men", fin=False)
    ws.send(OP_CONT, "ted", fin=True)
    ws.expect_text("fragmented")
    # A ping between fragments is answered at once; the message still
    # arrives whole afterwards.
    ws.send(OP_BINARY, b"\x00\x01", fin=False)
    ws.send(OP_PING, b"in-between")
    ws.expect(OP_PONG, b"in-between")
    ws.send(OP_CONT, b"\x02\x03", fin=True)
    ws.expect(OP_BINARY, b"\x00\x01\x02\x03")
    # Empty fragments.
    ws.send(OP_TEXT, "", fin=False)
    ws.send(OP_CONT, "", fin=False)
    ws.send(OP_CONT, "x", fin=True)
    ws.expect_text("x")
    # A message of 100,000 bytes in 10 fragments.
    big = os.urandom(100000)
    for i in range(10):
        ws.send(OP_BINARY if i == 0 else OP_CONT, big[i * 10000:(i + 1) * 10000], fin=(i == 9))
    ws.expect(OP_BINARY, big)
    ws.close()


def test_ping_pong(srv):
    ws = open_ws(srv, "pinger")
    for payload in (b"", b"abc\x00\xff", os.urandom(125)):
        ws.send(OP_PING, payload)
        fin, rsv, op, got, raw = ws.read_frame()
        dp.eq((fin, rsv, op), (True, 0, OP_PONG), "pong for a ping of %d bytes" % len(payload))
        dp.eq(raw, server_header(OP_PONG, len(payload)), "pong header bytes")
        dp.eq(got, payload, "pong payload")
    # An unsolicited pong needs no answer.
    ws.send(OP_PONG, b"unasked")
    ws.text("after pong")
    ws.expect_text("after pong")
    ws.close()


def test_auto_response(srv):
    ws = open_ws(srv, "auto")
    ws.text("ping")
    ws.expect_text("pong")
    # Only an exact text match is auto-answered.
    for s in ("ping ", "Ping", "pin", "pingping"):
        ws.text(s)
        ws.expect_text(s)
    ws.binary(b"ping")
    ws.expect(OP_BINARY, b"ping")
    # Auto-answered messages keep their place among echoed ones.
    ws.send_raw(frame(OP_TEXT, "a") + frame(OP_TEXT, "ping") + frame(OP_TEXT, "b"))
    got = [ws.read_frame()[3] for _ in range(3)]
    dp.eq(sorted(got), [b"a", b"b", b"pong"], "three answers")
    dp.ok(got.index(b"a") < got.index(b"b"), "echoes in order: %r" % got)
    ws.close()


def test_tags_and_count(srv):
    a = open_ws(srv, "tags", ["red", "blue"])
    b = open_ws(srv, "tags", ["blue"])
    c = open_ws(srv, "tags")
    d = open_ws(srv, "tags", ["hello%20world", "caf%C3%A9"])
    other = open_ws(srv, "tags-other", ["blue", "red"])
    dp.eq(a.ask("tags"), "red,blue")
    dp.eq(b.ask("tags"), "blue")
    dp.eq(c.ask("tags"), "")
    dp.eq(d.ask("tags"), "hello world,caf\u00e9")
    dp.eq(a.ask("count"), "4")
    dp.eq(a.ask("count:blue"), "2")
    dp.eq(c.ask("count:red"), "1")
    dp.eq(a.ask("count:green"), "0")
    dp.eq(a.ask("count:hello world"), "1")
    dp.eq(a.ask("count:BLUE"), "0", "tags are case-sensitive")
    dp.eq(other.ask("count"), "1")
    dp.eq(other.ask("count:blue"), "1")
    # Ten tags of 256 bytes are the maximum.
    full = ["%c" % (97 + i) * 256 for i in range(10)]
    e = open_ws(srv, "tags", full)
    dp.eq(e.ask("tags"), ",".join(full))
    dp.eq(a.ask("count"), "5")
    dp.eq(a.ask("count:" + "j" * 256), "1")
    # A socket that ended is no longer counted.
    e.send(OP_CLOSE, close_payload(1000))
    dp.eq(e.expect_close()[0], 1000)
    e.close()
    c.close()
    dp.wait_until(lambda: a.ask("count") == "3", 3.0, "count back to 3 after two sockets left")
    dp.eq(a.ask("count:blue"), "2")
    for w in (a, b, d, other):
        w.close()


def test_broadcast(srv):
    room = [open_ws(srv, "bc-room", ["t%d" % i]) for i in range(3)]
    other = open_ws(srv, "bc-other")
    room[0].text("broadcast:hello all")
    for i, w in enumerate(room):
        w.expect_text("hello all", what="socket %d of the room" % i)
    room[2].text("broadcast:from 2")
    for w in room:
        w.expect_text("from 2")
    # Nothing reached the other actor's socket: its next frame is its echo.
    other.text("only mine")
    other.expect_text("only mine")
    other.text("broadcast:other")
    other.expect_text("other")
    for w in room:
        w.text("check")
        w.expect_text("check")
    # Broadcasts from several sockets at once: each socket sees all three,
    # each sender's in order.
    for i, w in enumerate(room):
        w.send_raw(frame(OP_TEXT, "broadcast:%d-a" % i) + frame(OP_TEXT, "broadcast:%d-b" % i))
    for w in room:
        got = [w.read_frame()[3].decode() for _ in range(6)]
        dp.eq(sorted(got), sorted("%d-%s" % (i, x) for i in range(3) for x in "ab"), "six broadcasts")
        for i in range(3):
            dp.ok(got.index("%d-a" % i) < got.index("%d-b" % i), "order of %d: %r" % (i, got))
    for w in room + [other]:
        w.close()


def test_client_close_handshake(srv):
    ws = open_ws(srv, "cclose")
    ws.send(OP_CLOSE, close_payload(4000, "client bye"))
    code, _ = ws.expect_close()
    dp.eq(code, 4000, "the server echoes the client's code")
    ws.expect_eof()
    # The actor saw a clean close with the client's code and reason.
    probe = open_ws(srv, "cclose")
    dp.wait_until(lambda: probe.ask("last").startswith("close 4000 1 client bye;"), 3.0,
                  "websocket_close(4000, 'client bye', clean)")
    # A close without a code: the actor sees 1005; the answer carries no code.
    ws = open_ws(srv, "cclose")
    ws.send(OP_CLOSE)
    code, _ = ws.expect_close()
    dp.ok(code in (None, 1000), "answer to an empty close: %r" % code)
    ws.expect_eof()
    dp.wait_until(lambda: probe.ask("last").startswith("close 1005 1 ;"), 3.0,
                  "websocket_close(1005, clean)")
    # A message after the client's close frame is not delivered.
    ws = open_ws(srv, "cclose")
    ws.send_raw(frame(OP_CLOSE, close_payload(1000)) + frame(OP_TEXT, "too late"))
    dp.eq(ws.expect_close()[0], 1000)
    ws.expect_eof()
    dp.eq(probe.ask("count"), "1", "only the probe is left")
    probe.close()


def test_dropped_connection(srv):
    probe = open_ws(srv, "drop")
    ws = open_ws(srv, "drop")
    dp.eq(probe.ask("count"), "2")
    ws.c.reset()
    dp.wait_until(lambda: probe.ask("last").startswith("close 1006 0 ;"), 3.0,
                  "websocket_close(1006, not clean) after an RST")
    dp.eq(probe.ask("count"), "1")
    ws = open_ws(srv, "drop")
    ws.send_raw(frame(OP_TEXT, "half")[:4])  # a partial frame, then FIN
    ws.c.sock.shutdown(socket.SHUT_WR)
    ws.expect_eof(what="the server closes after the client's FIN")
    dp.wait_until(lambda: probe.ask("count") == "1", 3.0, "count back to 1 after a FIN")
    probe.close()


def test_actor_close(srv):
    ws = open_ws(srv, "aclose")
    ws.text("close:4001:bye")
    fin, rsv, op, payload, raw = ws.read_frame()
    dp.eq(raw + payload, b"\x88\x05\x0f\xa1bye", "close frame 4001 'bye', exact bytes")
    # The actor's sends after its close are refused; the client's messages
    # before its answer may still be delivered, but nothing comes back.
    ws.send(OP_CLOSE, close_payload(4001))
    ws.expect_eof()
    probe = open_ws(srv, "aclose")
    dp.wait_until(lambda: probe.ask("last").startswith("close 4001 1 ;"), 3.0,
                  "websocket_close with the client's answer, clean")
    # Code 1000 without a reason; a 123-byte reason (the maximum).
    ws = open_ws(srv, "aclose")
    ws.text("close:1000")
    dp.eq(ws.expect_close(), (1000, b""))
    ws.send(OP_CLOSE, close_payload(1000))
    ws.expect_eof()
    ws = open_ws(srv, "aclose")
    ws.text("close:4999:" + "r" * 123)
    dp.eq(ws.expect_close(), (4999, b"r" * 123))
    ws.send(OP_CLOSE, close_payload(4999))
    ws.expect_eof()
    # Codes the actor may not send, and a reason too long: refused, open.
    ws = open_ws(srv, "aclose")
    for arg in ("1001:x", "1005:x", "2999:x", "5000:x", "0:x", "4000:" + "r" * 124):
        dp.eq(ws.ask("close:" + arg), "close failed: DORT_EINVAL", "close:%s" % arg[:20])
    dp.eq(ws.ask("still open?"), "still open?")
    ws.close()
    probe.close()


def test_malformed_frames_close_1002(srv):
    cases = [
        ("unmasked frame", b"\x81\x02hi"),
        ("reserved data opcode 0x3", frame(0x3, b"x")),
        ("reserved data opcode 0x7", frame(0x7, b"")),
        ("reserved control opcode 0xB", frame(0xB, b"")),
        ("RSV1", frame(OP_TEXT, b"x", rsv=4)),
        ("RSV2", frame(OP_TEXT, b"x", rsv=2)),
        ("RSV3", frame(OP_BINARY, b"x", rsv=1)),
        ("continuation without a start", frame(OP_CONT, b"x")),
        ("new message inside a fragmented one",
         frame(OP_TEXT, b"a", fin=False) + frame(OP_TEXT, b"b")),
        ("fragmented ping", frame(OP_PING, b"p", fin=False)),
        ("ping of 126 bytes", frame(OP_PING, b"p" * 126)),
        ("close of 126 bytes", frame(OP_CLOSE, close_payload(1000, "r" * 124))),
        ("pong with a 16-bit length", frame(OP_PONG, b"q" * 200)),
    ]
    for i, (what, raw) in enumerate(cases):
        ws = open_ws(srv, "bad%d" % i)
        ws.send_raw(raw)
        fin, rsv, op, payload, hdr = ws.read_frame()
        dp.eq(hdr + payload, b"\x88\x02\x03\xea", what + ": close frame 1002, exact bytes")
        ws.expect_eof(what=what + ": connection ended")
        probe = open_ws(srv, "bad%d" % i)
        dp.wait_until(lambda: probe.ask("last") == "close 1002 0 ;error DORT_EPROTO", 3.0,
                      what + ": websocket_error(EPROTO), then websocket_close(1002)")
        probe.close()
    still_serving(srv)


def test_close_with_one_byte_body_1002(srv):
    # RFC 6455 5.5.1: a close body starts with a two-byte code, so one byte
    # is a protocol error (Autobahn 7.3.2), not "a close without a code".
    ws = open_ws(srv, "close1byte")
    ws.send(OP_CLOSE, b"\x03")
    fin, rsv, op, payload, hdr = ws.read_frame()
    dp.eq(hdr + payload, b"\x88\x02\x03\xea", "close frame 1002, exact bytes")
    ws.expect_eof()


def test_invalid_utf8_closes_1007(srv):
    cases = [
        ("0xFF in a text message", frame(OP_TEXT, b"ok \xff")),
        ("a surrogate (CESU-8)", frame(OP_TEXT, b"\xed\xa0\x80")),
        ("an overlong encoding", frame(OP_TEXT, b"\xc0\xaf")),
        ("a truncated sequence at the end", frame(OP_TEXT, b"abc\xe2\x82")),
        ("bad UTF-8 in fragments", frame(OP_TEXT, b"\xe2", fin=False) + frame(OP_CONT, b"\x28")),
        ("bad UTF-8 in a close reason", frame(OP_CLOSE, close_payload(1000, b"\xff"))),
    ]
    for i, (what, raw) in enumerate(cases):
        ws = open_ws(srv, "utf8-%d" % i)
        # A character split across fragments is fine.
        ws.send_raw(frame(OP_TEXT, b"\xe2\x82", fin=False) + frame(OP_CONT, b"\xac!"))
        ws.expect_text("\u20ac!", what=what + ": a split character")
        ws.send_raw(raw)
        fin, rsv, op, payload, hdr = ws.read_frame()
        dp.eq(hdr + payload, b"\x88\x02\x03\xef", what + ": close frame 1007, exact bytes")
        ws.expect_eof(what=what + ": connection ended")
    # Binary messages are not UTF-8 checked.
    ws = open_ws(srv, "utf8-bin")
    ws.binary(b"\xff\xfe")
    ws.expect(OP_BINARY, b"\xff\xfe")
    ws.close()


def test_valid_close_codes_echoed(srv):
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999):
        ws = open_ws(srv, "codes")
        ws.send(OP_CLOSE, close_payload(code, "why"))
        dp.eq(ws.expect_close()[0], code, "the answer to close code %d" % code)
        ws.expect_eof()


def test_invalid_close_codes_1002(srv):
    # RFC 6455 7.4: 1005, 1006, 1015 and codes below 1000 or in 1016..2999
    # must not appear in a close frame.
    for code in (999, 1004, 1005, 1006, 1015, 1100, 2999):
        ws = open_ws(srv, "badclose")
        ws.send(OP_CLOSE, close_payload(code))
        got, _ = ws.expect_close()
        dp.eq(got, 1002, "answer to a close frame with code %d" % code)
        ws.expect_eof()


def test_many_sockets_one_actor(srv):
    n = 200
    base = metric(srv, "dort_websockets_open")
    socks = [open_ws(srv, "crowd") for _ in range(n)]
    wait_ws_open(srv, base + n)
    # Every socket echoes its own message.
    for i, w in enumerate(socks):
        w.text("msg-%d" % i)
    for i, w in enumerate(socks):
        w.expect_text("msg-%d" % i)
    dp.eq(socks[0].ask("count"), str(n))
    socks[7].text("broadcast:everyone")
    for i, w in enumerate(socks):
        w.expect_text("everyone", what="socket %d" % i)
    # Joins were counted one by one.
    atts = sorted(w.ask("attachment") for w in socks)
    dp.eq(atts, sorted('{"name":"crowd","join":%d}' % j for j in range(1, n + 1)))
    for i, w in enumerate(socks):
        if i % 2:
            w.c.reset()
        else:
            w.send(OP_CLOSE, close_payload(1000))
    for w in socks[::2]:
        dp.eq(w.expect_close()[0], 1000)
        w.close()
    wait_ws_open(srv, base)
    still_serving(srv)


def test_pipelined_upgrade_and_frames(srv):
    # A request, the upgrade and the first frames in one write: the frames
    # after the upgrade's head belong to the socket.
    key = new_key()
    with srv.conn() as c:
        c.send(dp.build("GET", "/health") + upgrade_request("/ws/pipe", key=key) +
               frame(OP_TEXT, "first") + frame(OP_PING, b"p") + frame(OP_BINARY, b"\x00second"))
        dp.eq(c.read_response().body, b"ok")
        r = c.read_head()
        dp.eq(r.status, 101)
        dp.eq(r.header("sec-websocket-accept"), accept_of(key))
        ws = WS(c, "pipe", r)
        # The runtime answers the ping at once; the actor's echoes follow
        # in order, maybe after it.
        got = [ws.read_frame()[2:4] for _ in range(3)]
        dp.eq(sorted(got), sorted([(OP_TEXT, b"first"), (OP_PONG, b"p"),
                                   (OP_BINARY, b"\x00second")]), "three answers")
        dp.ok(got.index((OP_TEXT, b"first")) < got.index((OP_BINARY, b"\x00second")),
              "echoes in order: %r" % got)


def test_idle_socket_stays_open(srv):
    # testapp.json sets request_timeout_ms 1500: that is for HTTP requests,
    # not for an open socket that is quiet.
    ws = open_ws(srv, "quiet")
    time.sleep(2.0)
    dp.eq(ws.ask("still there?"), "still there?")
    ws.close()


def test_sockets_on_many_actors(srv):
    # More actors with sockets than the runtime's first table holds (64).
    socks = [open_ws(srv, "many-%d" % i, ["even" if i % 2 == 0 else "odd"]) for i in range(100)]
    extra = open_ws(srv, "many-42", ["even"])
    for i, w in enumerate(socks):
        dp.eq(w.ask("count"), "2" if i == 42 else "1", "actor %d" % i)
    extra.text("broadcast:only 42")
    extra.expect_text("only 42")
    socks[42].expect_text("only 42")
    for i in (0, 41, 43, 99):
        socks[i].text("nothing for you")
        socks[i].expect_text("nothing for you")
    for w in socks + [extra]:
        w.close()


def test_actor_close_unanswered(srv):
    # The client never answers the actor's close frame: cut off after 5 s,
    # and the actor's close event says 1006, not clean.
    probe = open_ws(srv, "unanswered")
    ws = open_ws(srv, "unanswered")
    ws.text("close:4002:answer me")
    dp.eq(ws.expect_close(), (4002, b"answer me"))
    t0 = time.monotonic()
    ws.expect_eof(timeout=8.0, what="cut off without an answer")
    dp.within(time.monotonic() - t0, 4.0, 7.0, "seconds until the cut")
    dp.wait_until(lambda: probe.ask("last").startswith("close 1006 0 ;"), 3.0,
                  "websocket_close(1006, not clean)")
    probe.close()


def test_metrics_count_open_sockets(srv):
    base = metric(srv, "dort_websockets_open")
    a = open_ws(srv, "m1")
    b = open_ws(srv, "m2")
    wait_ws_open(srv, base + 2)
    a.close()
    wait_ws_open(srv, base + 1)
    b.c.reset()
    wait_ws_open(srv, base)


# ---- on servers of their own ----

def test_hibernation_keeps_attachment():
    def body(s):
        ws = open_ws(s, "hib", ["t1", "t2"])
        token = base64.b64encode(os.urandom(32)).decode()
        dp.eq(ws.ask_many("attachment", "inits", "attach:" + token, "attachment"),
              ['{"name":"hib","join":1}', "1", "ok", token])
        evicted = metric(s, "dort_actors_evicted_total")
        dp.wait_until(lambda: metrics(s)["dort_actors_live"] == 0, 5.0, "the actor evicted")
        m = metrics(s)
        dp.ok(m["dort_actors_evicted_total"] > evicted, "evicted_total grew: %r" % m)
        dp.eq(m["dort_websockets_open"], 1, "the socket stays open while the actor hibernates")
        activated = m["dort_actors_activated_total"]
        # The next message wakes it: init ran again, the attachment is intact.
        dp.eq(ws.ask_many("attachment", "inits", "tags"), [token, "2", "t1,t2"],
              "attachment, init count and tags after hibernation")
        dp.eq(metric(s, "dort_actors_activated_total"), activated + 1, "one activation")
        # A second socket after another hibernation; broadcast reaches both.
        dp.wait_until(lambda: metrics(s)["dort_actors_live"] == 0, 5.0, "evicted again")
        ws2 = open_ws(s, "hib", ["t2"])
        dp.eq(ws2.ask_many("attachment", "inits"), ['{"name":"hib","join":2}', "3"])
        dp.wait_until(lambda: metrics(s)["dort_actors_live"] == 0, 5.0, "evicted a third time")
        ws2.text("broadcast:wake")
        ws.expect_text("wake")
        ws2.expect_text("wake")
        dp.eq(ws.ask_many("count:t2", "attachment", "inits"), ["2", token, "4"])
        # A socket that drops while its actor hibernates: the close event
        # wakes it, and the other socket lives on.
        dp.wait_until(lambda: metrics(s)["dort_actors_live"] == 0, 5.0, "evicted a fourth time")
        ws2.c.reset()
        dp.wait_until(lambda: metric(s, "dort_websockets_open") == 1, 3.0, "one socket left")
        dp.wait_until(lambda: ws.ask("last").startswith("close 1006 0 ;"), 3.0,
                      "websocket_close(1006) delivered to the woken actor")
        dp.eq(ws.ask("count"), "1")
        ws.close()
    with_server(body, ["--actor-idle-timeout", "200"])


def test_auto_response_while_hibernated():
    def body(s):
        ws = open_ws(s, "hib-auto")
        dp.eq(ws.ask("inits"), "1")
        dp.wait_until(lambda: metrics(s)["dort_actors_live"] == 0, 5.0, "the actor evicted")
        before = metrics(s)
        for _ in range(5):
            ws.text("ping")
            ws.expect_text("pong")
        ws.send(OP_PING, b"frame-ping")
        ws.expect(OP_PONG, b"frame-ping")
        time.sleep(0.1)
        after = metrics(s)
        dp.eq(after["dort_actors_activated_total"], before["dort_actors_activated_total"],
              "no activation for auto-responses and pings")
        dp.eq(after["dort_actors_live"], 0, "the actor stays evicted")
        dp.eq(after["dort_turns_total"], before["dort_turns_total"], "no turn ran")
        # Any other message wakes it.
        dp.eq(ws.ask("inits"), "2")
        dp.eq(metric(s, "dort_actors_activated_total"),
              before["dort_actors_activated_total"] + 1)
        ws.close()
    with_server(body, ["--actor-idle-timeout", "200"])


def test_closing_handshakes_across_hibernation():
    s = start(["--actor-idle-timeout", "200"])
    try:
        evicted = lambda: metrics(s)["dort_actors_live"] == 0
        a = open_ws(s, "hib-close")
        b = open_ws(s, "hib-close")
        # The actor starts a close and is evicted before the client answers.
        a.text("close:4003:later")
        dp.eq(a.expect_close(), (4003, b"later"))
        dp.wait_until(evicted, 5.0, "evicted while a socket is closing")
        a.send(OP_CLOSE, close_payload(4003, "ok"))
        a.expect_eof()
        dp.wait_until(lambda: metric(s, "dort_websockets_open") == 1, 3.0, "one socket left")
        dp.eq(b.ask("last"), "close 4003 1 ok;", "the answer woke the actor with a clean close")
        dp.eq(b.ask("count"), "1")
        # The client closes while the actor hibernates.
        dp.wait_until(evicted, 5.0, "evicted again")
        b.send(OP_CLOSE, close_payload(4000, "bye"))
        dp.eq(b.expect_close()[0], 4000)
        b.expect_eof()
        c = open_ws(s, "hib-close")
        dp.eq(c.ask("last"), "close 4000 1 bye;")
        dp.eq(c.ask("count"), "1")
        # SIGINT while the actor hibernates: 1001 all the same.
        dp.wait_until(evicted, 5.0, "evicted a third time")
        s.send_signal(signal.SIGINT)
        dp.eq(c.expect_close()[0], 1001)
        c.expect_eof()
        dp.eq(s.wait(10.0), 0, "exit code")
        s.stop(expect=0)
    except BaseException:
        s.kill()
        raise


def test_message_too_big_closes_1009():
    cfg = dp.write_config(dp.testapp_config(limits={"websocket_max_message_bytes": MAX_MSG}))

    def body(s):
        cases = [
            ("binary of limit+1", frame(OP_BINARY, b"b" * (MAX_MSG + 1))),
            ("text of limit+1", frame(OP_TEXT, b"t" * (MAX_MSG + 1))),
            ("fragments adding up to limit+1",
             frame(OP_BINARY, b"f" * 600, fin=False) + frame(OP_CONT, b"f" * (MAX_MSG - 599))),
            # A header announcing 2^40 bytes: failed with its first payload
            # bytes, not after the limit's worth.
            ("header announcing 1 TiB", frame(OP_BINARY, b"abcd", length=1 << 40)),
            ("header announcing limit+1", frame(OP_TEXT, b"abcd", length=MAX_MSG + 1)),
        ]
        for i, (what, raw) in enumerate(cases):
            ws = open_ws(s, "big%d" % i)
            data = os.urandom(MAX_MSG)
            ws.binary(data)
            ws.expect(OP_BINARY, data, what="at the limit")
            ws.send_raw(raw)
            fin, rsv, op, payload, hdr = ws.read_frame()
            dp.eq(hdr + payload, b"\x88\x02\x03\xf1", what + ": close frame 1009, exact bytes")
            ws.expect_eof(what=what + ": connection ended")
            probe = open_ws(s, "big%d" % i)
            dp.wait_until(lambda: probe.ask("last") == "close 1009 0 ;error DORT_ETOOLARGE", 3.0,
                          what + ": websocket_error(ETOOLARGE), then websocket_close(1009)")
            probe.close()
        still_serving(s)
    try:
        with_server(body, config=cfg)
    finally:
        os.unlink(cfg)
        os.rmdir(os.path.dirname(cfg))


def test_sigint_closes_sockets_1001():
    s = start()
    try:
        socks = [open_ws(s, "stop-%d" % (i % 3)) for i in range(9)]
        for i, w in enumerate(socks):
            dp.eq(w.ask("hi %d" % i), "hi %d" % i)
        # One socket in the middle of a fragmented message.
        socks[4].send(OP_TEXT, "unfinished", fin=False)
        time.sleep(0.05)
        t0 = time.monotonic()
        s.send_signal(signal.SIGINT)
        for i, w in enumerate(socks):
            code, reason = w.expect_close()
            dp.eq(code, 1001, "socket %d: close code at stop" % i)
            if i % 2 == 0:  # half answer the close, half do not
                try:
                    w.send(OP_CLOSE, close_payload(1001))
                except OSError:
                    pass
        for i, w in enumerate(socks):
            w.expect_eof(what="socket %d ended after stop" % i)
        rc = s.wait(10.0)  # no second signal: that one exits at once with 1
        elapsed = time.monotonic() - t0
        dp.eq(rc, 0, "exit code after SIGINT; stderr:\n%s" % s.stderr_text()[-2000:])
        dp.ok(elapsed < 5.0, "stopped within 5 s (%.2fs)" % elapsed)
        s.stop(expect=0)
    except BaseException:
        s.kill()
        raise



def test_sigint_flushes_queued_data_before_1001():
    # A message still queued in the server (the client reads slowly) when
    # SIGINT comes: the client gets all of it, then the close frame 1001,
    # within the stop deadline.
    s = start()
    try:
        c = s.conn(timeout=10.0)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.send(upgrade_request("/ws/slowstop"))
        dp.eq(c.read_head().status, 101)
        ws = WS(c, "slowstop", None)
        data = os.urandom(8 << 20)
        ws.binary(data)
        time.sleep(0.5)  # the echo fills the socket buffers; the rest waits in the server
        s.send_signal(signal.SIGINT)
        time.sleep(0.2)
        try:
            ws.expect(OP_BINARY, data, timeout=10.0, what="the 8 MiB echo, whole")
        except dp.Closed:
            raise dp.TestFailure("the server closed the connection %d bytes into the 8 MiB "
                                 "echo, without a close frame" % len(c.buf))
        dp.eq(ws.expect_close()[0], 1001, "then the close frame")
        ws.expect_eof()
        dp.eq(s.wait(10.0), 0, "exit code")
        s.stop(expect=0)
    except BaseException:
        s.kill()
        raise

if __name__ == "__main__":
    dp.main(globals())
