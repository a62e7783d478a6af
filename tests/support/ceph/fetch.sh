#!/usr/bin/env bash
# Fetch Ceph (Pacific, Debian's 16.2) for the end-to-end tests, without
# installing it: the .deb closure of ceph-mon, ceph-osd, radosgw and
# ceph-common (the `ceph` CLI and `radosgw-admin`), minus what this machine
# already has installed, is downloaded with `apt-get download` into
#   ${COGNATE_CEPH_CACHE:-$HOME/.cache/cognate-ceph}/debs
# and unpacked with `dpkg -x` into <cache>/root. Run the binaries from
# <cache>/root/usr/bin with LD_LIBRARY_PATH=<cache>/root/usr/lib/x86_64-linux-gnu
# (and the ceph/ subdirectory of it) and PYTHONPATH=<cache>/root/usr/lib/python3/dist-packages.
#
# Idempotent: when <cache>/root/.cognate-ceph holds the same version (of the
# candidate ceph packages, or of the ones extracted when apt knows of none)
# and the binaries are there, it does nothing. A fresh machine needs only
# `apt-get update` (done here when apt knows no candidate and we are root).
#
# Prints the time taken and the bytes downloaded. See README.md beside it.
set -euo pipefail

CACHE=${COGNATE_CEPH_CACHE:-${HOME:-/root}/.cache/cognate-ceph}
ROOT=$CACHE/root
DEBS=$CACHE/debs
MARKER=$ROOT/.cognate-ceph
# The layout this script produces; bump to force a re-extraction.
LAYOUT=1
TOP=(ceph-mon ceph-osd radosgw ceph-common)
BINARIES=(ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool ceph-authtool)

started=$(date +%s.%N)
log() { printf 'cognate-ceph: %s\n' "$*" >&2; }

# One fetch at a time per cache (test binaries and sessions run side by side).
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null; then
    flock -w 600 9 || { log "timed out waiting for $CACHE/.lock"; exit 1; }
fi

candidate() {
    apt-cache policy radosgw 2>/dev/null | awk '/Candidate:/ { print $2; exit }'
}

have_binaries() {
    local b
    for b in "${BINARIES[@]}"; do
        [ -x "$ROOT/usr/bin/$b" ] || return 1
    done
}

version=$(candidate || true)
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    version=""
fi

if [ -f "$MARKER" ] && have_binaries; then
    have=$(cat "$MARKER")
    if [ -z "$version" ] || [ "$have" = "$LAYOUT $version" ]; then
        log "already fetched ($have) in $ROOT"
        exit 0
    fi
    log "cached $have, candidate is $version: fetching again"
fi

if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
    log "apt-get/dpkg not available: cannot fetch Ceph"
    exit 3
fi

if [ -z "$version" ]; then
    if [ "$(id -u)" = 0 ]; then
        log "apt knows no radosgw candidate: running apt-get update"
        apt-get update -qq >&2 || true
        version=$(candidate || true)
    fi
    if [ -z "$version" ] || [ "$version" = "(none)" ]; then
        log "apt has no radosgw package (run apt-get update?): cannot fetch Ceph"
        exit 3
    fi
fi

# What apt would install: the real resolution (one of each set of
# alternatives, no recommends), minus what is installed. Simulation takes
# no lock.
resolve() {
    mapfile -t wanted < <(
        apt-get install -s -qq --no-install-recommends "${TOP[@]}" 2>/dev/null |
            awk '$1 == "Inst" { v = $3; gsub(/[()]/, "", v); print $2 "=" v }'
    )
    if [ "${#wanted[@]}" -eq 0 ]; then
        if dpkg-query -W -f='${Status}\n' radosgw 2>/dev/null | grep -q 'ok installed'; then
            log "Ceph is installed system-wide, yet this script only works with its own copy;"
            log "the closure is empty. Remove the system packages or extend this script."
        else
            log "apt-get could not resolve ${TOP[*]}"
        fi
        exit 3
    fi
}

# Download what is not in $DEBS yet; fails when apt-get download does.
download() {
    local pv p v fv
    missing=()
    for pv in "${wanted[@]}"; do
        p=${pv%%=*}
        v=${pv#*=}
        # apt-get download escapes the epoch's ':' as %3a in file names.
        fv=${v//:/%3a}
        compgen -G "$DEBS/${p}_${fv}_*.deb" >/dev/null || missing+=("$pv")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    log "downloading ${#missing[@]} of ${#wanted[@]} packages into $DEBS"
    # As root, apt drops to the _apt user when it can; the cache dir under
    # /root is not reachable for it, hence the sandbox user override.
    (cd "$DEBS" && apt-get download -qq -o APT::Sandbox::User=root "${missing[@]}" >&2)
}

mkdir -p "$DEBS"
before=$(du -sb "$DEBS" | cut -f1)
resolve
if ! download; then
    # Stale package lists name versions the mirror no longer has.
    if [ "$(id -u)" = 0 ]; then
        log "apt-get download failed: running apt-get update and trying again"
        apt-get update -qq >&2 || true
        version=$(candidate || true)
        resolve
    fi
    if [ "$(id -u)" != 0 ] || ! download; then
        log "apt-get download failed (no mirror reachable?): cannot fetch Ceph"
        exit 3
    fi
fi
after=$(du -sb "$DEBS" | cut -f1)

log "extracting ${#wanted[@]} packages into $ROOT"
rm -rf "$ROOT.new"
mkdir -p "$ROOT.new"
for pv in "${wanted[@]}"; do
    p=${pv%%=*}
    v=${pv#*=}
    fv=${v//:/%3a}
    deb=$(compgen -G "$DEBS/${p}_${fv}_*.deb" | head -n 1 || true)
    [ -n "$deb" ] || { log "no .deb for $pv in $DEBS"; exit 1; }
    dpkg -x "$deb" "$ROOT.new"
done
for b in "${BINARIES[@]}"; do
    [ -x "$ROOT.new/usr/bin/$b" ] || { log "no usr/bin/$b in the extracted packages"; exit 1; }
done
printf '%s\n' "${wanted[@]}" > "$ROOT.new/.cognate-ceph-packages"
echo "$LAYOUT $version" > "$ROOT.new/.cognate-ceph"
rm -rf "$ROOT"
mv "$ROOT.new" "$ROOT"

ended=$(date +%s.%N)
log "$(awk -v a="$started" -v b="$ended" -v d=$((after - before)) -v t="$after" -v n="${#wanted[@]}" \
    'BEGIN { printf "done in %.1f s: downloaded %.1f MB (%d packages, %.1f MB cached), extracted %s", b - a, d / 1e6, n, t / 1e6, "" }')$(du -sh "$ROOT" | cut -f1) in $ROOT"
