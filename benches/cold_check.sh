#!/usr/bin/env bash
# Cold and warm `scxpack check` over the whole matrix, old and new code side
# by side in one run (BENCHMARKS.md, "Offline compatibility matrix").
#
#   benches/cold_check.sh [OLD_REV] [ROUNDS]
#
# OLD_REV (default: the commit before the streamed payload decode, 637c68c)
# is built in release mode from a git worktree under target/bench-old/src into
# target/bench-old/scxpack, sharing target/ so only scxpack itself compiles;
# the working tree is built into target/release/scxpack. Every round runs, in
# an order rotated per round, for each binary:
#   cold-9   check of every package × the 9 images, --no-cache (no BTF cache;
#            the page cache is left warm: dropping it needs root and would
#            slow every other user of the machine)
#   warm-9   the same with the BTF cache (primed once before the rounds)
#   cold-36  the 9 images copied 4 times under other names, each copy with
#            one byte of the boot sector's message text changed (so its
#            sha256, the cache key, differs; nothing read from it changes)
# and records wall time, CPU time (user + sys) and peak RSS (/usr/bin/time).
# Medians per binary and measurement are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD_REV=${1:-637c68c}
ROUNDS=${2:-5}
KERNELS=${SCXPACK_TEST_KERNELS:-../shared/kernels}
OLD=target/bench-old/scxpack
NEW=target/release/scxpack
WORK=$(mktemp -d /tmp/scxpack-cold-check.XXXXXX)
trap 'rm -rf "$WORK"; git worktree remove --force target/bench-old/src 2>/dev/null || true' EXIT

if [ ! -x "$OLD" ] || [ "$(cat target/bench-old/rev 2>/dev/null)" != "$(git rev-parse "$OLD_REV")" ]; then
    git worktree remove --force target/bench-old/src 2>/dev/null || true
    git worktree add --detach target/bench-old/src "$OLD_REV" >/dev/null
    CARGO_TARGET_DIR="$PWD/target" cargo build --release --locked --bin scxpack \
        --manifest-path target/bench-old/src/Cargo.toml
    cp target/release/scxpack "$OLD"
    git rev-parse "$OLD_REV" > target/bench-old/rev
fi
cargo build --release --locked --bin scxpack

for m in tests/fixtures/objects/*.manifest.json; do
    "$NEW" pack "$m" -o "$WORK/pkg-$(basename "$m" .manifest.json).scxpkg" >/dev/null
done
"$NEW" pack bpf-objects -o "$WORK/pkg-schedulers.scxpkg" >/dev/null
mkdir -p "$WORK/k9" "$WORK/k36" "$WORK/cache-bench-old" "$WORK/cache-release"
for k in "$KERNELS"/*/vmlinuz; do
    name=$(basename "$(dirname "$k")")
    ln -s "$(realpath "$k")" "$WORK/k9/$name"
    for copy in 1 2 3 4; do
        cp "$k" "$WORK/k36/$name-$copy"
        chmod u+w "$WORK/k36/$name-$copy"
        printf "\\x$copy" | dd of="$WORK/k36/$name-$copy" bs=1 seek=$((0x100)) conv=notrunc status=none
    done
done

# measure LABEL BINARY ARGS...: appends "label binary wall cpu maxrss_kib".
measure() {
    local label=$1 bin=$2; shift 2
    local out
    /usr/bin/time -o "$WORK/time" -f "%e %U %S %M" "$bin" check "$WORK"/pkg-*.scxpkg "$@" >/dev/null 2>&1 || true
    out=$(tail -1 "$WORK/time")
    awk -v l="$label" -v b="$(basename "$(dirname "$bin")")" \
        '{ printf "%s %s %.2f %.2f %d\n", l, b, $1, $2 + $3, $4 }' <<<"$out" >> "$WORK/results"
}

for bin in "$OLD" "$NEW"; do
    XDG_CACHE_HOME="$WORK/cache-$(basename "$(dirname "$bin")")" "$bin" check "$WORK"/pkg-*.scxpkg --kernel "$WORK/k9" >/dev/null || true
done
for round in $(seq 1 "$ROUNDS"); do
    order=("$OLD" "$NEW")
    [ $((round % 2)) -eq 0 ] && order=("$NEW" "$OLD")
    for bin in "${order[@]}"; do
        measure cold-9 "$bin" --kernel "$WORK/k9" --no-cache
        XDG_CACHE_HOME="$WORK/cache-$(basename "$(dirname "$bin")")" measure warm-9 "$bin" --kernel "$WORK/k9"
        measure cold-36 "$bin" --kernel "$WORK/k36" --no-cache
    done
    echo "round $round done (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done

echo "# every run: measurement binary wall_s cpu_s peak_rss_kib"
cat "$WORK/results"
echo "# medians over $ROUNDS rounds: measurement binary wall_s cpu_s peak_rss_MiB"
for m in cold-9 warm-9 cold-36; do
    for b in bench-old release; do
        awk -v m=$m -v b=$b '$1 == m && $2 == b' "$WORK/results" | sort -k1,1 > "$WORK/sel"
        med() { cut -d' ' -f"$1" "$WORK/sel" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
        printf "%s %s %s %s %.1f\n" "$m" "$b" "$(med 3)" "$(med 4)" "$(echo "$(med 5) / 1024" | bc -l)"
    done
done
