#!/usr/bin/env bash
# Cross-builds scxpack for arm64 (aarch64-unknown-linux-gnu) on an x86_64
# Debian machine from Debian packages only (rustup cannot fetch targets here):
#
#   1. a Debian trixie root (mmdebstrap, amd64 + arm64, from the mirror of the
#      system's apt sources) with trixie's rustc/cargo 1.85 (the crate's MSRV),
#      libstd-rust-dev:arm64, gcc-aarch64-linux-gnu and the arm64 -dev
#      packages libbpf-sys links against; cached, keyed by this package list;
#   2. the crates vendored as packaging/build-packages.sh does
#      (packaging/vendor.sh: cached, keyed by Cargo.lock);
#   3. `cargo build --release --target aarch64-unknown-linux-gnu` inside the
#      root, offline (a new network namespace), its target dir kept in the
#      root (cached builds recompile scxpack only);
#   4. the arm64 busybox for the guest, from Debian's busybox-static:arm64
#      (tests/vm/fetch-kernels.sh --download-only, dpkg-deb -x; cached),
#      linked as $cache/cross-arm64/busybox, and the root linked as
#      $cache/cross-arm64/sysroot (the arm64 libraries the guest binary needs).
#
# usage: packaging/cross-arm64.sh [OUT]   (default OUT: $cache/cross-arm64/scxpack)
# Environment: SCXPACK_CACHE (default /var/cache/scxpack-ci). Runs as root
# (mmdebstrap's root mode, chroot). Prints the build time.
set -euo pipefail

prog=${0##*/}
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${SCXPACK_CACHE:-/var/cache/scxpack-ci}
out=${1:-$cache/cross-arm64/scxpack}
suite=trixie
packages=(
  rustc cargo libstd-rust-dev:arm64
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross make pkgconf
  libelf-dev:arm64 zlib1g-dev:arm64 liblzma-dev:arm64 libzstd-dev:arm64
)

say() { echo "$prog: $*" >&2; }
die() {
  say "$*"
  exit 1
}
# shellcheck source=packaging/vendor.sh
. "$repo/packaging/vendor.sh"

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap root mode and chroot)"
command -v mmdebstrap >/dev/null || die "mmdebstrap not found: apt-get install mmdebstrap"

# The Debian mirror of the system's apt sources (deb822 or one-line form).
mirror() {
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* |
    grep -v security | sed -E 's/^URIs: *//; s/^deb (\[[^]]*\] )?//' | awk '{print $1}' | head -n1)
  echo "${uri:-http://deb.debian.org/debian}"
}

make_root() {
  local key root
  key=$(printf '%s\n' "$suite" "${packages[@]}" | sha256sum | cut -c1-16)
  root=$cache/cross-arm64/root-$key
  if [ ! -d "$root" ]; then
    say "making the $suite root $root"
    mkdir -p "$cache/cross-arm64"
    rm -rf "$root.tmp"
    mmdebstrap --quiet --mode=root --variant=apt --architectures=amd64,arm64 \
      --include="$(
        IFS=,
        echo "${packages[*]}"
      )" \
      "$suite" "$root.tmp" "deb $(mirror) $suite main" >&2
    mv "$root.tmp" "$root"
  fi
  echo "$root"
}

# The source tree inside the root: tracked and new files, the vendored
# crates (hard links when on the same file system) and a cargo config.
place_tree() {
  local src=$1 vendor=$2
  rm -rf "$src"
  mkdir -p "$src/.cargo"
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 -I{} sh -c 'test -e "$1" && printf "%s\0" "$1"' _ {} |
    tar --null -T - -cf -) | tar -xmf - -C "$src"
  cp -al "$vendor" "$src/vendor" 2>/dev/null || cp -a "$vendor" "$src/vendor"
  cat >"$src/.cargo/config.toml" <<'TOML'
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "vendor"

[target.aarch64-unknown-linux-gnu]
linker = "aarch64-linux-gnu-gcc"
TOML
}

# Whether $1 is an ELF for EM_AARCH64 (e_machine 183 at offset 18).
is_aarch64() {
  [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ] &&
    [ "$(od -An -tu2 -j18 -N2 "$1" | tr -d ' ')" = 183 ]
}

root=$(make_root)
vendor=$(vendor_crates)
place_tree "$root/build/src" "$vendor"
start=$(date +%s)
unshare --net --mount --fork -- sh -ec '
  mount -t proc proc "$1/proc"
  exec chroot "$1" env -i PATH=/usr/bin:/bin HOME=/nonexistent \
    CARGO_HOME=/build/cargo-home CARGO_TARGET_DIR=/build/target \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
    PKG_CONFIG_ALLOW_CROSS=1 \
    PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
    sh -c "cd /build/src && cargo build --offline --locked --release --target aarch64-unknown-linux-gnu"
' _ "$root"
seconds=$(($(date +%s) - start))
mkdir -p "$(dirname "$out")"
cp "$root/build/target/aarch64-unknown-linux-gnu/release/scxpack" "$out.tmp"
is_aarch64 "$out.tmp" || die "the build did not make an aarch64 ELF"
mv "$out.tmp" "$out"
say "built $out (aarch64) in ${seconds} s"

# The arm64 busybox: busybox-static:arm64 through the private apt setup of
# fetch-kernels.sh (the .deb is cached there), unpacked once.
deb=$(bash "$repo/tests/vm/fetch-kernels.sh" --arch arm64 --download-only \
  --cache "$cache/apt-arm64" busybox-static)
busybox=$cache/cross-arm64/busybox-$(dpkg-deb -f "$deb" Version | tr ':~' '__')
if [ ! -x "$busybox/bin/busybox" ]; then
  rm -rf "$busybox.tmp"
  dpkg-deb -x "$deb" "$busybox.tmp"
  mkdir -p "$busybox.tmp/bin"
  for b in usr/bin/busybox bin/busybox; do
    [ -x "$busybox.tmp/$b" ] && [ ! -e "$busybox.tmp/bin/busybox" ] && cp "$busybox.tmp/$b" "$busybox.tmp/bin/busybox"
  done
  [ -x "$busybox.tmp/bin/busybox" ] && is_aarch64 "$busybox.tmp/bin/busybox" ||
    die "$deb holds no aarch64 busybox binary"
  mv "$busybox.tmp" "$busybox"
fi
say "arm64 busybox: $busybox/bin/busybox"

# Stable names for what an arm64 guest needs (`scxpack vmtest --arm64-*`,
# tests/arm64_vm.rs): the busybox, and the root the binary's shared
# libraries are taken from.
ln -sfn "$busybox/bin/busybox" "$cache/cross-arm64/busybox"
ln -sfn "$root" "$cache/cross-arm64/sysroot"
say "arm64 guest: $out, $cache/cross-arm64/busybox, libraries from $cache/cross-arm64/sysroot"
