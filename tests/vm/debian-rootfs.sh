#!/usr/bin/env bash
# Builds (once) a minimal Debian trixie root file system with systemd as
# PID 1, as an uncompressed initramfs (newc cpio) the stock kernels in
# ../shared/kernels boot straight into: the whole system lives in the
# kernel's rootfs (tmpfs), so no disk, no virtio driver and no kernel
# module is needed. Prints the archive's path.
#
# usage: tests/vm/debian-rootfs.sh [--packages FILE]
#   --packages FILE  package list, one a line, # comments
#                    (default: tests/vm/debian-rootfs.packages)
# Environment:
#   SCXPACK_CI_CACHE  cache directory (default /var/cache/scxpack-ci); the
#                     archive is debian-rootfs/<key>.cpio there, the key a
#                     hash of the package list and of this script, so a rerun
#                     costs nothing and a changed list builds a new one.
#   SCXPACK_MIRROR    Debian mirror (default: from the system's apt sources,
#                     as tests/vm/fetch-kernels.sh --print-mirror finds it).
# Needs root (mmdebstrap's root mode keeps file ownership), mmdebstrap, cpio.
#
# The image is plain Debian plus what booting it from an initramfs under
# QEMU needs: /init is systemd, no fstab, multi-user.target is the default,
# the serial console keeps no login prompt, and nothing loads modules
# (the guest has none). Whatever a test adds
# (scxpack, checks) goes into a second cpio archive appended to this one
# (the kernel unpacks concatenated archives in order).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
packages_file=$here/debian-rootfs.packages
suite=trixie
cache=${SCXPACK_CI_CACHE:-/var/cache/scxpack-ci}

say() { echo "debian-rootfs: $*" >&2; }
die() { say "error: $*"; exit 1; }

while [ $# -gt 0 ]; do
  case $1 in
  --packages) packages_file=${2:?--packages needs a file}; shift 2 ;;
  -h | --help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;/^set -e/d'; exit 0 ;;
  *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -r "$packages_file" ] || die "cannot read the package list $packages_file"
[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap keeps the files' owners only as root)"
command -v mmdebstrap >/dev/null || die "mmdebstrap not found: apt-get install mmdebstrap (.ci/setup does)"
command -v cpio >/dev/null || die "cpio not found: apt-get install cpio"

packages=$(sed 's/#.*//' "$packages_file" | tr -s ' \t\n' '\n' | sed '/^$/d' | sort -u | paste -sd, -)
key=$( (echo "$suite $packages"; cat "$0") | sha256sum | cut -c1-16)
out="$cache/debian-rootfs/$key.cpio"
if [ -s "$out" ]; then
  echo "$out"
  exit 0
fi

mirror=${SCXPACK_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$("$here/fetch-kernels.sh" --print-mirror | cut -f1)
fi

mkdir -p "$cache/debian-rootfs"
work=$(mktemp -d "$cache/debian-rootfs/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

say "building $suite with $packages from $mirror (once; cached as $out)"
start=$(date +%s)
# Documentation, manuals and translations are left out; the guest has no
# apt, so its package lists are dropped too.
mmdebstrap --quiet --mode=root --variant=essential --include="$packages" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --customize-hook='ln -sf /usr/lib/systemd/systemd "$1/init"' \
  --customize-hook='ln -sf /usr/lib/systemd/system/multi-user.target "$1/etc/systemd/system/default.target"' \
  --customize-hook='ln -sf /dev/null "$1/etc/systemd/system/serial-getty@ttyS0.service"' \
  --customize-hook='ln -sf /dev/null "$1/etc/systemd/system/getty@tty1.service"' \
  --customize-hook='ln -sf /dev/null "$1/etc/systemd/system/systemd-modules-load.service"' \
  --customize-hook='echo scxpack-guest >"$1/etc/hostname"' \
  --customize-hook=': >"$1/etc/fstab"; rm -f "$1/etc/machine-id"; : >"$1/etc/machine-id"' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
  "$suite" "$root" "$mirror"

# newc, owners and modes as built; device nodes are made by devtmpfs.
(cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
  cpio --null --create --format=newc --quiet) >"$work/rootfs.cpio"
mv "$work/rootfs.cpio" "$out"
say "built in $(($(date +%s) - start)) s: $(du -h "$out" | cut -f1)"
echo "$out"
