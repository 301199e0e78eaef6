#!/usr/bin/env python3
"""Reads meson testlog.json files and prints 'N passed, N failed' as the last line.

A missing log counts as one failure (its build failed). Exits 1 when any
test failed, timed out or none ran."""
import json
import sys

passed = failed = 0
names = []
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                t = json.loads(line)
                if t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP"):
                    passed += 1
                else:
                    failed += 1
                    names.append(t.get("name", "?"))
    except OSError as e:
        print(f"no test log: {e}")
        failed += 1
if names:
    print("failed: " + ", ".join(names))
if passed + failed == 0:
    failed = 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
