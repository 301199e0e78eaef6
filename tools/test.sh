#!/usr/bin/env bash
# tools/test.sh - install what is missing, build, run every test.
# The last line printed is "N passed, N failed" (read by CI).
#   tools/test.sh              the default suite (unit, integration, crash, fuzz corpus
#                              replay), then libFuzzer smoke runs from a clang build
#   tools/test.sh --sanitize   the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   tools/test.sh --suite S    only meson suite S (repeatable; skips the libFuzzer runs)
#   tools/test.sh --no-libfuzzer   skip the clang libFuzzer smoke runs
set -u
cd "$(dirname "$0")/.."
. tools/deps.sh

build=build
setup_args=(--buildtype=debugoptimized)
suites=()
libfuzzer=1
while [ $# -gt 0 ]; do
    case "$1" in
    --no-libfuzzer) libfuzzer=0 ;;
    --sanitize)
        build=build-asan
        setup_args=(--buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false)
        ;;
    --suite) suites+=(--suite "$2"); libfuzzer=0; shift ;;
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
logs=("$build/meson-logs/testlog.json")

# libFuzzer smoke runs need clang; the build above replays the corpora only.
if [ "$libfuzzer" = 1 ] && command -v clang >/dev/null; then
    fuzz_build=$build-fuzz
    if [ ! -f "$fuzz_build/build.ninja" ]; then
        CC=clang meson setup "$fuzz_build" --buildtype=debugoptimized -Dfuzz=enabled \
            -Dexamples=false >/dev/null || echo "clang fuzz build: setup failed"
    fi
    if ninja -C "$fuzz_build" >"$fuzz_build/build-output.txt" 2>&1; then
        meson test -C "$fuzz_build" --print-errorlogs --suite fuzz
        logs+=("$fuzz_build/meson-logs/testlog.json")
    else
        tail -n 30 "$fuzz_build/build-output.txt"
        echo "clang fuzz build failed"
        logs+=("/nonexistent/fuzz-build-failed")
    fi
fi
python3 tools/test_summary.py "${logs[@]}"
