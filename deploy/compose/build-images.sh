#!/usr/bin/env bash
# Builds every image the compose example runs, from Debian's packages and
# with no container registry:
#
#   localhost/cognate-base-runtime:RELEASE    Debian minbase + libxmlsec1 (Cognate's runtime)
#   localhost/cognate-base-builder:RELEASE    Debian minbase + gcc and the SAML build dependencies
#   localhost/cognate-base-services:RELEASE   Debian minbase + PostgreSQL, HAProxy, openssl
#   $COGNATE_IMAGE           (localhost/cognate:0.1.0)                      ../container/Containerfile
#   $COGNATE_SERVICES_IMAGE  (localhost/cognate-compose-services:bookworm)  ./Containerfile
#
# The last two are the names compose.yaml runs, so `podman-compose up -d`
# afterwards pulls and builds nothing. Usage, as root, from anywhere:
#
#   deploy/compose/build-images.sh [TARBALL_DIR]
#
# mmdebstrap writes the base tarballs (NAME-RELEASE.tar) into TARBALL_DIR (default
# /var/tmp/cognate-images), outside every build context. A tarball already
# there is reused: delete it to rebuild that base with newer packages.
#
# Cognate is compiled (release) in the builder image with this host's Rust
# toolchain and cargo home lent to the build, offline: every crate must be
# in the cargo home already, as after one `cargo build` here. To package a
# binary you already built instead (no compiler; --target prebuilt), set
# COGNATE_BINARY, e.g. COGNATE_BINARY=target/release/cognate.
#
# Needs podman and mmdebstrap (apt-get install --no-install-recommends
# podman runc netavark aardvark-dns iptables podman-compose mmdebstrap), and
# Debian's package mirror for mmdebstrap (or DEBIAN_MIRROR, e.g. your own).
# Where podman's defaults fail (see containers.conf here), first:
#   export CONTAINERS_CONF=$PWD/deploy/compose/containers.conf
#
# Variables (all optional): DEBIAN_RELEASE (default: this host's Debian
# release, else bookworm; the binary needs that release's glibc or a newer
# one), DEBIAN_MIRROR, COGNATE_IMAGE, COGNATE_SERVICES_IMAGE, COGNATE_BINARY,
# CARGO_HOME (default ~/.cargo).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$(realpath -m "${1:-/var/tmp/cognate-images}")
case "$out/" in
  "$repo"/*) echo "build-images.sh: $out is inside the repository (a build context); give a directory outside it" >&2; exit 2 ;;
esac
mkdir -p "$out"

if [ -z "${DEBIAN_RELEASE:-}" ]; then
  DEBIAN_RELEASE=bookworm
  # shellcheck source=/dev/null
  if [ -r /etc/os-release ] && [ "$(. /etc/os-release && echo "${ID:-}")" = debian ]; then
    # shellcheck source=/dev/null
    DEBIAN_RELEASE=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  fi
fi
release=$DEBIAN_RELEASE
runtime_base=localhost/cognate-base-runtime:$release
builder_base=localhost/cognate-base-builder:$release
services_base=localhost/cognate-base-services:$release
cognate_image=${COGNATE_IMAGE:-localhost/cognate:0.1.0}
services_image=${COGNATE_SERVICES_IMAGE:-localhost/cognate-compose-services:bookworm}

for tool in podman mmdebstrap; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-images.sh: $tool is not installed" >&2; exit 2; }
done
if [ -n "${COGNATE_BINARY:-}" ]; then
  [ -x "$COGNATE_BINARY" ] || { echo "build-images.sh: COGNATE_BINARY=$COGNATE_BINARY is not an executable file" >&2; exit 2; }
else
  command -v rustc >/dev/null 2>&1 || { echo "build-images.sh: no Rust toolchain (rustc) to lend the build; or set COGNATE_BINARY" >&2; exit 2; }
  cargo_home=${CARGO_HOME:-$HOME/.cargo}
  [ -d "$cargo_home/registry" ] || { echo "build-images.sh: no crates in $cargo_home/registry; run cargo build (or cargo fetch) once with network" >&2; exit 2; }
fi

say() { printf '[build-images %s] %s\n' "$(date +%T)" "$*"; }

# mmdebstrap NAME PACKAGES: $out/NAME-RELEASE.tar, unless it is there
# already. Runs in the background; its log is $out/NAME-RELEASE.log.
pids=()
names=()
debootstrap() {
  local name=$1-$release packages=$2
  if [ -s "$out/$name.tar" ]; then
    say "reusing $out/$name.tar"
    return
  fi
  say "mmdebstrap $name: $packages"
  rm -f "$out/$name.tar.part"
  (
    mmdebstrap --variant=minbase --format=tar --include="$packages" \
      "$release" "$out/$name.tar.part" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} \
      && mv "$out/$name.tar.part" "$out/$name.tar"
  ) >"$out/$name.log" 2>&1 &
  pids+=("$!")
  names+=("$name")
}

# Cognate's binary links libxmlsec1 (SAML signatures) besides libc. The
# builder has what the Containerfile's builder stage would otherwise fetch
# with apt-get (bindgen needs libclang; libxmlsec1-dev brings libssl-dev).
debootstrap runtime ca-certificates,libxmlsec1,libxmlsec1-openssl
if [ -z "${COGNATE_BINARY:-}" ]; then
  debootstrap builder ca-certificates,gcc,libc6-dev,libclang-dev,libxml2-dev,libxmlsec1-dev,pkg-config
fi
debootstrap services ca-certificates,postgresql,haproxy,openssl

failed=
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "build-images.sh: mmdebstrap ${names[$i]} failed; the end of $out/${names[$i]}.log:" >&2
    tail -n 20 "$out/${names[$i]}.log" >&2
    failed=1
  fi
done
[ -z "$failed" ] || exit 1

podman import -q "$out/runtime-$release.tar" "$runtime_base" >/dev/null
podman import -q "$out/services-$release.tar" "$services_base" >/dev/null
if [ -z "${COGNATE_BINARY:-}" ]; then
  podman import -q "$out/builder-$release.tar" "$builder_base" >/dev/null
fi
say "imported the Debian $release bases"

# --format docker keeps the image's HEALTHCHECK (OCI images have none).
if [ -n "${COGNATE_BINARY:-}" ]; then
  context=$(mktemp -d "$out/context.XXXXXX")
  trap 'rm -rf "$context"' EXIT
  cp "$COGNATE_BINARY" "$context/cognate"
  say "building $cognate_image from $COGNATE_BINARY (--target prebuilt)"
  podman build --format docker --target prebuilt -f "$repo/deploy/container/Containerfile" \
    --build-arg RUNTIME_IMAGE="$runtime_base" -t "$cognate_image" "$context"
else
  say "building $cognate_image: a release build in the builder image (about 15 minutes on two cores)"
  podman build --format docker -f "$repo/deploy/container/Containerfile" \
    --build-arg BUILDER_IMAGE="$builder_base" --build-arg RUNTIME_IMAGE="$runtime_base" \
    --build-arg TOOLCHAIN_DIR=/opt/rust --build-arg HOST_CARGO_HOME=/opt/cargo \
    --build-arg CARGO_FLAGS=--offline \
    -v "$(rustc --print sysroot)":/opt/rust:ro -v "$cargo_home":/opt/cargo \
    -t "$cognate_image" "$repo"
fi

say "building $services_image"
podman build --format docker -f "$here/Containerfile" \
  --build-arg DEBIAN_IMAGE="$services_base" -t "$services_image" "$here"

say "done: $cognate_image and $services_image; next: generate-secrets.sh, then podman-compose up -d in $here"
