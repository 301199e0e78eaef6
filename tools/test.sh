#!/usr/bin/env bash
# tools/test.sh - install what is missing, build, run every test.
# The last line printed is "N passed, N failed" (read by CI).
#   tools/test.sh              the default suite (unit, integration, crash, fuzz smoke)
#   tools/test.sh --sanitize   the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   tools/test.sh --suite S    only meson suite S (repeatable)
set -u
cd "$(dirname "$0")/.."
. tools/deps.sh

build=build
setup_args=(--buildtype=debugoptimized)
suites=()
while [ $# -gt 0 ]; do
    case "$1" in
    --sanitize)
        build=build-asan
        setup_args=(--buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false)
        ;;
    --suite) suites+=(--suite "$2"); shift ;;
    *) echo "usage: tools/test.sh [--sanitize] [--suite NAME]..." >&2; exit 2 ;;
    esac
    shift
done

dort_ensure_deps || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "${setup_args[@]}" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
if ! ninja -C "$build" >"$build/build-output.txt" 2>&1; then
    tail -n 60 "$build/build-output.txt"
    echo "build failed"
    echo "0 passed, 1 failed"
    exit 1
fi
grep -E "warning:" "$build/build-output.txt" | grep -v "/usr/share/llhttp" | head -20

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
meson test -C "$build" --print-errorlogs --num-processes 2 "${suites[@]}"
python3 tools/test_summary.py "$build/meson-logs/testlog.json"
