"""Cron Triggers through the real binary: `dort-test dev --test-scheduled`
answers GET /__scheduled?cron=EXPR by running that trigger's scheduled
handler now (as wrangler does), the handler's effect is read back over HTTP
(cron_app.c writes every run to actor CronLog "log"), and a config with an
invalid cron expression exits 2 naming `$.triggers.crons[i]`."""

import atexit
import json
import os
import shutil
import tempfile
import time

import dortproc as dp

EVERY5 = "*/5 * * * *"
NEW_YEAR = "0 0 1 1 *"
FAILING = "59 23 31 12 *"  # cron_app.c's handler fails for this one

CFG_DIR = tempfile.mkdtemp(prefix="dort-it-cron-")
atexit.register(shutil.rmtree, CFG_DIR, True)


def cron_config(crons, scheduled="crontest", name="dort.json"):
    cfg = {
        "name": "crontest",
        "workers": {"fetch": "crontest"},
        "durable_objects": {"bindings": [{"name": "CRONLOG", "class_name": "CronLog"}]},
        "triggers": {"crons": crons},
    }
    if scheduled is not None:
        cfg["workers"]["scheduled"] = scheduled
    return dp.write_config(cfg, CFG_DIR, name)


CONFIG = cron_config([EVERY5, NEW_YEAR, FAILING])


def log(srv):
    r = srv.get("/cron/log")
    dp.eq(r.status, 200, "GET /cron/log (body %r)" % r.body)
    return r.json()


def test_scheduled_runs_the_handler(srv):
    before = log(srv)["runs"]
    t0 = int(time.time() * 1000)
    r = srv.get("/__scheduled?cron=*/5+*+*+*+*")
    dp.eq(r.status, 200, "status (body %r)" % r.body)
    dp.eq(r.body, b"Ran scheduled event")
    # The answer comes after the handler finished, and it finished after its
    # write to the actor committed: the log already shows the run.
    j = log(srv)
    dp.eq(j["runs"], before + 1, "runs")
    dp.eq(j["cron"], EVERY5, "the expression the handler saw")
    dp.within(j["time"], t0 - 1000, int(time.time() * 1000) + 1000, "the event's time is now")


def test_scheduled_percent_encoded(srv):
    before = log(srv)["runs"]
    r = srv.get("/__scheduled?cron=0%200%201%201%20*")
    dp.eq(r.status, 200, "status (body %r)" % r.body)
    j = log(srv)
    dp.eq(j["runs"], before + 1)
    dp.eq(j["cron"], NEW_YEAR)


def test_scheduled_failing_handler(srv):
    before = log(srv)["runs"]
    r = srv.get("/__scheduled?cron=59+23+31+12+*")
    dp.error_body(r, 500, "scheduled_failed")
    dp.eq(log(srv)["runs"], before, "a failing handler wrote nothing")


def test_scheduled_unknown_trigger(srv):
    r = srv.get("/__scheduled?cron=1+2+3+4+5")
    dp.error_body(r, 404, "no_such_trigger")


def test_other_routes_reach_the_app(srv):
    r = srv.get("/health")
    dp.eq(r.status, 200)
    dp.eq(r.body, b"ok")
    dp.error_body(srv.get("/nope"), 404, "not_found")


def test_without_flag_no_scheduled_route():
    srv = dp.Server(config=CONFIG)
    try:
        r = srv.get("/__scheduled?cron=*/5+*+*+*+*")
        dp.error_body(r, 404, "not_found")  # the app's own 404: nothing ran
        dp.eq(log(srv)["runs"], 0)
    finally:
        srv.stop()


def expect_exit_2(config, *needles, mode="dev", extra=()):
    state = tempfile.mkdtemp(prefix="dort-it-state-", dir=CFG_DIR)
    rc, out, err = dp.run_cli([mode, "--config", config, "--persist-to", state, "--port", "0"]
                              + list(extra))
    dp.eq(rc, 2, "exit code (stdout %r, stderr %r)" % (out, err))
    for n in needles:
        dp.ok(n in err, "stderr should mention %r: %r" % (n, err))
    dp.ok("listening" not in out, "must not start: %r" % out)


def test_invalid_cron_exits_2():
    expect_exit_2(cron_config(["61 * * * *"], name="bad0.json"),
                  "$.triggers.crons[0]", "minute field '61'")


def test_invalid_second_cron_exits_2():
    expect_exit_2(cron_config([EVERY5, "0 0 * * 0"], name="bad1.json"),
                  "$.triggers.crons[1]", "day-of-week")


def test_crons_without_scheduled_worker_exit_2():
    expect_exit_2(cron_config([EVERY5], scheduled=None, name="bad2.json"),
                  "$.triggers.crons", "workers.scheduled")


def test_serve_refuses_test_scheduled():
    expect_exit_2(CONFIG, "--test-scheduled", mode="serve", extra=["--test-scheduled"])


if __name__ == "__main__":
    dp.main(globals(), server_kwargs={"config": CONFIG, "args": ["--test-scheduled"]})
