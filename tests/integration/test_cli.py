"""The dort CLI (dort-test build): config mistakes are refused with file,
line, JSON path and exit code 2 before anything starts; secrets (serve
refuses without them, dev generates them and says so); --port, --ip, --var,
--log-format, --version, --help."""

import os
import shutil
import socket
import tempfile

import dortproc as dp

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(HERE, "bad_configs")
SECRETS_JSON = os.path.join(HERE, "testapp_secrets.json")

# file, "file:line:" prefix, JSON path, words of the message
CONFIG_ERRORS = [
    ("unknown_key.json", 5, "$.durable_objects.bindings[0].clas", 'unknown key "clas"'),
    ("wrong_type.json", 5, "$.dev.port", "expected integer"),
    ("unknown_class.json", 6, "$.durable_objects.bindings[0].class_name", 'unknown class "Countr"'),
    ("duplicate_binding.json", 7, "$.durable_objects.bindings[1].name",
     'duplicate binding name "COUNTER"'),
    ("missing_name.json", 1, "$.name", 'missing required key "name"'),
    ("missing_binding_name.json", 6, "$.durable_objects.bindings[0].name",
     'missing required key "name"'),
    ("bad_json.json", 4, None, "invalid JSON"),
    ("unknown_worker.json", 3, "$.workers.fetch", 'unknown worker "nosuchworker"'),
]


def test_config_errors_exit_2_nothing_started():
    tmp = tempfile.mkdtemp(prefix="dort-it-cli-")
    try:
        for name, line, path, words in CONFIG_ERRORS:
            for mode in ("dev", "serve"):
                persist = os.path.join(tmp, "%s-%s" % (mode, name))
                port = dp.free_port()
                rc, out, err = dp.run_cli([mode, "--config", os.path.join(BAD, name),
                                           "--port", str(port), "--persist-to", persist],
                                          env={"DORT_IT_SECRET_ONE": "x"})
                what = "%s %s: stderr %r" % (mode, name, err)
                dp.eq(rc, 2, what)
                dp.ok("%s:%d:" % (name, line) in err, "%s: no '%s:%d:'" % (what, name, line))
                if path is not None:
                    dp.ok(path + ":" in err, "%s: no JSON path %s" % (what, path))
                dp.ok(words in err, "%s: no %r" % (what, words))
                dp.eq(err.count("\n"), 1, "one line of error: %r" % err)
                dp.ok("listening" not in out, "%s: it started: %r" % (what, out))
                dp.ok(not os.path.exists(persist), "%s: created its persist dir" % what)
                # Nothing holds the port.
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
                s.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_missing_config_file():
    rc, out, err = dp.run_cli(["dev", "--config", "/nonexistent/dort.json", "--port", "0"])
    dp.eq(rc, 2, err)
    dp.ok("/nonexistent/dort.json" in err, err)


def test_serve_refuses_missing_secrets():
    env = {"DORT_IT_SECRET_ONE": "", "DORT_IT_SECRET_TWO": ""}
    for k in env:
        os.environ.pop(k, None)
    tmp = tempfile.mkdtemp(prefix="dort-it-cli-")
    try:
        rc, out, err = dp.run_cli(["serve", "--config", SECRETS_JSON, "--port", "0",
                                   "--persist-to", os.path.join(tmp, "s")])
        dp.eq(rc, 2, err)
        dp.ok("DORT_IT_SECRET_ONE" in err and "DORT_IT_SECRET_TWO" in err,
              "both missing secrets named: %r" % err)
        dp.ok("listening" not in out, out)
        # One of two set: the other is still named, the set one is not.
        rc, out, err = dp.run_cli(["serve", "--config", SECRETS_JSON, "--port", "0",
                                   "--persist-to", os.path.join(tmp, "s")],
                                  env={"DORT_IT_SECRET_ONE": "one"})
        dp.eq(rc, 2, err)
        dp.ok("DORT_IT_SECRET_TWO" in err and "DORT_IT_SECRET_ONE" not in err, err)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_serve_starts_with_secrets_in_environment():
    srv = dp.Server(config=SECRETS_JSON, mode="serve",
                    env={"DORT_IT_SECRET_ONE": "one", "DORT_IT_SECRET_TWO": "two"})
    try:
        dp.ok(srv.stdout_lines[-1].startswith("dort serve: secretapp listening on http://127.0.0.1:"),
              srv.stdout_lines)
        dp.eq(srv.get("/health").body, b"ok")
        dp.ok("generated" not in srv.stderr_text(), srv.stderr_text())
    finally:
        srv.stop()


def test_serve_starts_with_secrets_in_dev_vars():
    tmp = tempfile.mkdtemp(prefix="dort-it-cli-")
    try:
        cfg = os.path.join(tmp, "dort.json")
        shutil.copy(SECRETS_JSON, cfg)
        with open(os.path.join(tmp, ".dev.vars"), "w") as f:
            f.write("DORT_IT_SECRET_ONE=one\nDORT_IT_SECRET_TWO='two'\n")
        srv = dp.Server(config=cfg, mode="serve")
        try:
            dp.eq(srv.get("/health").body, b"ok")
        finally:
            srv.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_dev_generates_missing_secrets():
    tmp = tempfile.mkdtemp(prefix="dort-it-cli-")
    persist = os.path.join(tmp, "state")
    try:
        srv = dp.Server(config=SECRETS_JSON, persist_to=persist)
        err = srv.stderr_text()
        srv.stop()
        for name in ("DORT_IT_SECRET_ONE", "DORT_IT_SECRET_TWO"):
            dp.ok("generated a development value for secret %s" % name in err, err)
        # Kept in the persist dir and reused: the second start generates nothing.
        gen = os.path.join(persist, "generated.dev.vars")
        dp.ok(os.path.exists(gen), "generated values kept in %s" % gen)
        with open(gen) as f:
            first = f.read()
        srv = dp.Server(config=SECRETS_JSON, persist_to=persist)
        err = srv.stderr_text()
        srv.stop()
        dp.ok("generated" not in err, "second start generated again: %r" % err)
        with open(gen) as f:
            dp.eq(f.read(), first, "generated values unchanged")
        # A secret from the environment is not generated.
        srv = dp.Server(config=SECRETS_JSON, env={"DORT_IT_SECRET_ONE": "x",
                                                  "DORT_IT_SECRET_TWO": "y"})
        err = srv.stderr_text()
        srv.stop()
        dp.ok("generated" not in err, err)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_port_flag():
    port = dp.free_port()
    srv = dp.Server(port=port)
    try:
        dp.eq(srv.port, port)
        dp.ok(srv.stdout_lines[-1].endswith("listening on http://127.0.0.1:%d" % port),
              srv.stdout_lines)
        dp.eq(srv.get("/health").body, b"ok")
    finally:
        srv.stop()


def test_port_in_use_fails():
    tmp = tempfile.mkdtemp(prefix="dort-it-cli-")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        rc, out, err = dp.run_cli(["dev", "--config", dp.TESTAPP_JSON, "--port", str(port),
                                   "--persist-to", tmp])
        dp.ok(rc != 0, "started on a port in use: %r" % out)
        dp.ok("cannot listen on 127.0.0.1:%d" % port in err, err)
        dp.ok("listening" not in out, out)
    finally:
        s.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_bad_flags_exit_2():
    tmp = tempfile.mkdtemp(prefix="dort-it-cli-")
    for args in (["--port", "70000"], ["--port", "abc"], ["--port", "-1"],
                 ["--var", "NOCOLON"], ["--var", "1BAD:x"], ["--log-format", "xml"],
                 ["--no-such-flag"], ["extra-argument"]):
        rc, out, err = dp.run_cli(["dev", "--config", dp.TESTAPP_JSON] + args +
                                  ["--persist-to", tmp])
        dp.eq(rc, 2, "%r: %r" % (args, err))
        dp.ok(err.strip() != "", "%r: says why" % args)
        dp.ok("listening" not in out, "%r started" % args)
    shutil.rmtree(tmp, ignore_errors=True)


def test_ip_flag_ipv4():
    srv = dp.Server(ip="127.0.0.2")
    try:
        dp.eq(srv.host, "127.0.0.2")
        dp.eq(srv.get("/health").body, b"ok")
        s = socket.socket()
        s.settimeout(2)
        dp.ok(s.connect_ex(("127.0.0.1", srv.port)) != 0,
              "listening on 127.0.0.1 as well when asked for 127.0.0.2")
        s.close()
    finally:
        srv.stop()


def test_ip_flag_ipv6():
    if not socket.has_ipv6:
        print("  (no IPv6: skipped)")
        return
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        print("  (no ::1: skipped)")
        return
    srv = dp.Server(ip="::1")
    try:
        dp.eq(srv.host, "::1")
        dp.ok("http://[::1]:%d" % srv.port in srv.stdout_lines[-1], srv.stdout_lines)
        dp.eq(srv.get("/health").body, b"ok")
    finally:
        srv.stop()


def test_var_flag_accepted():
    # The test app has no route that shows a var, so this checks that valid
    # --var flags (repeated, value with colons, overriding a config var) are
    # taken and the server runs; invalid ones are refused in test_bad_flags.
    srv = dp.Server(args=["--var", "GREETING:bye", "--var", "URL:http://x:1/y", "--var", "E:"])
    try:
        dp.eq(srv.get("/health").body, b"ok")
    finally:
        srv.stop()


def test_version_and_help():
    rc, out, err = dp.run_cli(["--version"])
    dp.eq(rc, 0, err)
    dp.ok(out.startswith("dort ") and out.strip().split()[1][0].isdigit(), out)
    for args in (["--help"], ["dev", "--help"], ["serve", "--help"], ["dev", "-h"]):
        rc, out, err = dp.run_cli(args)
        dp.eq(rc, 0, "%r: %r" % (args, err))
        dp.ok(out.startswith("usage: dort"), "%r: %r" % (args, out))
    rc, out, err = dp.run_cli(["dev", "--help"])
    for flag in ("--config", "--port", "--ip", "--persist-to", "--var", "--log-format"):
        dp.ok(flag in out, "dev --help mentions %s" % flag)
    rc, out, err = dp.run_cli(["serve", "--help"])
    dp.ok("--metrics" in out, "serve --help mentions --metrics")
    rc, out, err = dp.run_cli(["no-such-command"])
    dp.eq(rc, 2)
    rc, out, err = dp.run_cli([])
    dp.eq(rc, 2)


if __name__ == "__main__":
    dp.main(globals())
