#!/bin/sh
# check_install.sh BUILD_DIR SOURCE_DIR - installs libdort into a scratch
# prefix, builds the embedding example against it with `pkg-config dort`
# only (as an outside program would), runs it twice on the same data dir and
# checks the count survived the restart. SANITIZE (meson's b_sanitize) makes
# the example link the same sanitizer runtimes as an instrumented libdort.
set -eu
build=$1
src=$2
san=${3:-none}
extra=""
[ "$san" != none ] && extra="-fsanitize=$san"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
DESTDIR="$tmp/root" meson install -C "$build" --no-rebuild --quiet >/dev/null
pc=$(find "$tmp/root" -name dort.pc | head -n 1)
[ -n "$pc" ] || { echo "dort.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_SYSROOT_DIR="$tmp/root"
flags=$(pkg-config --cflags --libs dort)
cc -std=gnu17 -Wall -Wextra -Werror $extra "$src/tools/examples/embed_counter.c" $flags -o "$tmp/embed_counter"
libdir=$(dirname "$(find "$tmp/root" -name 'libdort.so' | head -n 1)")
[ -f "$libdir/libdort.a" ] || { echo "static library was not installed"; exit 1; }
mkdir "$tmp/data"
out1=$(LD_LIBRARY_PATH="$libdir" "$tmp/embed_counter" "$tmp/data")
out2=$(LD_LIBRARY_PATH="$libdir" "$tmp/embed_counter" "$tmp/data")
echo "$out1"
echo "$out2"
echo "$out1" | grep -q "count=20 loop_closed=yes" || { echo "first run wrong"; exit 1; }
echo "$out2" | grep -q "count=40 loop_closed=yes" || { echo "count did not survive restart"; exit 1; }
# The library exports nothing without the dort_ prefix.
bad=$(nm -D --defined-only "$libdir/libdort.so" | awk '{print $3}' | grep -v '^dort_' || true)
[ -z "$bad" ] || { echo "exported symbols without dort_ prefix:"; echo "$bad"; exit 1; }
echo "install ok"
