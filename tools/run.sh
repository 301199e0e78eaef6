#!/usr/bin/env bash
# tools/run.sh - install what is missing, build, and start the main job.
# Until `dort dev` lands this runs the embedding demo: a host program whose
# own timer drives a durable Counter actor (state kept in .dort/demo).
set -eu
cd "$(dirname "$0")/.."
. tools/deps.sh
dort_ensure_deps
[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
ninja -C build >/dev/null
mkdir -p .dort/demo
exec build/tools/examples/embed_counter .dort/demo
