#!/usr/bin/env bash
# Runs the third-party POSIX suite pjdfstest (the Rust rewrite, crates.io
# package `pjdfstest`) on a fresh kmsfs mount and on a fresh gocryptfs mount,
# and prints pass/fail/skip counts per suite (per syscall) side by side.
# docs/POSIX.md records one run and explains each kmsfs failure.
#
# Usage, as root with /dev/fuse:
#   tests/posix/run.sh [KMSFS_BINARY]        (default: target/release/kmsfs)
# Needs: pjdfstest (PATH, or PJDFSTEST=/path; `cargo install pjdfstest` needs
# libacl1-dev), gocryptfs and jq (apt-get install gocryptfs jq). Creates the system user
# and group `tests` if missing (pjdfstest switches to nobody and tests).
# Keeps its logs in $POSIX_OUT (default: a new temporary directory). Exits 1
# if kmsfs fails more cases than gocryptfs, or ran none.
set -euo pipefail

kmsfs=$(realpath "${1:-target/release/kmsfs}")
pjdfstest=${PJDFSTEST:-$(command -v pjdfstest || echo /opt/pjdfstest/bin/pjdfstest)}
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root" >&2; exit 2; }
[ -x "$pjdfstest" ] || { echo "run.sh: pjdfstest not found (cargo install pjdfstest)" >&2; exit 2; }
command -v gocryptfs >/dev/null || { echo "run.sh: gocryptfs not found (apt-get install gocryptfs)" >&2; exit 2; }
command -v jq >/dev/null || { echo "run.sh: jq not found (apt-get install jq)" >&2; exit 2; }
getent group tests >/dev/null || groupadd --system tests
getent passwd tests >/dev/null || useradd --system --gid tests --no-create-home --shell /usr/sbin/nologin tests
nobody_group=$(id -gn nobody)

# shellcheck source=tests/posix/mounts.sh
source "$(dirname "$0")/mounts.sh"

work=$(mktemp -d)
out=${POSIX_OUT:-$(mktemp -d)}
mkdir -p "$out"
chmod 755 "$work" # the suite's other users must reach the mount points
cleanup() {
    unmount_both
    echo "logs: $out/kmsfs.log $out/gocryptfs.log"
}
trap cleanup EXIT

cat >"$work/pjdfstest.toml" <<EOF
[features]
posix_fallocate = {}
rename_ctime = {}
utime_now = {}
utimensat = {}

[settings]
naptime = 0.01
allow_remount = false

[dummy_auth]
entries = [["nobody", "$nobody_group"], ["tests", "tests"]]
EOF

mount_kmsfs
mount_gocryptfs

# The EXDEV cases need a directory on another filesystem.
mkdir "$work/secondary"
chmod 777 "$work/secondary"

for fs in kmsfs gocryptfs; do
    mkdir "$work/$fs.mnt/pjd"
    chmod 777 "$work/$fs.mnt/pjd"
    # pjdfstest exits non-zero when a case fails: the counts are the result.
    (cd "$work/$fs.mnt/pjd" && NO_COLOR=1 "$pjdfstest" -c "$work/pjdfstest.toml" \
        -p "$work/$fs.mnt/pjd" -s "$work/secondary" >"$out/$fs.log" 2>&1) || true
done

# Per-suite counts: lines "suite::case ... ok|FAILED|skipped".
count() { # FS SUITE RESULT
    grep -cE "^$2::[^ ]* +$3\$" "$out/$1.log" || true
}
suites=$(grep -oE '^[a-z_0-9]+::' "$out/kmsfs.log" "$out/gocryptfs.log" | cut -d: -f2 | sort -u)
printf '%-18s %24s %24s\n' suite "kmsfs pass/fail/skip" "gocryptfs pass/fail/skip"
for s in $suites total; do
    pattern=$s
    [ "$s" = total ] && pattern='[a-z_0-9]+'
    row=()
    for fs in kmsfs gocryptfs; do
        row+=("$(count $fs "$pattern" ok)/$(count $fs "$pattern" FAILED)/$(count $fs "$pattern" skipped)")
    done
    printf '%-18s %24s %24s\n' "$s" "${row[0]}" "${row[1]}"
done
echo "kmsfs failures:"
grep -E ' FAILED$' "$out/kmsfs.log" | awk '{print "  " $1}' || true
echo "gocryptfs failures:"
grep -E ' FAILED$' "$out/gocryptfs.log" | awk '{print "  " $1}' || true
failed_kmsfs=$(count kmsfs '[a-z_0-9]+' FAILED)
failed_gocryptfs=$(count gocryptfs '[a-z_0-9]+' FAILED)
passed_kmsfs=$(count kmsfs '[a-z_0-9]+' ok)
[ "$passed_kmsfs" -gt 0 ] && [ "$failed_kmsfs" -le "$failed_gocryptfs" ]
