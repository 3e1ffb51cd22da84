#!/usr/bin/env bash
# Boots a real Debian (systemd as PID 1) with scxpack installed as its
# Debian package installs it, on each given kernel under QEMU, and runs the
# guest checks there: one boot per kernel, every check in that boot.
#
# usage: tests/vm/systemd-guest.sh OUTDIR KERNEL...
#   KERNEL: a vmlinuz, or a folder holding one (../shared/kernels/7.2.13+deb14)
#   OUTDIR receives NAME.log per kernel (the serial console: the report lines
#   of tests/vm/guest/run-checks and each check's output) and the images.
# Environment:
#   SCXPACK_BIN     the scxpack binary to install (default: target/debug/scxpack)
#   SCXPACK_CHECKS  the checks directory (default: tests/vm/guest/checks)
#   SCXPACK_GUEST_TIMEOUT  seconds one boot may take (default 600)
#   SCXPACK_GUEST_JOBS     guests booted at once (default: the CPU count)
#   and those of tests/vm/debian-rootfs.sh (SCXPACK_CI_CACHE, SCXPACK_MIRROR).
#
# The guest is the cached root file system of tests/vm/debian-rootfs.sh plus
# a second cpio archive (the kernel unpacks both) holding:
#   - scxpack's files exactly as the Debian package lays them out: the
#     install step of packaging/debian/rules runs with this SCXPACK_BIN (its
#     debug info stripped, as dh_strip would) into the overlay,
#   - the check runner (tests/vm/guest/: run-checks, lib.sh, guest-checks.service),
#   - the checks: every CHECKS/NAME.sh, run in the guest in name order; a
#     CHECKS/NAME.host beside it runs first on the host (bash, with ROOT the
#     overlay root, SCXPACK the binary, REPO the checkout, WORK a scratch
#     directory) to add what that check needs (e.g. a fixture scheduler).
# Adding a check is adding files to CHECKS; this script does not change.
# Needs root, qemu-system-x86_64, cpio, make, objcopy, and what
# tests/vm/debian-rootfs.sh needs.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
guest=$repo/tests/vm/guest
out=$(mkdir -p "${1:?usage: $0 OUTDIR KERNEL...}" && cd "$1" && pwd)
shift
[ $# -gt 0 ] || { echo "usage: $0 OUTDIR KERNEL..." >&2; exit 2; }
bin=${SCXPACK_BIN:-$repo/target/debug/scxpack}
# The user half of relay, built beside it (the rules install it too).
relay=${SCXPACK_RELAY_BIN:-$(dirname "$bin")/scxpack-relay}
checks=${SCXPACK_CHECKS:-$guest/checks}
limit=${SCXPACK_GUEST_TIMEOUT:-600}
jobs=${SCXPACK_GUEST_JOBS:-$(nproc)}

say() { echo "systemd-guest: $*" >&2; }
die() { say "error: $*"; exit 1; }
ms() { echo $(($(date +%s%N) / 1000000)); }

[ -x "$bin" ] || die "no scxpack binary at $bin (cargo build, or set SCXPACK_BIN)"
ls "$checks"/*.sh >/dev/null 2>&1 || die "no checks (*.sh) in $checks"

# scxpack as packaging/debian/rules installs it (both packages into one
# root), then /lib merged into /usr/lib as dpkg does on a merged-/usr
# system: the overlay must not replace the guest's /lib symlink.
install_package_files() {
  local root=$1
  make -s -C "$repo" -f packaging/debian/rules SOURCE_DATE_EPOCH=0 \
    SCXPACK="$bin" RELAY="$relay" GEN="$out/generated" BIN="$root" SCHED="$root" \
    generate override_dh_auto_install >&2
  objcopy --strip-debug "$root/usr/bin/scxpack"
  objcopy --strip-debug "$root/usr/bin/scxpack-relay"
  local top
  for top in lib bin sbin; do
    [ -d "$root/$top" ] || continue
    mkdir -p "$root/usr/$top"
    cp -a "$root/$top/." "$root/usr/$top/"
    rm -rf "${root:?}/$top"
  done
}

install_runner() {
  local root=$1 lib=$1/usr/lib/scxpack-guest
  install -D -m 0755 "$guest/run-checks" "$lib/run-checks"
  install -D -m 0644 "$guest/lib.sh" "$lib/lib.sh"
  install -D -m 0644 -t "$lib/checks" "$checks"/*.sh
  install -D -m 0644 -t "$root/etc/systemd/system" "$guest/guest-checks.service"
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
  ln -s ../guest-checks.service "$root/etc/systemd/system/multi-user.target.wants/"
}

run_host_parts() {
  local root=$1 host
  for host in "$checks"/*.host; do
    [ -e "$host" ] || continue
    say "host part $(basename "$host")"
    mkdir -p "$out/work"
    ROOT=$root SCXPACK=$bin REPO=$repo WORK=$out/work bash -eu "$host" >&2 ||
      die "$host failed"
  done
}

build_initrd() {
  local rootfs root=$out/overlay
  rootfs=$("$repo/tests/vm/debian-rootfs.sh")
  rm -rf "$root" "$out/work" "$out/generated"
  mkdir -p "$root"
  install_package_files "$root"
  install_runner "$root"
  run_host_parts "$root"
  (cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
    cpio --create --format=newc --owner=0:0 --quiet) >"$out/overlay.cpio"
  cat "$rootfs" "$out/overlay.cpio" >"$out/initrd.cpio"
}

# boot NAME VMLINUZ: one guest; its console in OUTDIR/NAME.log.
boot() {
  local name=$1 kernel=$2 log=$out/$1.log start rc=0
  start=$(ms)
  timeout "$limit" qemu-system-x86_64 -accel tcg,thread=single -cpu max -m 1536 -smp 2 \
    -kernel "$kernel" -initrd "$out/initrd.cpio" \
    -append "console=ttyS0 quiet panic=-1 systemd.show_status=0" \
    -display none -serial "file:$log" -no-reboot -monitor none >&2 || rc=$?
  echo "SCXPACK-GUEST-HOST $name wall_ms $(($(ms) - start)) qemu_exit $rc" >>"$log"
  say "$name: $(($(ms) - start)) ms, QEMU exit $rc"
}

images=()
for kernel in "$@"; do
  [ -d "$kernel" ] && kernel=$kernel/vmlinuz
  [ -f "$kernel" ] || die "no kernel image at $kernel"
  images+=("$kernel")
done
start=$(ms)
build_initrd
say "guest image ready in $(($(ms) - start)) ms"
# Each guest is one emulated (single-threaded TCG) CPU's work for the
# host: up to $jobs boot at once, each with its own console log.
running=0
for kernel in "${images[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
  boot "$(basename "$(dirname "$kernel")")" "$kernel" &
  running=$((running + 1))
done
wait
