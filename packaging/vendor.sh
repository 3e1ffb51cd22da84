# Sourced by packaging/build-packages.sh and packaging/cross-arm64.sh, which
# set $repo (the checkout), $cache (SCXPACK_CACHE) and a `say` function.
#
# vendor_crates: vendors the crates of Cargo.lock once into
# $cache/vendor/KEY (KEY: the first 16 hex digits of Cargo.lock's sha256) and
# prints that directory. The only step of either script that may use the
# network.
vendor_crates() {
  local key dir
  key=$(sha256sum "$repo/Cargo.lock" | cut -c1-16)
  dir="$cache/vendor/$key"
  if [ ! -d "$dir" ]; then
    say "vendoring crates into $dir"
    mkdir -p "$cache/vendor"
    rm -rf "$dir.tmp"
    (cd "$repo" && cargo vendor --locked --versioned-dirs "$dir.tmp" >/dev/null)
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}
