#!/usr/bin/env python3
"""SIGKILL crash test driver for dort (see tests/crash/README.md).

Each cycle starts `crash_writer write DATA SEED_i`, lets it run for a random
20-400 ms (seeded), kills it with SIGKILL and keeps the complete lines it
printed: each one is a write the runtime acknowledged, so it must be durable.
Then `crash_writer check DATA` reads every line kept so far on stdin, walks
the LMDB file read-only and verifies every key through actors. Any missing or
wrong key, an unclean LMDB file, a writer that died on its own or a sanitizer
report fails the run (exit 1). Python standard library only.
"""

import argparse
import os
import re
import random
import shutil
import subprocess
import sys
import tempfile
import time

SUMMARY = re.compile(r"^checked (\d+) keys, (\d+) missing, (\d+) wrong$", re.M)
# Lines on stderr that mean something went wrong even when exit codes say
# otherwise (UBSan reports and continues; the writer reports failed requests).
BAD_STDERR = re.compile(r"error|Sanitizer|runtime error", re.I)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=20, help="kill/restart cycles (default 20)")
    ap.add_argument("--seed", type=int, default=None,
                    help="seed for kill times and writer seeds (default: random, printed)")
    ap.add_argument("--binary", required=True, help="path to crash_writer")
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
    """The lines that ended with a newline; a partial last line is ignored
    (the kill came while it was being written: it was never acknowledged to
    anyone reading whole lines)."""
    end = raw.rfind(b"\n")
    return raw[: end + 1] if end >= 0 else b""


def count_kinds(chunk):
    kinds = {"P": 0, "D": 0, "C": 0}
    for line in chunk.splitlines():
        k = line[:1].decode("ascii", "replace")
        if k not in kinds:
            raise Failure(f"writer printed an unexpected line: {line[:200]!r}")
        kinds[k] += 1
    return kinds


def bad_lines(text):
    return [l for l in text.splitlines() if BAD_STDERR.search(l)]


def write_run(args, work, data, cycle, run_seed, wait_ms):
    """Starts a writer, kills it after wait_ms, returns its complete output."""
    out_path = os.path.join(work, f"write-{cycle:04d}.out")
    err_path = os.path.join(work, f"write-{cycle:04d}.err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([args.binary, "write", data, str(run_seed)],
                                stdout=out, stderr=err)
        time.sleep(wait_ms / 1000.0)
        early = proc.poll()
        proc.kill()  # SIGKILL
        proc.wait()
    with open(err_path, "r", errors="replace") as f:
        err_text = f.read()
    if early is not None:
        raise Failure(f"writer (seed {run_seed}) exited on its own with status {early} "
                      f"before the kill:\n{err_text}")
    if bad_lines(err_text):
        raise Failure(f"writer (seed {run_seed}) reported errors:\n{err_text}")
    with open(out_path, "rb") as f:
        chunk = complete_lines(f.read())
    os.unlink(out_path)  # its lines live on in expected.txt
    if not err_text:
        os.unlink(err_path)
    return chunk


def check_run(args, data, expect_path):
    """Runs check mode on everything acknowledged so far."""
    with open(expect_path, "rb") as inp:
        res = subprocess.run([args.binary, "check", data], stdin=inp, capture_output=True,
                             timeout=600)
    out = res.stdout.decode(errors="replace")
    err = res.stderr.decode(errors="replace")
    m = SUMMARY.search(out)
    if res.returncode != 0 or m is None or m.group(2) != "0" or m.group(3) != "0" \
            or bad_lines(err):
        raise Failure(f"check failed (exit {res.returncode}):\n{out}{err}")
    return int(m.group(1)), out


def run(args, work):
    data = os.path.join(work, "data")
    expect_path = os.path.join(work, "expected.txt")
    if os.path.exists(data) or os.path.exists(expect_path):
        raise Failure(f"{work} holds a previous run (data/ or expected.txt): use a fresh --dir")
    open(expect_path, "wb").close()
    rng = random.Random(args.seed)
    total = 0
    started = time.monotonic()
    for cycle in range(args.cycles):
        # Unique per (seed, cycle): the writer's run id, so every key is too.
        run_seed = (args.seed << 16) | (cycle + 1)
        wait_ms = rng.randint(args.min_ms, args.max_ms)
        chunk = write_run(args, work, data, cycle, run_seed, wait_ms)
        kinds = count_kinds(chunk)
        with open(expect_path, "ab") as f:
            f.write(chunk)
        acked = sum(kinds.values())
        total += acked
        t0 = time.monotonic()
        keys, _ = check_run(args, data, expect_path)
        print(f"cycle {cycle + 1}/{args.cycles}: killed after {wait_ms} ms, "
              f"+{acked} acknowledged (P {kinds['P']}, D {kinds['D']}, C {kinds['C']}), "
              f"{total} in all; check {time.monotonic() - t0:.2f} s: "
              f"checked {keys} keys, 0 missing, 0 wrong", flush=True)
    if total == 0:
        raise Failure("the writer never acknowledged anything: nothing was tested")
    print(f"crash_driver: {time.monotonic() - started:.1f} s, seed {args.seed}")
    print(f"{args.cycles} cycles, {total} acknowledged writes, 0 lost", flush=True)


def main():
    args = parse_args()
    args.binary = os.path.abspath(args.binary)
    own = args.dir is None
    work = tempfile.mkdtemp(prefix="dort-crash-") if own else os.path.abspath(args.dir)
    os.makedirs(work, exist_ok=True)
    print(f"crash_driver: seed {args.seed}, {args.cycles} cycles, work dir {work}", flush=True)
    try:
        run(args, work)
    except (Failure, subprocess.TimeoutExpired) as e:
        print(f"crash_driver: FAILED: {e}", file=sys.stderr)
        print(f"crash_driver: kept {work}; reproduce the check with:\n"
              f"  {args.binary} check {work}/data < {work}/expected.txt\n"
              f"  rerun: {sys.argv[0]} --seed {args.seed} --cycles {args.cycles} "
              f"--binary {args.binary}", file=sys.stderr)
        return 1
    if own and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
