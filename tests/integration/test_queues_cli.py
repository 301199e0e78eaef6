"""test_queues_cli.py - `dort queues` against a running and a stopped dev
server, and the data directory lock that keeps two runtimes (or a runtime
and a changing CLI) apart.

The app is queue_app.c (worker "queuetest"): POST /queue/send sends, POST
/queue/mode?fail=1 makes the consumer fail every batch so that messages run
out of retries and reach the dead-letter queue.

Run: python3 test_queues_cli.py path/to/dort-test [test_name ...]
"""

import json
import os
import re
import shutil
import signal
import tempfile

import dortproc as dp

ID_RE = re.compile(r"^[0-9a-f]{32}$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def make_app(**consumer_overrides):
    """A config in a fresh directory; state goes to <dir>/state."""
    d = tempfile.mkdtemp(prefix="dort-it-queues-")
    jobs = {"queue": "jobs", "worker": "queuetest", "max_batch_size": 100,
            "max_batch_timeout": 0, "max_retries": 1, "dead_letter_queue": "jobs-dlq"}
    jobs.update(consumer_overrides)
    cfg = {
        "name": "queues-it",
        "workers": {"fetch": "queuetest"},
        "storage": {"persist_to": "state"},
        "queues": {
            "producers": [{"binding": "JOBS", "queue": "jobs"},
                          {"binding": "IDLE", "queue": "idle"},
                          {"binding": "OTHER", "queue": "other"}],
            "consumers": [
                jobs,
                # A second consumer sharing the DLQ: replaying jobs-dlq by its
                # own name then needs --to.
                {"queue": "other", "worker": "queuetest", "max_batch_size": 100,
                 "max_batch_timeout": 0, "max_retries": 0, "dead_letter_queue": "jobs-dlq"},
            ],
        },
    }
    path = dp.write_config(cfg, d)
    return path, os.path.join(d, "state")


def start(config, state):
    return dp.Server(config=config, persist_to=state)


def q(config, *args, expect=0):
    """Runs `dort-test queues --config CONFIG args...`; checks the exit code."""
    rc, out, err = dp.run_cli(["queues", "--config", config] + list(args), timeout=60)
    if expect is not None and rc != expect:
        raise dp.TestFailure("dort queues %s: exit %r, expected %r\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(args), rc, expect, out, err))
    return rc, out, err


def qjson(config, *args):
    _, out, _ = q(config, *(list(args) + ["--json"]))
    try:
        return json.loads(out)
    except ValueError:
        raise dp.TestFailure("not JSON: %r" % out)


def depth(config, name):
    s = qjson(config, "stats", name)
    return s["ready"] + s["delayed"]


def send(srv, binding, n, body=None, **params):
    qs = "&".join("%s=%s" % kv for kv in sorted(params.items()))
    path = "/queue/send?binding=%s&n=%d%s" % (binding, n, "&" + qs if qs else "")
    r = srv.request("POST", path, body=body, timeout=30)
    dp.eq(r.status, 200, "send %s (body %r)" % (path, r.body))


def fill(srv, config, dead=5):
    """`dead` messages dead-lettered from jobs, and in idle (no consumer): 3
    text, 2 delayed bytes, 1 text with escapes, 1 long text."""
    dp.eq(srv.request("POST", "/queue/mode?fail=1").status, 200, "mode")
    send(srv, "JOBS", dead)
    send(srv, "IDLE", 3, type="text")
    send(srv, "IDLE", 2, type="bytes", delay=3600)
    send(srv, "IDLE", 1, body=b'say "hi"\n\tback\\slash caf\xc3\xa9 \x01', type="text")
    send(srv, "IDLE", 1, body=b"x" * 300, type="text")
    dp.wait_until(lambda: depth(config, "jobs-dlq") == dead, 15,
                  "jobs' messages reach jobs-dlq")
    dp.eq(srv.request("POST", "/queue/mode?fail=0").status, 200, "mode")


def by_name(listing):
    return {e["name"]: e for e in listing["queues"]}


# ---- a scenario shared by the first tests, in file order ----

APP = {}


def test_reads_while_running():
    config, state = make_app()
    srv = start(config, state)
    APP.update(config=config, state=state, srv=srv)
    fill(srv, config)

    _, out, _ = q(config, "list")
    lines = out.splitlines()
    dp.ok(lines[0].split()[:3] == ["QUEUE", "READY", "DELAYED"], "list header: %r" % lines[0])
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    dp.eq(sorted(rows), ["idle", "jobs", "jobs-dlq", "other"], "list rows")
    dp.eq(rows["jobs"][1:5], ["0", "0", "jobs-dlq", "5"], "jobs row")
    dp.eq(rows["idle"][1:3], ["5", "2"], "idle row")

    listing = by_name(qjson(config, "list"))
    dp.eq(listing["idle"]["ready"], 5, "idle ready")
    dp.eq(listing["idle"]["delayed"], 2, "idle delayed")
    dp.eq(listing["idle"]["dead_letter_queue"], None, "idle has no DLQ")
    dp.eq(listing["jobs"]["dlq_depth"], 5, "jobs' DLQ depth")
    dp.ok(listing["idle"]["oldest_age_ms"] >= 0, "idle has an oldest age")
    dp.eq(listing["jobs"]["oldest_age_ms"], None, "jobs is empty")

    st = qjson(config, "stats", "jobs")
    for k, v in (("sent", 5), ("acked", 0), ("retried", 5), ("dead_lettered", 5),
                 ("dropped", 0), ("dead_letter_queue", "jobs-dlq"), ("dlq_depth", 5)):
        dp.eq(st[k], v, "stats jobs " + k)
    dp.eq(st["consumer"]["max_retries"], 1, "consumer settings")
    st = qjson(config, "stats", "jobs-dlq")
    dp.eq(st["dead_letter_queue_of"], ["jobs", "other"], "jobs-dlq serves")
    _, out, _ = q(config, "stats", "jobs")
    dp.ok(re.search(r"^dead-lettered\s+5$", out, re.M), "stats text: %r" % out)
    dp.ok(re.search(r"^dead letters\s+jobs-dlq \(5 messages\)$", out, re.M), "stats: %r" % out)


def test_peek_and_dlq_while_running():
    config = APP["config"]
    p = qjson(config, "peek", "idle", "--limit", "100")
    dp.eq((p["total"], p["ready"], p["delayed"]), (7, 5, 2), "peek idle totals")
    msgs = p["messages"]
    dp.eq(len(msgs), 7, "all shown")
    for m in msgs:
        dp.ok(ID_RE.match(m["id"]), "id is 32 hex: %r" % m["id"])
        dp.ok(ISO_RE.match(m["timestamp"]), "ISO timestamp: %r" % m["timestamp"])
        dp.eq(m["attempts"], 0, "attempts of a new message")
    dp.eq(len({m["id"] for m in msgs}), 7, "ids are unique")
    dp.eq([m["body"] for m in msgs[:3]], ["msg-0", "msg-1", "msg-2"], "text bodies, in order")
    dp.eq(msgs[3]["body"], 'say "hi"\n\tback\\slash caf\u00e9 \x01', "whole body in JSON")
    dp.eq(len(msgs[4]["body"]), 300, "JSON bodies are not cut")
    dp.eq([m["state"] for m in msgs], ["ready"] * 5 + ["delayed"] * 2, "ready before delayed")
    dp.eq([m["content_type"] for m in msgs[5:]], ["bytes", "bytes"], "content type")
    dp.eq([m["body_hex"] for m in msgs[5:]], ["00", "0001"], "bytes as hex")
    dp.ok(ISO_RE.match(msgs[5]["visible_at"]), "delayed until: %r" % msgs[5]["visible_at"])

    _, out, _ = q(config, "peek", "idle")
    lines = out.splitlines()
    dp.ok(lines[0].startswith("idle: 7 messages (5 ready, 2 delayed)"), "peek head %r" % lines[0])
    dp.eq(lines[1].split()[:6], ["ID", "ATTEMPTS", "TIMESTAMP", "TYPE", "STATE", "BODY"], "cols")
    rows = lines[2:]
    dp.eq(len(rows), 7, "default limit covers 7")
    f = rows[0].split()
    dp.ok(ID_RE.match(f[0]) and f[1] == "0" and ISO_RE.match(f[2]) and f[3] == "text", "%r" % f)
    dp.ok(rows[0].endswith('"msg-0"'), "text body quoted: %r" % rows[0])
    dp.ok(rows[3].endswith(r'"say \"hi\"\n\tback\\slash café \x01"'), "escaped: %r" % rows[3])
    dp.ok(rows[4].endswith('"' + "x" * 200 + '"... (300 bytes)'), "cut at 200: %r" % rows[4])
    dp.ok(re.search(r"bytes\s+in \d+m\d\ds\s+hex:0001$", rows[6]), "delayed bytes: %r" % rows[6])

    _, out, _ = q(config, "peek", "idle", "--limit", "2")
    dp.ok(out.splitlines()[0].endswith(", the first 2:"), "limit noted: %r" % out)
    dp.eq(len(out.splitlines()), 4, "two rows")

    d = qjson(config, "dlq", "jobs", "--limit", "3")
    dp.eq((d["queue"], d["total"], len(d["messages"])), ("jobs-dlq", 5, 3), "dlq jobs")
    dp.eq({m["attempts"] for m in d["messages"]}, {2}, "dead letters were delivered twice")
    dp.eq([m["body"] for m in d["messages"]], ['{"i":0}', '{"i":1}', '{"i":2}'], "dlq order")
    _, out, _ = q(config, "dlq", "jobs")
    dp.ok(out.startswith("jobs-dlq: 5 messages"), "dlq text: %r" % out)


def test_changes_refused_while_running():
    config, state, srv = APP["config"], APP["state"], APP["srv"]
    def depths():
        return [(e["name"], e["ready"], e["delayed"]) for e in qjson(config, "list")["queues"]]
    before = depths()
    for args in (["purge", "idle"], ["replay-dlq", "jobs"], ["replay-dlq", "jobs", "--limit", "1"]):
        _, out, err = q(config, *args, expect=1)
        dp.ok("stop the server first" in err, "refusal: %r" % err)
        dp.ok("dort dev/serve (pid %d) runs on %s" % (srv.proc.pid, state) in err,
              "refusal names pid and dir: %r" % err)
        dp.eq(out, "", "nothing on stdout")
    dp.eq(depths(), before, "nothing changed")
    dp.ok(srv.alive(), "server still running")
    dp.eq(srv.get("/queue/consumed").status, 200, "server still answers")


def test_second_server_refused():
    config, state, srv = APP["config"], APP["state"], APP["srv"]
    rc, out, err = dp.run_cli(["dev", "--config", config, "--persist-to", state, "--port", "0"],
                              timeout=20)
    dp.eq(rc, 1, "second dev exit code (stderr %r)" % err)
    dp.ok("data directory is in use by another dort process (pid %d)" % srv.proc.pid in err,
          "in-use message: %r" % err)
    dp.ok("listening" not in out, "second server did not listen: %r" % out)
    dp.ok(srv.alive(), "first server unharmed")
    dp.eq(depth(config, "jobs-dlq"), 5, "data unharmed")


def test_changes_after_stop():
    config = APP["config"]
    APP["srv"].stop()
    before = qjson(config, "stats", "idle")

    _, out, _ = q(config, "purge", "idle")
    dp.eq(out, "purged 7 messages from idle\n", "purge output")
    after = qjson(config, "stats", "idle")
    dp.eq((after["ready"], after["delayed"]), (0, 0), "idle empty")
    dp.eq(after["dropped"], before["dropped"] + 7, "purged messages count as dropped")
    dp.eq(qjson(config, "purge", "idle"), {"queue": "idle", "purged": 0}, "purge again")

    _, out, _ = q(config, "replay-dlq", "jobs", "--limit", "2")
    dp.eq(out, "replayed 2 messages from jobs-dlq to jobs (3 left in jobs-dlq)\n", "replay")
    p = qjson(config, "peek", "jobs")
    dp.eq([m["body"] for m in p["messages"]], ['{"i":0}', '{"i":1}'], "replayed first two")
    dp.eq({m["attempts"] for m in p["messages"]}, {0}, "attempts start over")

    _, _, err = q(config, "replay-dlq", "jobs-dlq", expect=2)
    dp.ok("several consumers (jobs, other)" in err and "--to" in err, "needs --to: %r" % err)
    r = qjson(config, "replay-dlq", "jobs-dlq", "--to", "other")
    dp.eq(r, {"from": "jobs-dlq", "to": "other", "replayed": 3, "remaining": 0}, "replay --to")

    jobs, dlq, other = (qjson(config, "stats", n) for n in ("jobs", "jobs-dlq", "other"))
    dp.eq((jobs["ready"], jobs["sent"]), (2, 7), "jobs: 2 ready, 5 + 2 sent")
    dp.eq((dlq["ready"], dlq["sent"], dlq["acked"]), (0, 5, 5), "jobs-dlq drained, counted")
    dp.eq((other["ready"], other["sent"]), (3, 3), "other got 3")
    dp.eq(qjson(config, "replay-dlq", "jobs")["replayed"], 0, "nothing left to replay")


def test_replayed_messages_are_consumed():
    config, state = APP["config"], APP["state"]
    srv = start(config, state)  # the consumer acks by default
    try:
        dp.wait_until(lambda: qjson(config, "stats", "jobs")["acked"] == 2, 15,
                      "replayed messages acked by jobs' consumer")
        dp.wait_until(lambda: qjson(config, "stats", "other")["acked"] == 3, 15,
                      "replayed messages acked by other's consumer")
        dp.eq(depth(config, "jobs") + depth(config, "other"), 0, "queues drained")
        dp.eq(srv.get("/queue/consumed").json(), {"acked": 5, "failed": 0}, "consumer saw 5")
    finally:
        srv.stop()
    shutil.rmtree(os.path.dirname(config), ignore_errors=True)


# ---- independent tests ----

def test_long_runs_show_progress():
    config, state = make_app(max_retries=0)
    srv = start(config, state)
    try:
        dp.eq(srv.request("POST", "/queue/mode?fail=1").status, 200, "mode")
        send(srv, "JOBS", 1500)
        send(srv, "IDLE", 2500, type="bytes")
        dp.wait_until(lambda: depth(config, "jobs-dlq") == 1500, 30, "1500 dead letters")
    finally:
        srv.stop()
    _, out, err = q(config, "purge", "idle")
    dp.eq(out, "purged 2500 messages from idle\n", "purge output")
    dp.eq(err.splitlines(), ["purge idle: 1000/2500 messages (40%)",
                             "purge idle: 2000/2500 messages (80%)",
                             "purge idle: 2500/2500 messages (100%)"], "purge progress")
    _, out, err = q(config, "replay-dlq", "jobs", "--limit", "1200")
    dp.eq(out, "replayed 1200 messages from jobs-dlq to jobs (300 left in jobs-dlq)\n", "replay")
    dp.eq(err.splitlines(), ["replay-dlq jobs-dlq: 1000/1200 messages (83%)",
                             "replay-dlq jobs-dlq: 1200/1200 messages (100%)"], "progress")
    _, out, err = q(config, "replay-dlq", "jobs")
    dp.eq((out, err), ("replayed 300 messages from jobs-dlq to jobs (0 left in jobs-dlq)\n", ""),
          "one chunk: no progress lines")
    p = qjson(config, "peek", "jobs", "--limit", "1500")
    dp.eq(len(p["messages"]), 1500, "all back in jobs")
    dp.eq([m["body"] for m in p["messages"][:2]], ['{"i":0}', '{"i":1}'], "order kept")
    dp.eq(p["messages"][-1]["body"], '{"i":1499}', "order kept to the end")
    dp.eq(len({m["id"] for m in p["messages"]}), 1500, "ids kept and unique")
    st = qjson(config, "stats", "jobs-dlq")
    dp.eq((st["sent"], st["acked"]), (1500, 1500), "DLQ counters")
    shutil.rmtree(os.path.dirname(config), ignore_errors=True)


def test_lock_released_when_server_is_killed():
    config, state = make_app()
    srv = start(config, state)
    send(srv, "IDLE", 4)
    srv.proc.send_signal(signal.SIGKILL)
    srv.wait()
    srv.kill()
    _, out, _ = q(config, "purge", "idle")
    dp.eq(out, "purged 4 messages from idle\n", "purge after SIGKILL")
    srv = start(config, state)  # and a server starts again
    srv.stop()
    shutil.rmtree(os.path.dirname(config), ignore_errors=True)


def test_reading_creates_nothing():
    config, state = make_app()
    for args in (["list"], ["stats", "jobs"], ["peek", "idle"], ["dlq", "jobs"]):
        q(config, *args)
    listing = qjson(config, "list")
    dp.eq([(e["name"], e["ready"]) for e in listing["queues"]],
          [("jobs", 0), ("idle", 0), ("other", 0), ("jobs-dlq", 0)], "config's queues, empty")
    _, out, _ = q(config, "purge", "idle")
    dp.eq(out, "purged 0 messages from idle\n", "nothing to purge")
    _, out, _ = q(config, "replay-dlq", "jobs")
    dp.eq(out, "replayed 0 messages from jobs-dlq to jobs (0 left in jobs-dlq)\n", "no replay")
    dp.ok(not os.path.exists(state), "no persist dir created")
    # --persist-to wins over the config, as for dort dev.
    _, out, err = q(config, "--persist-to", os.path.join(state, "x"), "list")
    dp.ok(os.path.join(state, "x") in err, "names the dir it read: %r" % err)
    dp.ok(not os.path.exists(state), "still nothing created")
    shutil.rmtree(os.path.dirname(config), ignore_errors=True)


def test_usage_and_config_errors():
    config, _ = make_app()
    for args, want in (([], "which command"), (["frobnicate"], "unknown command"),
                       (["peek"], "needs a QUEUE"), (["list", "extra"], "unexpected argument"),
                       (["peek", "idle", "--limit", "0"], "--limit takes"),
                       (["peek", "idle", "--limit", "x"], "--limit takes"),
                       (["purge", "idle", "--limit", "3"], "--limit does not apply"),
                       (["peek", "idle", "--to", "jobs"], "--to applies"),
                       (["--bogus", "list"], "")):
        _, _, err = q(config, *args, expect=2)
        dp.ok(want in err, "%r: %r" % (args, err))
    _, _, err = q(config, "peek", "nope", expect=2)
    dp.ok("unknown queue 'nope'; known queues: jobs, idle, other, jobs-dlq" in err, err)
    _, _, err = q(config, "purge", "nope", expect=2)
    dp.ok("unknown queue 'nope'" in err, err)
    _, _, err = q(config, "dlq", "idle", expect=2)
    dp.ok("no dead-letter queue" in err, err)
    _, _, err = q(config, "replay-dlq", "idle", expect=2)
    dp.ok("no dead-letter queue" in err, err)
    _, _, err = q(config, "replay-dlq", "jobs", "--to", "nope", expect=2)
    dp.ok("unknown queue 'nope'" in err, err)
    _, _, err = q(config, "replay-dlq", "jobs", "--to", "jobs-dlq", expect=2)
    dp.ok("into itself" in err, err)

    rc, _, err = dp.run_cli(["queues", "--config", "/nonexistent/dort.json", "list"])
    dp.eq(rc, 2, "missing config")
    dp.ok("no config file" in err, err)
    bad = dp.write_config('{"name": "x", "queues": {"producers": [{"binding": "Q"}]}}')
    rc, _, err = dp.run_cli(["queues", "--config", bad, "list"])
    dp.eq(rc, 2, "invalid config: %r" % err)
    dp.ok("$.queues.producers[0]" in err, err)
    mem = dp.write_config({"name": "x", "storage": {"durability": "memory"}})
    rc, _, err = dp.run_cli(["queues", "--config", mem, "list"])
    dp.eq(rc, 2, "memory durability: %r" % err)
    dp.ok("memory" in err, err)
    rc, out, _ = dp.run_cli(["queues", "--help"])
    dp.eq(rc, 0, "help")
    dp.ok("replay-dlq" in out, out)
    for p in (config, bad, mem):
        shutil.rmtree(os.path.dirname(p), ignore_errors=True)


if __name__ == "__main__":
    try:
        dp.main(globals())
    finally:
        s = APP.get("srv")
        if s is not None and s.alive():
            s.kill()
