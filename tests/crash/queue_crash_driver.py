#!/usr/bin/env python3
"""SIGKILL crash test driver for dort's durable queues (see tests/crash/README.md).

Each cycle starts `queue_crash produce-consume DATA SEED_i`, lets it run for a
random 20-400 ms (seeded), kills it with SIGKILL and keeps the complete lines
it printed (S: a send completed, R: the consumer received a message, T: the
consumer asked for a retry). Every run first walks the LMDB file read-only,
so a file a kill left unclean fails the next run. After the last cycle,
`queue_crash drain DATA SEED` consumes until the queue is empty. Then every
token whose send completed must have been received at least once. Received
more often than once plus the retries the consumer asked for is a duplicate
(allowed: delivery is at-least-once), and is counted. Python standard
library only.
"""

import argparse
import collections
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

TOKEN = re.compile(rb"^q[0-9a-f]{1,16}\.[0-9]+$")
BAD_STDERR = re.compile(r"error|Sanitizer|runtime error", re.I)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=20, help="kill/restart cycles (default 20)")
    ap.add_argument("--seed", type=int, default=None,
                    help="seed for kill times and run seeds (default: random, printed)")
    ap.add_argument("--binary", required=True, help="path to queue_crash")
    ap.add_argument("--dir", default=None,
                    help="work directory (default: a fresh temporary one, removed at the end "
                         "unless the run fails)")
    ap.add_argument("--min-ms", type=int, default=20, help="shortest run before the kill")
    ap.add_argument("--max-ms", type=int, default=400, help="longest run before the kill")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.cycles < 1 or args.min_ms < 0 or args.max_ms < args.min_ms:
        ap.error("need --cycles >= 1 and 0 <= --min-ms <= --max-ms")
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "little")
    return args


class Failure(Exception):
    pass


def complete_lines(raw):
    """The lines that ended with a newline; a partial last line is ignored."""
    end = raw.rfind(b"\n")
    return raw[: end + 1] if end >= 0 else b""


def bad_lines(text):
    return [l for l in text.splitlines() if BAD_STDERR.search(l)]


class Ledger:
    """Everything the runs printed, in order."""

    def __init__(self):
        self.sent = set()
        self.received = collections.Counter()
        self.retried = collections.Counter()
        self.receipts = 0
        self.bad = []

    def add(self, chunk, where):
        kinds = collections.Counter()
        for line in chunk.splitlines():
            if line.startswith(b"lmdb: ") or line.startswith(b"drained "):
                continue
            f = line.split()
            kind = f[0] if f else b""
            if kind == b"S" and len(f) == 2 and TOKEN.match(f[1]):
                if f[1] in self.sent:
                    self.bad.append(f"{where}: token sent twice: {line!r}")
                self.sent.add(f[1])
            elif kind == b"R" and len(f) == 3 and TOKEN.match(f[1]) and f[2].isdigit():
                tok, attempts = f[1], int(f[2])
                # attempts counts deliveries whose outcome was recorded, + 1;
                # an outcome is recorded only after the consumer decided to
                # retry (a T line, printed before that decision can commit).
                if attempts < 1 or attempts > 1 + self.retried[tok]:
                    self.bad.append(f"{where}: {tok.decode()} delivered with attempts "
                                    f"{attempts} after {self.retried[tok]} retries")
                self.received[tok] += 1
                self.receipts += 1
            elif kind == b"T" and len(f) == 2 and TOKEN.match(f[1]):
                if self.received[f[1]] == 0:
                    self.bad.append(f"{where}: retry of a token never received: {line!r}")
                self.retried[f[1]] += 1
            else:
                raise Failure(f"{where}: unexpected line: {line[:200]!r}")
            kinds[kind.decode()] += 1
        if self.bad:
            raise Failure("\n".join(self.bad[:20]))
        return kinds


def run_cycle(args, work, data, cycle, run_seed, wait_ms):
    out_path = os.path.join(work, f"run-{cycle:04d}.out")
    err_path = os.path.join(work, f"run-{cycle:04d}.err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([args.binary, "produce-consume", data, str(run_seed)],
                                stdout=out, stderr=err)
        time.sleep(wait_ms / 1000.0)
        early = proc.poll()
        proc.kill()  # SIGKILL
        proc.wait()
    with open(err_path, "r", errors="replace") as f:
        err_text = f.read()
    if early is not None:
        raise Failure(f"run (seed {run_seed}) exited on its own with status {early} "
                      f"before the kill:\n{err_text}")
    if bad_lines(err_text):
        raise Failure(f"run (seed {run_seed}) reported errors:\n{err_text}")
    with open(out_path, "rb") as f:
        chunk = complete_lines(f.read())
    os.unlink(out_path)
    if not err_text:
        os.unlink(err_path)
    return chunk


def drain(args, data, seed):
    res = subprocess.run([args.binary, "drain", data, str(seed)], capture_output=True,
                         timeout=300)
    err = res.stderr.decode(errors="replace")
    if res.returncode != 0 or bad_lines(err):
        raise Failure(f"drain failed (exit {res.returncode}):\n{err}")
    return res.stdout


def run(args, work):
    data = os.path.join(work, "data")
    events = os.path.join(work, "events.txt")
    if os.path.exists(data) or os.path.exists(events):
        raise Failure(f"{work} holds a previous run (data/ or events.txt): use a fresh --dir")
    os.makedirs(data)
    rng = random.Random(args.seed)
    ledger = Ledger()
    started = time.monotonic()
    for cycle in range(args.cycles):
        run_seed = (args.seed << 16) | (cycle + 1)
        wait_ms = rng.randint(args.min_ms, args.max_ms)
        chunk = run_cycle(args, work, data, cycle, run_seed, wait_ms)
        with open(events, "ab") as f:
            f.write(chunk)
        k = ledger.add(chunk, f"cycle {cycle + 1}")
        print(f"cycle {cycle + 1}/{args.cycles}: killed after {wait_ms} ms: "
              f"+{k['S']} sent, +{k['R']} received, +{k['T']} retried; "
              f"{len(ledger.sent)} sent in all", flush=True)
    out = drain(args, data, (args.seed << 16) | 0xffff)
    with open(events, "ab") as f:
        f.write(out)
    k = ledger.add(out, "drain")
    summary = [l for l in out.decode(errors="replace").splitlines() if l.startswith("drained")]
    print(f"drain: +{k['R']} received; {summary[0] if summary else ''}", flush=True)

    missing = [t for t in ledger.sent if ledger.received[t] == 0]
    if missing:
        sample = ", ".join(t.decode() for t in sorted(missing)[:10])
        raise Failure(f"{len(missing)} of {len(ledger.sent)} completed sends never received "
                      f"(e.g. {sample}); events in {events}")
    dup_tokens = 0
    dups = 0
    for tok, n in ledger.received.items():
        extra = n - 1 - ledger.retried[tok]
        if extra > 0:
            dup_tokens += 1
            dups += extra
    unconfirmed = sum(1 for t in ledger.received if t not in ledger.sent)
    if not ledger.sent:
        raise Failure("no send ever completed: nothing was tested")
    print(f"queue_crash_driver: {time.monotonic() - started:.1f} s, seed {args.seed}")
    print(f"{args.cycles} cycles: {len(ledger.sent)} sends completed, all received; "
          f"{ledger.receipts} deliveries of {len(ledger.received)} tokens "
          f"({unconfirmed} received whose send was not yet confirmed when killed), "
          f"{sum(ledger.retried.values())} retries asked for, "
          f"{dups} duplicate deliveries on {dup_tokens} tokens", flush=True)


def main():
    args = parse_args()
    args.binary = os.path.abspath(args.binary)
    own = args.dir is None
    work = tempfile.mkdtemp(prefix="dort-qcrash-") if own else os.path.abspath(args.dir)
    os.makedirs(work, exist_ok=True)
    print(f"queue_crash_driver: seed {args.seed}, {args.cycles} cycles, work dir {work}",
          flush=True)
    try:
        run(args, work)
    except (Failure, subprocess.TimeoutExpired) as e:
        print(f"queue_crash_driver: FAILED: {e}", file=sys.stderr)
        print(f"queue_crash_driver: kept {work}; rerun with:\n"
              f"  {sys.argv[0]} --seed {args.seed} --cycles {args.cycles} "
              f"--binary {args.binary}", file=sys.stderr)
        return 1
    if own and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
