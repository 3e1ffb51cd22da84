#!/usr/bin/env bash
# Builds scxpack's distribution packages from this checkout the way a
# distribution builder would, and proves them:
#   1. vendor the crates (`cargo vendor`, cached outside the clone, keyed by
#      Cargo.lock's hash; the only step that may use the network),
#   2. lay out a build tree (the checkout's files, debian/ from
#      packaging/debian, vendor/ and .cargo/config.toml pointing at it),
#   3. build the .debs with `dpkg-buildpackage -b` and the RPMs with
#      `rpmbuild -bb`, each with no network (`unshare -n`), HOME=/nonexistent,
#   4. lintian the .debs (no errors allowed),
#   5. install the .debs into an empty root with `dpkg --root`, and run the
#      installed `scxpack list`, `check --installed` and the kernel hook there.
#
# usage: packaging/build-packages.sh OUTDIR [KERNEL...]
#   OUTDIR receives the packages, the install root, and timings.txt.
#   KERNEL: images for the installed `check --installed` (default: none).
# Environment: SCXPACK_CACHE (default /var/cache/scxpack-ci) holds vendor/
#   and one cargo target dir per format (target-deb, target-rpm: compiled
#   dependencies, reused across runs; each format's build flags differ, so
#   they are not shared; scxpack itself is always recompiled);
#   SCXPACK_FORMATS (default "deb rpm").
# Needs: dpkg-dev, debhelper, lintian, rpm, util-linux, cargo >= 1.85 in PATH.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:?usage: $0 OUTDIR [KERNEL...]}" && cd "$1" && pwd)
shift
kernels=("$@")
cache=${SCXPACK_CACHE:-/var/cache/scxpack-ci}
formats=${SCXPACK_FORMATS:-deb rpm}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n1)
timings="$out/timings.txt"
: >"$timings"

say() { echo "build-packages: $*" >&2; }
die() { say "error: $*"; exit 1; }
# vendor_crates: the crates vendored under $cache/vendor, keyed by Cargo.lock.
# shellcheck source=packaging/vendor.sh
. "$repo/packaging/vendor.sh"

# Runs "$@" and appends "LABEL SECONDS" to timings.txt.
timed() {
  local label=$1 start ms
  shift
  start=$(date +%s%N)
  "$@"
  ms=$((($(date +%s%N) - start) / 1000000))
  echo "$label $((ms / 1000)).$((ms % 1000 / 100)) s" >>"$timings"
}

# Runs "$@" without network: a new network namespace (as root, or as the
# current user mapped into a user namespace).
offline() {
  if [ "$(id -u)" = 0 ]; then
    unshare --net -- "$@"
  else
    unshare --map-current-user --net -- "$@"
  fi
}

# The build tree: the checkout's files (tracked and new, not ignored), with
# fresh modification times, so that cargo always recompiles scxpack itself
# (only the vendored dependencies are reused from the cached target dir).
make_tree() {
  local tree=$1 vendor=$2
  mkdir -p "$tree"
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 -I{} sh -c 'test -e "$1" && printf "%s\0" "$1"' _ {} |
    tar --null -T - -cf -) | tar -xmf - -C "$tree"
  cp -a "$repo/packaging/debian" "$tree/debian"
  ln -s "$vendor" "$tree/vendor"
  mkdir -p "$tree/.cargo"
  cat >"$tree/.cargo/config.toml" <<'TOML'
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "vendor"
TOML
}

# The build environment for format $1. The toolchain in PATH may be a
# rustup proxy: it needs RUSTUP_HOME, which
# is otherwise found through $HOME (set to /nonexistent for the build).
build_env() {
  local rustup_home=${RUSTUP_HOME:-}
  if [ -z "$rustup_home" ] && command -v rustup >/dev/null; then
    rustup_home=$(rustup show home)
  fi
  echo env HOME=/nonexistent ${rustup_home:+RUSTUP_HOME=$rustup_home} \
    CARGO_TARGET_DIR="$cache/target-$1" SCXPACK_GIT_COMMIT="$commit"
}

# The builds run with HOME=/nonexistent: as root they could create it.
home_was_absent=$([ -e /nonexistent ] && echo no || echo yes)
no_home_written() {
  [ "$home_was_absent" = no ] || [ ! -e /nonexistent ] || die "/nonexistent exists: something wrote to \$HOME during the build"
}

build_deb() {
  local tree=$1
  # -d: Build-Depends names Debian's cargo/rustc >= 1.85, which Debian 12
  # lacks; the cargo in PATH (rustup's) builds instead.
  (cd "$tree" && offline $(build_env deb) dpkg-buildpackage -b -us -uc -d)
  no_home_written
  mv "$tree"/../*.deb "$tree"/../*.changes "$tree"/../*.buildinfo "$out/"
  mv "$tree"/../*.ddeb "$out/" 2>/dev/null || true
}

lint_debs() {
  lintian --fail-on error \
    "$out"/scxpack_"$version"_*.changes | tee "$out/lintian.txt"
}

build_rpm() {
  local tree=$1
  # --nodeps: Debian has no rpm database of the build dependencies.
  # --build-in-place: the tree is already laid out (vendor/ included).
  (cd "$tree" && offline $(build_env rpm) rpmbuild -bb --nodeps --build-in-place \
    --define "_topdir $out/rpmbuild" packaging/rpm/scxpack.spec)
  no_home_written
}

# Installs the .debs into an empty root with dpkg, as a package manager would.
install_debs() {
  local root=$1
  rm -rf "$root"
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
  touch "$root/var/lib/dpkg/status"
  # Dependencies (libc6, libelf1, zlib1g) are the host's, not in this root;
  # maintainer scripts honour DPKG_ROOT instead of chrooting.
  dpkg --root="$root" --force-depends --force-script-chrootless \
    --log="$root/var/log/dpkg.log" -i \
    "$out/scxpack_${version}_"*.deb "$out/scxpack-schedulers_${version}_"*.deb
  dpkg --root="$root" -l 'scxpack*' >&2
}

# The RPMs' payloads unpacked into an empty root (Debian has no rpm database
# to install them into): the files, modes and objects as rpm ships them.
unpack_rpms() {
  local root=$1 rpm
  rm -rf "$root"
  mkdir -p "$root"
  for rpm in "$out"/rpmbuild/RPMS/*/scxpack-*.rpm; do
    rpm2cpio "$rpm" | (cd "$root" && cpio -idm --quiet)
  done
}

# The installed binary, from the root: list, check --installed, and the
# kernel hook the root has (Debian's postinst.d hook, else the systemd
# kernel-install plugin), as the package manager calls it.
run_installed() {
  local root=$1 kernel release rc
  "$root/usr/bin/scxpack" --version
  "$root/usr/bin/scxpack-relay" --version
  "$root/usr/bin/scxpack" list --root "$root"
  [ ${#kernels[@]} -gt 0 ] || return 0
  "$root/usr/bin/scxpack" check --installed --root "$root" --no-cache --kernel "${kernels[@]}"
  for kernel in "${kernels[@]}"; do
    release=$(basename "$(dirname "$kernel")")
    rc=0
    echo "hook $release:"
    if [ -e "$root/etc/kernel/postinst.d/scxpack" ]; then
      PATH="$root/usr/bin:$PATH" SCXPACK_ROOT="$root" \
        "$root/etc/kernel/postinst.d/scxpack" "$release" "$kernel" || rc=$?
    else
      PATH="$root/usr/bin:$PATH" SCXPACK_ROOT="$root" \
        "$root/usr/lib/kernel/install.d/50-scxpack.install" add "$release" \
        "$root/boot/$release" "$kernel" || rc=$?
    fi
    echo "hook exit $rc"
  done
}

work=$(mktemp -d "${TMPDIR:-/tmp}/scxpack-packages.XXXXXX")
trap 'rm -rf "$work"' EXIT
vendor=$(vendor_crates)
# The build tree has no .git: --version names the checkout's commit.
commit=$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
for format in $formats; do
  tree="$work/$format/scxpack-$version"
  make_tree "$tree" "$vendor"
  case $format in
  deb)
    timed deb-build build_deb "$tree"
    timed deb-lintian lint_debs
    install_debs "$out/root"
    run_installed "$out/root"
    ;;
  rpm)
    timed rpm-build build_rpm "$tree"
    unpack_rpms "$out/rpmroot"
    run_installed "$out/rpmroot"
    ;;
  *) die "unknown format $format (deb, rpm)" ;;
  esac
done
for f in "$out"/*.deb "$out"/rpmbuild/RPMS/*/*.rpm; do
  [ -e "$f" ] || continue
  case $f in
  *.deb) echo "installed-size $(basename "$f") $(dpkg-deb -f "$f" Installed-Size) KiB" ;;
  *.rpm) echo "installed-size $(basename "$f") $(( $(rpm -qp --qf '%{SIZE}' "$f" 2>/dev/null) / 1024 )) KiB" ;;
  esac
  echo "file-size $(basename "$f") $(( $(stat -c %s "$f") / 1024 )) KiB"
done >>"$timings"
cat "$timings"
