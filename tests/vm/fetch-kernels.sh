#!/usr/bin/env bash
# Fetch Debian kernel images into the layout the VM harness reads:
#   <outdir>/<version>/vmlinuz   (+ <outdir>/<version>/config when the package has one)
#   <outdir>/SHA256SUMS
#
# Uses apt-get with a PRIVATE configuration (its own sources.list, state and
# cache under --cache): the system's apt configuration is read, never changed.
# The mirror is derived from the system's apt sources unless --mirror is given.
# See tests/vm/README.md.
set -euo pipefail

prog=${0##*/}
outdir=./kernels
cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/scxpack/apt
suites="trixie trixie-backports sid"
mirror=""
keyring=""
arch=amd64
update=1
download_only=0
print_mirror=0
# Where the system apt configuration is read from (tests point it elsewhere).
apt_etc=${SCXPACK_APT_ETC:-/etc/apt}

usage() {
    cat <<EOF
usage: $prog [options] PACKAGE-OR-VERSION...

Download Debian kernel packages and extract vmlinuz (and config) as
OUTDIR/VERSION/vmlinuz. Arguments are package names
(linux-image-6.16.3+deb13-amd64) or versions (6.16.3+deb13, which tries
linux-binary-VERSION-$arch, linux-image-VERSION-$arch, then its -unsigned
variant; for linux-image-X, linux-binary-X is tried first).

options:
  -o, --outdir DIR     where kernels go (default: $outdir)
      --cache DIR      private apt state, cache and downloaded .debs
                       (default: $cache)
      --suites "S..."  suites to add (default: "$suites")
      --mirror URI     Debian mirror URI (default: derived from the system's
                       apt sources, e.g. the URI of its bookworm entry)
      --keyring FILE   archive keyring (default: the system entry's Signed-By,
                       else apt's trusted keys)
      --arch ARCH      package architecture (default: $arch)
      --no-update      reuse the private package lists from an earlier run
      --download-only  print each downloaded .deb's path instead of extracting
                       a kernel (any package, e.g. linux-source-7.2)
      --print-mirror   print the mirror URI and keyring (tab-separated) it
                       would use, and exit (tests/vm/debian-rootfs.sh reads it)
  -h, --help           this text
EOF
}

die() {
    echo "$prog: $*" >&2
    exit 1
}

need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found: install it with apt-get install $2"
}

parse_args() {
    args=()
    while [ $# -gt 0 ]; do
        case $1 in
            -o | --outdir) outdir=${2:?$1 needs a value}; shift 2 ;;
            --cache) cache=${2:?$1 needs a value}; shift 2 ;;
            --suites) suites=${2:?$1 needs a value}; shift 2 ;;
            --mirror) mirror=${2:?$1 needs a value}; shift 2 ;;
            --keyring) keyring=${2:?$1 needs a value}; shift 2 ;;
            --arch) arch=${2:?$1 needs a value}; shift 2 ;;
            --no-update) update=0; shift ;;
            --download-only) download_only=1; shift ;;
            --print-mirror) print_mirror=1; shift ;;
            -h | --help) usage; exit 0 ;;
            --) shift; args+=("$@"); break ;;
            -*) die "unknown option $1 (see --help)" ;;
            *) args+=("$1"); shift ;;
        esac
    done
    [ ${#args[@]} -gt 0 ] || [ "$print_mirror" = 1 ] || { usage >&2; exit 2; }
}

# Prints "URI<TAB>SUITE<TAB>SIGNED-BY" for every enabled deb source of the
# system: one-line .list files and deb822 .sources files.
system_sources() {
    local f
    for f in "$apt_etc/sources.list" "$apt_etc"/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk '
            $1 != "deb" { next }
            {
                i = 2; signed = ""
                if ($2 ~ /^\[/) {
                    while (i <= NF) {
                        if ($i ~ /^\[?signed-by=/) { signed = $i; sub(/^\[?signed-by=/, "", signed); sub(/\]$/, "", signed) }
                        if ($i ~ /\]$/) { i++; break }
                        i++
                    }
                }
                print $i "\t" $(i + 1) "\t" signed
            }' "$f"
    done
    for f in "$apt_etc"/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no")
                    for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++) print uris[u] "\t" suit[s] "\t" signed
                types = ""; enabled = ""; signed = ""; nu = 0; ns = 0
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                key = tolower($1); sub(/:$/, "", key)
                if (key == "types") { types = ""; for (i = 2; i <= NF; i++) types = types " " $i; types = types " " }
                else if (key == "uris") { for (i = 2; i <= NF; i++) uris[++nu] = $i }
                else if (key == "suites") { for (i = 2; i <= NF; i++) suit[++ns] = $i }
                else if (key == "enabled") enabled = tolower($2)
                else if (key == "signed-by" && NF >= 2 && $2 ~ /^\//) signed = $2
            }
            END { flush() }' "$f"
    done
}

# The first system source that serves the Debian archive proper (a Debian
# suite name, not the security archive): sets mirror and keyring if unset.
derive_mirror() {
    local uri suite signed base
    while IFS=$'\t' read -r uri suite signed; do
        base=${suite%-updates}
        base=${base%-backports}
        base=${base%-proposed-updates}
        case $base in
            buster | bullseye | bookworm | trixie | forky | duke | sid | \
            oldoldstable | oldstable | stable | testing | unstable) ;;
            *) continue ;;
        esac
        case $uri in *security*) continue ;; esac
        [ -n "$mirror" ] || mirror=$uri
        [ -n "$keyring" ] || keyring=$signed
        return 0
    done < <(system_sources)
    die "no Debian archive entry in $apt_etc/sources.list{,.d/*.list,.d/*.sources}: pass --mirror URI"
}

setup_private_apt() {
    mkdir -p "$cache/etc/sources.list.d" "$cache/etc/preferences.d" \
        "$cache/state/lists/partial" "$cache/cache/archives/partial" "$cache/debs"
    : >"$cache/state/status"
    local opts="" suite
    [ -n "$keyring" ] && opts="[signed-by=$keyring] "
    {
        echo "# written by $prog: private to scxpack, not the system's"
        for suite in $suites; do
            echo "deb ${opts}${mirror%/} $suite main"
        done
    } >"$cache/etc/sources.list"
    apt_opts=(
        -o "Dir::Etc::sourcelist=$cache/etc/sources.list"
        -o "Dir::Etc::sourceparts=$cache/etc/sources.list.d"
        -o "Dir::Etc::preferences=$cache/etc/preferences"
        -o "Dir::Etc::preferencesparts=$cache/etc/preferences.d"
        -o "Dir::State=$cache/state"
        -o "Dir::State::status=$cache/state/status"
        -o "Dir::Cache=$cache/cache"
        -o "APT::Architecture=$arch"
        -o "APT::Architectures=$arch"
        -o "Acquire::Languages=none"
    )
    # As root, apt drops to _apt for downloads, which cannot enter a private
    # cache under /root: stay root rather than warn on every file.
    [ "$(id -u)" = 0 ] && apt_opts+=(-o "APT::Sandbox::User=root")
    if [ "$update" = 1 ]; then
        echo "$prog: updating private package lists ($suites from $mirror)" >&2
        apt-get "${apt_opts[@]}" -q update >&2 ||
            die "apt-get update failed (a missing key? install a newer debian-archive-keyring or pass --keyring)"
    fi
}

# Whether PACKAGE has a download candidate in the private lists.
has_candidate() {
    local policy
    policy=$(apt-cache "${apt_opts[@]}" policy "$1" 2>/dev/null) || return 1
    grep -q 'Candidate: [^(]' <<<"$policy"
}

# Maps a version or package name to a package with a candidate. Since 6.19
# Debian's linux-image-* is a small package depending on linux-binary-* (the
# kernel image alone, ~14 MB) and linux-modules-*: linux-binary-* is preferred,
# older releases ship everything in linux-image-* (~170 MB).
resolve() {
    local arg=$1 cand
    local -a cands
    # --download-only takes any package by its own name (busybox-static).
    if [ "$download_only" = 1 ] && has_candidate "$arg"; then
        echo "$arg"
        return 0
    fi
    case $arg in
        linux-image-*) cands=("linux-binary-${arg#linux-image-}" "$arg") ;;
        linux-*) cands=("$arg") ;;
        *-"$arch") cands=("linux-binary-$arg" "linux-image-$arg" "linux-image-$arg-unsigned") ;;
        *) cands=("linux-binary-$arg-$arch" "linux-image-$arg-$arch" "linux-image-$arg-$arch-unsigned") ;;
    esac
    for cand in "${cands[@]}"; do
        if has_candidate "$cand"; then
            echo "$cand"
            return 0
        fi
    done
    die "no package for '$arg' in $suites (tried: ${cands[*]})"
}

# Downloads PACKAGE into the cache (once) and prints the .deb path.
download() {
    local pkg=$1 deb
    deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
    if [ -z "$deb" ]; then
        (cd "$cache/debs" && apt-get "${apt_opts[@]}" -q download "$pkg" >&2) ||
            die "apt-get download $pkg failed"
        deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
    fi
    [ -n "$deb" ] || die "apt-get download $pkg left no .deb in $cache/debs"
    echo "$deb"
}

# Extracts vmlinuz (and config) from DEB into OUTDIR/<version>/. The image is
# boot/vmlinuz-KVER (up to 6.18) or usr/lib/modules/KVER/vmlinuz (linux-binary-*
# since 6.19); <version> is KVER without the -ARCH suffix (6.16.3+deb13).
extract() {
    local deb=$1 pkg=$2 members kernel config name kver version tmp
    members=$(dpkg-deb --fsys-tarfile "$deb" | tar -t)
    kernel=$(grep -E '^(\./)?boot/vmlinuz-[^/]+$' <<<"$members" | head -n1 || true)
    [ -n "$kernel" ] || kernel=$(grep -E '^(\./)?(usr/)?lib/modules/[^/]+/vmlinuz$' <<<"$members" | head -n1 || true)
    [ -n "$kernel" ] || kernel=$(grep -E '(^|/)vmlinuz(-[^/]*)?$' <<<"$members" | head -n1 || true)
    [ -n "$kernel" ] || die "$pkg has no vmlinuz (is it a kernel image package? try linux-binary-VERSION-$arch or linux-image-VERSION-$arch)"
    name=${kernel##*/}
    if [ "$name" = vmlinuz ]; then
        kver=${kernel%/vmlinuz}
        kver=${kver##*/}
    else
        kver=${name#vmlinuz-}
    fi
    version=${kver%-"$arch"}
    case $version in "" | . | ./) version=$(dpkg-deb -f "$deb" Version) ;; esac
    config=$(grep -Fx -e "./boot/config-$kver" -e "boot/config-$kver" \
        -e "./usr/lib/modules/$kver/config" -e "usr/lib/modules/$kver/config" \
        -e "./lib/modules/$kver/config" <<<"$members" | head -n1 || true)
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" RETURN
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "$kernel" ${config:+"$config"}
    mkdir -p "$outdir/$version"
    install -m 0644 "$tmp/$kernel" "$outdir/$version/vmlinuz"
    [ -z "$config" ] || install -m 0644 "$tmp/$config" "$outdir/$version/config"
    echo "$prog: $pkg -> $outdir/$version/vmlinuz${config:+ (+ config)}" >&2
}

write_sums() {
    (cd "$outdir" && find . -mindepth 2 -maxdepth 2 -name vmlinuz -printf '%P\n' | sort |
        xargs -r sha256sum >SHA256SUMS)
}

main() {
    parse_args "$@"
    if [ "$print_mirror" = 1 ]; then
        [ -n "$mirror" ] || derive_mirror
        printf '%s\t%s\n' "$mirror" "$keyring"
        return 0
    fi
    need apt-get apt
    need dpkg-deb dpkg
    need tar tar
    need sha256sum coreutils
    [ -n "$mirror" ] || derive_mirror
    setup_private_apt
    [ "$download_only" = 1 ] || mkdir -p "$outdir"
    local arg pkg deb
    for arg in "${args[@]}"; do
        pkg=$(resolve "$arg")
        deb=$(download "$pkg")
        if [ "$download_only" = 1 ]; then
            echo "$deb"
            continue
        fi
        extract "$deb" "$pkg"
    done
    [ "$download_only" = 1 ] && return 0
    write_sums
    echo "$prog: wrote $outdir/SHA256SUMS" >&2
}

main "$@"
