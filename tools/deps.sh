# tools/deps.sh - sourced by run.sh and test.sh: installs the Debian packages
# dort needs when any is missing. Only Debian packages; see README for why
# each is there.
DORT_PACKAGES="build-essential pkg-config meson ninja-build libuv1-dev liblmdb-dev lmdb-utils
libssl-dev node-llhttp libprotobuf-c-dev protobuf-c-compiler libjansson-dev libwslay-dev
libcmocka-dev python3 wrk clang libclang-rt-14-dev"

dort_ensure_deps() {
    local missing=""
    for p in $DORT_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y --no-install-recommends $missing >/dev/null ||
        { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends $missing >/dev/null; }
}
