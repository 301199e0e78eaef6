"""Graceful shutdown and restart: a request in flight when SIGTERM/SIGINT
arrives completes with 200 (Connection: close), new connections are refused,
idle keep-alive connections are closed, the process exits 0; a second signal
exits at once (1); state written before is served after a restart on the
same persist dir, in dev (relaxed) and serve (full durability)."""

import os
import shutil
import signal
import socket
import tempfile
import time

import dortproc as dp


def test_sigterm_in_flight_request_completes():
    srv = dp.Server()
    try:
        c = srv.conn(timeout=10)
        c.send(dp.build("GET", "/slow?ms=1000"))
        time.sleep(0.2)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        r = c.read_response()
        dp.eq(r.status, 200)
        dp.eq(r.body, b"slow")
        dp.eq((r.header("connection") or "").lower(), "close", "answer while stopping")
        dp.ok(c.at_eof(3.0), "connection closed after the last answer")
        dp.within(time.monotonic() - t0, 0.6, 3.0, "answered when the timer fired (s)")
        dp.eq(srv.wait(10), 0, "exit code after SIGTERM")
        dp.ok("terminating" in srv.stderr_text(), srv.stderr_text())
    finally:
        srv.kill()


def test_sigint_pipelined_in_flight_all_answered():
    srv = dp.Server()
    try:
        c = srv.conn(timeout=10)
        c.send(dp.build("GET", "/slow?ms=500") + dp.build("POST", "/counter/drain") +
               dp.build("GET", "/health"))
        time.sleep(0.1)
        srv.send_signal(signal.SIGINT)
        dp.eq(c.read_response().body, b"slow")
        dp.eq(c.read_response().json(), {"count": 1})
        r = c.read_response()
        dp.eq(r.body, b"ok")
        dp.eq((r.header("connection") or "").lower(), "close", "the last answer says close")
        dp.eq(srv.wait(10), 0)
    finally:
        srv.kill()


def test_stopping_refuses_new_and_closes_idle():
    srv = dp.Server()
    try:
        idle = srv.conn(timeout=5)
        dp.eq(idle.request("GET", "/health").body, b"ok")
        busy = srv.conn(timeout=10)
        busy.send(dp.build("GET", "/slow?ms=1500"))
        time.sleep(0.1)
        srv.send_signal(signal.SIGTERM)
        dp.ok(idle.at_eof(2.0), "an idle keep-alive connection is closed at stop")
        time.sleep(0.2)
        s = socket.socket()
        s.settimeout(2)
        rc = s.connect_ex((srv.host, srv.port))
        s.close()
        dp.ok(rc != 0, "a new connection during the drain was accepted")
        dp.eq(busy.read_response().body, b"slow")
        dp.eq(srv.wait(10), 0)
    finally:
        srv.kill()


def test_stop_with_open_streams_exits():
    srv = dp.Server()
    try:
        sse = srv.conn(timeout=10)
        sse.send(dp.build("GET", "/sse/stoproom"))
        dp.eq(sse.read_head().status, 200)
        st = srv.conn(timeout=10)
        st.send(dp.build("GET", "/stream?n=1000&ms=50"))
        dp.eq(st.read_head().status, 200)
        srv.send_signal(signal.SIGTERM)
        dp.eq(srv.wait(10), 0, "exit code with streams open")
        dp.ok(sse.at_eof(2.0) or sse.read_to_eof(2.0) is not None, "SSE client released")
    finally:
        srv.kill()


def test_second_signal_exits_at_once():
    srv = dp.Server()
    try:
        c = srv.conn(timeout=10)
        c.send(dp.build("GET", "/slow?ms=5000"))
        time.sleep(0.1)
        srv.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGINT)
        rc = srv.wait(5)
        dp.ok(time.monotonic() - t0 < 2.0, "second signal did not exit at once")
        dp.eq(rc, 1, "exit code after a second signal")
        dp.ok("second signal" in srv.stderr_text(), srv.stderr_text())
        c.close()
    finally:
        srv.kill()


def restart_keeps_state(mode, env=None):
    tmp = tempfile.mkdtemp(prefix="dort-it-restart-")
    persist = os.path.join(tmp, "state")
    try:
        srv = dp.Server(mode=mode, persist_to=persist, env=env)
        with srv.conn() as c:
            for i in range(5):
                dp.eq(c.request("POST", "/counter/x").json(), {"count": i + 1})
            dp.eq(c.request("POST", "/counter/other").json(), {"count": 1})
        srv.stop(sig=signal.SIGTERM)
        srv = dp.Server(mode=mode, persist_to=persist, env=env)
        dp.eq(srv.get("/counter/x").json(), {"count": 5}, "%s: count after a restart" % mode)
        dp.eq(srv.get("/counter/other").json(), {"count": 1})
        dp.eq(srv.request("POST", "/counter/x").json(), {"count": 6})
        srv.stop(sig=signal.SIGINT)
        srv = dp.Server(mode=mode, persist_to=persist, env=env)
        dp.eq(srv.get("/counter/x").json(), {"count": 6}, "%s: after a second restart" % mode)
        srv.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_restart_keeps_state_dev():
    restart_keeps_state("dev")


def test_restart_keeps_state_serve():
    restart_keeps_state("serve")


def test_state_written_just_before_signal():
    # An answer the client got is durable, even if the signal follows at once.
    tmp = tempfile.mkdtemp(prefix="dort-it-restart-")
    persist = os.path.join(tmp, "state")
    try:
        srv = dp.Server(persist_to=persist)
        c = srv.conn()
        c.send(dp.build("POST", "/counter/last") * 20)
        for i in range(20):
            dp.eq(c.read_response().json(), {"count": i + 1})
        srv.send_signal(signal.SIGTERM)
        dp.eq(srv.wait(10), 0)
        c.close()
        srv.kill()
        srv = dp.Server(persist_to=persist)
        dp.eq(srv.get("/counter/last").json(), {"count": 20})
        srv.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    dp.main(globals())
