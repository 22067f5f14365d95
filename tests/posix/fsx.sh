#!/usr/bin/env bash
# Runs the third-party file exerciser fsx (the Rust rewrite, crates.io
# package `fsx`) on a fresh kmsfs mount and on a fresh gocryptfs mount, with
# fixed seeds and operation counts, and prints the results side by side.
# fsx applies a reproducible random sequence of reads, writes, mmap reads and
# writes, truncates (and, in the `full` set, close/reopen, msync invalidate,
# fsync, fdatasync, posix_fallocate, sendfile, posix_fadvise,
# copy_file_range) to one file and checks every byte it reads back against
# its own copy; it stops at the first difference or failed call.
# docs/POSIX.md records one run.
#
# Usage, as root with /dev/fuse:
#   tests/posix/fsx.sh [KMSFS_BINARY]         (default: target/release/kmsfs)
# Needs: fsx (PATH, or FSX=/path; `cargo install fsx`), gocryptfs and jq.
# FSX_OPS (default 3000) operations per run. Keeps fsx's logs in $POSIX_OUT
# (default: a new temporary directory). Exits 1 if kmsfs fails a run that
# gocryptfs passes, or if no run passed on kmsfs.
set -euo pipefail

kmsfs=$(realpath "${1:-target/release/kmsfs}")
fsx=${FSX:-$(command -v fsx || echo /opt/fsx/bin/fsx)}
ops=${FSX_OPS:-3000}
[ "$(id -u)" = 0 ] || { echo "fsx.sh: run as root" >&2; exit 2; }
[ -x "$fsx" ] || { echo "fsx.sh: fsx not found (cargo install fsx)" >&2; exit 2; }
command -v gocryptfs >/dev/null || { echo "fsx.sh: gocryptfs not found (apt-get install gocryptfs)" >&2; exit 2; }
command -v jq >/dev/null || { echo "fsx.sh: jq not found (apt-get install jq)" >&2; exit 2; }

# shellcheck source=tests/posix/mounts.sh
source "$(dirname "$0")/mounts.sh"

work=$(mktemp -d)
out=${POSIX_OUT:-$(mktemp -d)}
mkdir -p "$out"
chmod 755 "$work"
trap 'unmount_both; echo "logs: $out/fsx.*.log"' EXIT

# The operation sets: fsx's defaults, and every operation a Linux
# filesystem is expected to carry (hole punching is refused by both, see
# docs/POSIX.md, and would stop fsx at once).
: >"$work/classic.toml"
cat >"$work/full.toml" <<'TOML'
[weights]
close_open = 1
invalidate = 1
fsync = 1
fdatasync = 1
posix_fallocate = 1
sendfile = 1
posix_fadvise = 1
copy_file_range = 1
TOML

mount_kmsfs
mount_gocryptfs

# One run: prints "pass" or "FAIL: <fsx's first error line>".
run() { # FS SET SEED
    local log="$out/fsx.$1.$2.$3.log"
    mkdir -p "$out/artifacts.$1.$2.$3"
    if "$fsx" -q -f "$work/$2.toml" -N "$ops" -S "$3" -P "$out/artifacts.$1.$2.$3" \
        "$work/$1.mnt/fsx.$2.$3" >"$log" 2>&1; then
        echo pass
    else
        echo "FAIL: $(grep -m1 -iE 'error|fail|mismatch|panick' "$log" || tail -n1 "$log")"
    fi
}

worse=0
passed_kmsfs=0
printf '%-8s %-6s %-34s %s\n' set seed "kmsfs ($ops ops)" "gocryptfs ($ops ops)"
for set in classic full; do
    for seed in 1 2; do
        k=$(run kmsfs "$set" "$seed")
        g=$(run gocryptfs "$set" "$seed")
        printf '%-8s %-6s %-34s %s\n' "$set" "$seed" "$k" "$g"
        [ "$k" = pass ] && passed_kmsfs=$((passed_kmsfs + 1))
        if [ "$k" != pass ] && [ "$g" = pass ]; then worse=1; fi
    done
done
[ "$passed_kmsfs" -gt 0 ] && [ "$worse" = 0 ]
