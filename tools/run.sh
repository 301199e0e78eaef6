#!/usr/bin/env bash
# tools/run.sh - install what is missing, build, and start the main job:
# `dort dev` serving an app. Until the tminus reference app exists this is
# the demo app (tools/apps/config/demo.json: a durable Counter actor behind
# /counter/:name), with its state kept in .dort/state.
#   tools/run.sh [extra dort dev flags, e.g. --port 9000]
set -eu
cd "$(dirname "$0")/.."
. tools/deps.sh
dort_ensure_deps
[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
ninja -C build >/dev/null
echo "try: curl -X POST http://127.0.0.1:8787/counter/hello" >&2
exec build/tools/dort dev --config tools/apps/config/demo.json --persist-to .dort/state "$@"
