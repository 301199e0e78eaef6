"""dortproc.py - helpers for dort's integration tests (Python 3 stdlib only).

Starts the real `dort-test` binary on a free loopback port with a fresh
persist directory, talks to it over raw sockets with exact bytes, and runs
a file's test_* functions so that every failure is reported (a file exits 1
if any test failed).

Usage in a test file:

    import dortproc as dp
    def test_something(srv):          # srv: a shared dev server for the file
        c = srv.conn()
        c.send(b"GET /health HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        r = c.read_response()
        dp.eq(r.status, 200)
    if __name__ == "__main__":
        dp.main(globals())

Run: python3 test_x.py path/to/dort-test [test_name ...]
"""

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TESTAPP_JSON = os.path.join(HERE, "testapp.json")
BIN = None  # set by main() from argv[1]

LISTEN_RE = re.compile(r"listening on http://(\[[^\]]+\]|[^:/\s]+):(\d+)")


class TestFailure(AssertionError):
    pass


# ---- assertions that say what they saw ----

def eq(got, want, what=""):
    if got != want:
        raise TestFailure("%sexpected %r, got %r" % (what + ": " if what else "", want, got))


def ok(cond, what):
    if not cond:
        raise TestFailure(what)


def within(value, lo, hi, what):
    if not (lo <= value <= hi):
        raise TestFailure("%s: %r not within [%r, %r]" % (what, value, lo, hi))


def wait_until(cond, timeout, what, interval=0.02):
    """Polls cond() until it is true; fails with `what` after timeout s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise TestFailure("%s (still %r after %.1fs)" % (what, last, timeout))


# ---- HTTP over a raw socket ----

class Response:
    def __init__(self, status, reason, version, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers  # list of (name, value), in order
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %d %r body=%r>" % (self.status, self.headers, self.body[:200])


class Closed(Exception):
    """The peer closed (or reset) the connection."""


class Conn:
    """A client connection with a read buffer, for exact bytes in and
    responses out (pipelining: responses are read one by one, in order)."""

    def __init__(self, host, port, timeout=5.0, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self):
        """Closes with an RST (SO_LINGER 0) instead of a FIN."""
        import struct
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, deadline):
        if self.eof:
            raise Closed("connection closed by the server")
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out waiting for the server")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            self.eof = True
            raise Closed("connection reset by the server")
        if not data:
            self.eof = True
            raise Closed("connection closed by the server")
        self.buf += data

    def read_until(self, marker, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while marker not in self.buf:
            self._fill(deadline)
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        try:
            while True:
                self._fill(deadline)
        except Closed:
            pass
        out, self.buf = self.buf, b""
        return out

    def at_eof(self, timeout=None):
        """True when the server closes the connection (having sent nothing
        more) within timeout; False if the connection stays open."""
        if self.buf:
            return False
        if self.eof:
            return True
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        try:
            self._fill(deadline)
        except Closed:
            return True
        except socket.timeout:
            return False
        return False

    def read_head(self, timeout=None):
        raw = self.read_until(b"\r\n\r\n", timeout)
        lines = raw[:-4].split(b"\r\n")
        m = re.match(rb"^(HTTP/\d\.\d) (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise TestFailure("not an HTTP status line: %r" % lines[0])
        headers = []
        for ln in lines[1:]:
            k, sep, v = ln.partition(b":")
            if not sep:
                raise TestFailure("malformed header line %r" % ln)
            headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
        return Response(int(m.group(2)), m.group(3).decode("latin-1"),
                        m.group(1).decode(), headers, b"", raw)

    def read_chunk(self, timeout=None):
        """One chunk of a chunked body; b"" for the last one."""
        line = self.read_until(b"\r\n", timeout)
        size = int(line.split(b";")[0].strip(), 16)
        data = self.read_exact(size, timeout)
        if size == 0:
            # Trailers (none expected) end with an empty line.
            while self.read_until(b"\r\n", timeout) != b"\r\n":
                pass
            return b""
        eq(self.read_exact(2, timeout), b"\r\n", "chunk terminator")
        return data

    def read_response(self, head_request=False, timeout=None, allow_1xx=False):
        """Reads one whole response (framing by Content-Length, chunked, or
        close). 1xx responses are returned as they come only if allow_1xx."""
        r = self.read_head(timeout)
        if 100 <= r.status < 200 and r.status != 101 and not allow_1xx:
            return self.read_response(head_request, timeout)
        if head_request or r.status in (204, 304) or 100 <= r.status < 200:
            return r
        te = (r.header("transfer-encoding") or "").lower()
        cl = r.header("content-length")
        if te == "chunked":
            parts = []
            while True:
                c = self.read_chunk(timeout)
                if not c:
                    break
                parts.append(c)
            r.body = b"".join(parts)
        elif cl is not None:
            r.body = self.read_exact(int(cl), timeout)
        else:
            r.body = self.read_to_eof(timeout)
        return r

    def request(self, method, path, body=None, headers=(), timeout=None):
        self.send(build(method, path, body, headers))
        return self.read_response(head_request=(method == "HEAD"), timeout=timeout)


def build(method, path, body=None, headers=(), version="HTTP/1.1", host=True):
    """Bytes of one request; Content-Length added when a body is given."""
    if isinstance(body, str):
        body = body.encode()
    out = "%s %s %s\r\n" % (method, path, version)
    if host:
        out += "Host: test\r\n"
    names = [h[0].lower() for h in headers]
    for k, v in headers:
        out += "%s: %s\r\n" % (k, v)
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        out += "Content-Length: %d\r\n" % len(body)
    out = out.encode() + b"\r\n"
    if body is not None:
        out += body
    return out


def chunked(parts, ext=False):
    """A chunked body from a list of byte strings."""
    out = b""
    for p in parts:
        if isinstance(p, str):
            p = p.encode()
        out += b"%x%s\r\n%s\r\n" % (len(p), b";x=y" if ext else b"", p)
    return out + b"0\r\n\r\n"


def error_body(r, status, code=None):
    """Asserts r is dort's JSON error form with `status` (and `code`)."""
    eq(r.status, status, "status (body %r)" % r.body[:200])
    eq((r.header("content-type") or "").split(";")[0], "application/json", "error content-type")
    try:
        j = r.json()
    except ValueError:
        raise TestFailure("error body is not JSON: %r" % r.body)
    eq(j.get("ok"), False, "error body ok")
    e = j.get("error")
    ok(isinstance(e, dict), "error body has an error object: %r" % j)
    ok(isinstance(e.get("code"), str) and e["code"], "error.code is a string: %r" % j)
    ok(isinstance(e.get("message"), str) and e["message"], "error.message is a string: %r" % j)
    eq(sorted(j.keys()), ["error", "ok"], "error body keys")
    if code is not None:
        eq(e["code"], code, "error.code")
    return j


# ---- the server process ----

def free_port(host="127.0.0.1"):
    s = socket.socket()
    s.bind((host, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def write_config(obj_or_text, dirname=None, name="dort.json"):
    d = dirname or tempfile.mkdtemp(prefix="dort-it-cfg-")
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text, indent=2))
    return path


def testapp_config(**overrides):
    """testapp.json as a dict, with top-level keys replaced/merged."""
    with open(TESTAPP_JSON) as f:
        cfg = json.load(f)
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = dict(cfg[k], **v)
        else:
            cfg[k] = v
    return cfg


class Server:
    """One running dort-test process.

    mode: "dev" or "serve"; config: a path; args: extra flags; env: extra
    environment. The persist dir is fresh unless persist_to is given (then it
    is kept). stderr goes to a file (self.stderr_text())."""

    def __init__(self, config=None, mode="dev", args=(), env=None, persist_to=None,
                 port=0, ip=None, start_timeout=10.0):
        self.tmp = tempfile.mkdtemp(prefix="dort-it-")
        self.persist = persist_to or os.path.join(self.tmp, "state")
        self.config = config or TESTAPP_JSON
        self.stderr_path = os.path.join(self.tmp, "stderr.txt")
        cmd = [BIN, mode, "--config", self.config, "--persist-to", self.persist]
        if port is not None:
            cmd += ["--port", str(port)]
        if ip is not None:
            cmd += ["--ip", ip]
        cmd += list(args)
        self.cmd = cmd
        e = dict(os.environ)
        if env:
            e.update(env)
        self.err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err, env=e)
        self.stdout_lines = []
        self.host, self.port = self._wait_listening(start_timeout)
        self.exit_code = None

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        buf = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                data = os.read(fd, 4096)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    line = line.decode(errors="replace")
                    self.stdout_lines.append(line)
                    m = LISTEN_RE.search(line)
                    if m:
                        return m.group(1).strip("[]"), int(m.group(2))
            elif self.proc.poll() is not None:
                break
        rc = self.proc.poll()
        if rc is None:
            self.proc.kill()
            self.proc.wait()
        msg = ("server did not start (exit %r): cmd %r\nstdout %r\nstderr %s" %
               (rc, self.cmd, self.stdout_lines + [buf.decode(errors="replace")],
                self.stderr_text()))
        self.proc.stdout.close()
        self.err.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        raise TestFailure(msg)

    def url(self, path=""):
        return "http://%s:%d%s" % (self.host, self.port, path)

    def conn(self, timeout=5.0):
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        return Conn(self.host, self.port, timeout, fam)

    def request(self, method, path, body=None, headers=(), timeout=5.0):
        """One request on a fresh connection that is closed afterwards."""
        with self.conn(timeout) as c:
            return c.request(method, path, body, headers, timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def alive(self):
        return self.proc.poll() is None

    def stderr_text(self):
        try:
            self.err.flush()
        except (ValueError, OSError):
            pass
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=15.0):
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("server did not exit within %.0fs; stderr:\n%s" %
                              (timeout, self.stderr_text()[-3000:]))
        return self.exit_code

    def stop(self, sig=signal.SIGINT, expect=0, timeout=15.0, cleanup=True):
        """Stops the server and checks its exit code; removes temp files
        unless the persist dir was given by the caller."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait(timeout)
        self.proc.stdout.close()
        self.err.close()
        if expect is not None and rc != expect:
            raise TestFailure("server exited %r, expected %r; stderr:\n%s" %
                              (rc, expect, self.stderr_text()[-3000:]))
        if cleanup:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            self.proc.stdout.close()
            self.err.close()
        except OSError:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_cli(args, env=None, timeout=10.0, cwd=None):
    """Runs dort-test with args to completion; returns (rc, stdout, stderr)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([BIN] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       env=e, timeout=timeout, cwd=cwd)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


# ---- the runner ----

def main(g, shared_server=True, server_kwargs=None):
    """Runs every test_* function of module globals `g` in file order.
    Functions taking an argument get the file's shared server (started once,
    checked alive after every test, stopped with SIGINT and exit code 0 at
    the end). argv: BIN [names...]."""
    global BIN
    if len(sys.argv) < 2:
        print("usage: %s path/to/dort-test [test ...]" % sys.argv[0])
        sys.exit(2)
    BIN = os.path.abspath(sys.argv[1])
    only = set(sys.argv[2:])
    tests = [(n, f) for n, f in g.items() if n.startswith("test_") and callable(f)]
    tests.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
    if only:
        tests = [(n, f) for n, f in tests if n in only]
    srv = None
    failed = []
    t_all = time.monotonic()
    for name, fn in tests:
        wants_srv = fn.__code__.co_argcount >= 1
        t0 = time.monotonic()
        try:
            if wants_srv and srv is None:
                srv = Server(**(server_kwargs or {}))
            fn(srv) if wants_srv else fn()
            if wants_srv and not srv.alive():
                raise TestFailure("the server died (exit %r); stderr:\n%s" %
                                  (srv.proc.poll(), srv.stderr_text()[-3000:]))
            print("PASS %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
        except Exception:
            failed.append(name)
            print("FAIL %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
            traceback.print_exc(file=sys.stdout)
            if wants_srv and srv is not None and not srv.alive():
                print("  server exited %r; stderr tail:\n%s" %
                      (srv.proc.poll(), srv.stderr_text()[-3000:]), flush=True)
                srv.kill()
                srv = None
    if srv is not None:
        try:
            srv.stop()
            print("PASS shared server stopped with exit code 0", flush=True)
        except Exception:
            failed.append("(shared server shutdown)")
            traceback.print_exc(file=sys.stdout)
            srv.kill()
    print("%d test(s), %d failed%s in %.1fs" % (len(tests), len(failed),
          (": " + ", ".join(failed)) if failed else "", time.monotonic() - t_all), flush=True)
    sys.exit(1 if failed else 0)
