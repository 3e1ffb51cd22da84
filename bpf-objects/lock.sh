#!/bin/sh
# Write the lock file of a set of BPF objects (bpf-objects/objects.lock,
# tests/fixtures/objects/objects.lock). Called by the Makefiles:
#
#   lock.sh ROOT OUT LOCK CLANG CFLAGS STRIP SPEC...
#
# SPEC is "OBJECT|SOURCE|DEFINES": OBJECT relative to OUT, SOURCE relative to
# ROOT, DEFINES the object's extra compiler flags. The inputs of an object are
# the files the preprocessor opens for it (clang -M), which must all be inside
# ROOT. Output is deterministic: no time stamps, no absolute paths, fixed
# order. Format: see bpf-objects/README.md ("objects.lock").
set -eu

root=$1 out=$2 lock=$3 clang=$4 cflags=$5 strip=$6
shift 6

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { wc -c < "$1" | tr -d ' '; }

compiler=$("$clang" --version | head -n 1)
strip_tool=${strip%% *}
strip_version=$("$strip_tool" --version | sed -n 's/^.*LLVM version /LLVM /p' | head -n 1)
# Show the flags without the checkout path.
shown_cflags=$(printf '%s' "$cflags" | sed "s|$root|<repo>|g")

tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.deps"' EXIT

{
	printf '{\n'
	printf '  "format": "scxpack-objects-lock/1",\n'
	printf '  "compiler": "%s",\n' "$compiler"
	printf '  "cflags": "%s",\n' "$shown_cflags"
	printf '  "strip": "%s (%s)",\n' "$strip" "$strip_version"
	printf '  "objects": [\n'
	first=1
	for spec in "$@"; do
		obj=${spec%%|*}
		rest=${spec#*|}
		src=${rest%%|*}
		defines=${rest#*|}
		if [ ! -f "$out/$obj" ]; then
			echo "lock.sh: missing object $out/$obj" >&2
			exit 1
		fi
		# shellcheck disable=SC2086 # flags are word lists on purpose
		"$clang" $cflags $defines -M -MT x "$root/$src" > "$tmp.deps"
		tr '\\' ' ' < "$tmp.deps" | tr ' ' '\n' | sed '/^$/d; /^x:$/d' | while read -r dep; do
			case $dep in
			"$root"/*) printf '%s\n' "${dep#"$root"/}" ;;
			*) echo "lock.sh: $src includes $dep, outside the repository" >&2; exit 1 ;;
			esac
		done | LC_ALL=C sort -u > "$tmp"
		[ $first = 1 ] || printf '    },\n'
		first=0
		printf '    {\n'
		printf '      "object": "%s",\n' "$obj"
		printf '      "sha256": "%s",\n' "$(sha "$out/$obj")"
		printf '      "size": %s,\n' "$(size "$out/$obj")"
		printf '      "source": "%s",\n' "$src"
		printf '      "defines": "%s",\n' "$defines"
		printf '      "inputs": [\n'
		n=$(wc -l < "$tmp" | tr -d ' ')
		i=0
		while read -r input; do
			i=$((i + 1))
			sep=,
			[ $i = "$n" ] && sep=
			printf '        { "path": "%s", "sha256": "%s" }%s\n' "$input" "$(sha "$root/$input")" "$sep"
		done < "$tmp"
		printf '      ]\n'
	done
	[ $first = 1 ] || printf '    }\n'
	printf '  ]\n'
	printf '}\n'
} > "$lock.new"
mv "$lock.new" "$lock"
