#!/bin/bash
# kmsfs side by side with plain ext4, gocryptfs and securefs: the workloads of
# issue 6 and kmsfs's own (open+read of many small files with the audit on, as
# root and as another allowed user; a git-status-like stat storm). Targets are
# interleaved within each repetition; prints medians, min-max and ratios.
# kmsfs alone also gets the small-file reads again with every audit record
# fsync'd before the reply (--audit-sync always) and without audit records (a
# build with the feature bench-no-audit, made for this and for nothing else),
# and the daemon's resident size with 1,000 files held open. At the end the
# run's audit records are checked: one Decrypt per open of the other user,
# and the trail (rolled, with a signed digest) verifies.
#
# Usage (as root): bench/compare.sh [--quick] [--reps N] [--size-mib N]
#     [--files N] [--runtime S] [--workdir DIR] [--targets "plain kmsfs gocryptfs securefs"]
#     [--kmsfs PATH [--kmsfs-no-audit PATH]] [--chunk-size BYTES] [--cipher NAME] [--scaling]
# --quick: 128 MiB files, 2,000 small files, 5 s fio runs, 1 repetition.
# --scaling: instead of the table's workloads, how cost grows with threads
# (random 4 KiB reads and writes by 1, 2, 4 fio jobs) and file size (reading
# up to 64 MiB as files of 1 KiB to 64 MiB, at most --files of them, cold).
# The work directory (default /var/tmp/kmsfs-bench) must be on the disk to
# measure; every target gets a fresh backing directory there each repetition.
set -euo pipefail

reps=3 size_mib=1024 files=10000 runtime=15
workdir=/var/tmp/kmsfs-bench
targets="plain kmsfs gocryptfs securefs"
kmsfs_bin="" no_audit_bin="" chunk_size="" cipher="" workloads=run_workloads
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) reps=1 size_mib=128 files=2000 runtime=5 ;;
        --reps) reps=$2; shift ;;
        --size-mib) size_mib=$2; shift ;;
        --files) files=$2; shift ;;
        --runtime) runtime=$2; shift ;;
        --workdir) workdir=$2; shift ;;
        --targets) targets=$2; shift ;;
        --kmsfs) kmsfs_bin=$2; shift ;;
        --kmsfs-no-audit) no_audit_bin=$2; shift ;;
        --chunk-size) chunk_size=$2; shift ;;
        --cipher) cipher=$2; shift ;;
        --scaling) workloads=run_scaling ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

die() { echo "compare.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (mounts, drop_caches, another user)"
[ -e /dev/fuse ] || die "no /dev/fuse"
repo=$(cd "$(dirname "$0")/.." && pwd)
other_uid=65534   # nobody: the second allowed user
# The system Python, which every user may run (not a per-user shim).
py=/usr/bin/python3

# --- tools -----------------------------------------------------------------
missing=""
for tool in fio gocryptfs securefs; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "== installing$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null ||
        echo "compare.sh: could not install$missing; those targets are skipped" >&2
fi
available=""
for t in $targets; do
    case $t in
        plain|kmsfs) available="$available $t" ;;
        gocryptfs|securefs) command -v "$t" >/dev/null && available="$available $t" ||
            echo "compare.sh: $t not installed, skipped" >&2 ;;
        *) die "unknown target $t" ;;
    esac
done
targets=$available
command -v fio >/dev/null || die "fio is needed"
if [ -z "$kmsfs_bin" ]; then
    echo "== building kmsfs (release), and a build that writes no audit records"
    (cd "$repo" && cargo build --release -q --bin kmsfs --features bench-no-audit &&
        cp target/release/kmsfs target/release/kmsfs-no-audit &&
        cargo build --release -q --bin kmsfs)
    kmsfs_bin=$repo/target/release/kmsfs
    no_audit_bin=$repo/target/release/kmsfs-no-audit
fi
kmsfs_bin=$(realpath "$kmsfs_bin")
[ -z "$no_audit_bin" ] || no_audit_bin=$(realpath "$no_audit_bin")

# --- work area -------------------------------------------------------------
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
results=$workdir/results.tsv
: > "$results"
tarball=$workdir/include.tar
[ -f "$tarball" ] || tar -C /usr -cf "$tarball" include
export KMSFS_VAULT=$workdir/kms/vault.db
if [ ! -f "$KMSFS_VAULT" ]; then
    mkdir -p "$workdir/kms"
    "$kmsfs_bin" init >/dev/null
    "$kmsfs_bin" key create --alias alias/bench >/dev/null
    "$kmsfs_bin" policy add-user --key-id alias/bench user:nobody >/dev/null
fi
passfile=$workdir/peer.pass
echo "bench-password-not-secret" > "$passfile"
chmod 600 "$passfile"

mnt=$workdir/mnt
backing=$workdir/backing
mounted=""
unmount_target() {
    [ -n "$mounted" ] || return 0
    case $mounted in
        kmsfs) "$kmsfs_bin" umount "$mnt" || "$kmsfs_bin" umount --lazy "$mnt" ;;
        gocryptfs|securefs) umount "$mnt" 2>/dev/null || umount -l "$mnt" ;;
    esac
    mounted=""
    # Daemons that exit after the unmount must not hold the next mount point.
    for _ in $(seq 50); do grep -q " $mnt " /proc/self/mountinfo || break; sleep 0.1; done
}
trap 'unmount_target' EXIT

# Makes a fresh backing directory for target $1 and mounts it on $mnt.
mount_target() {
    unmount_target
    rm -rf "$backing" "$mnt"
    mkdir -p "$backing" "$mnt"
    case $1 in
        plain) rmdir "$mnt"; ln -s "$backing" "$mnt" ;;
        kmsfs)
            local flags=()
            [ -n "$chunk_size" ] && flags+=(--chunk-size "$chunk_size")
            [ -n "$cipher" ] && flags+=(--cipher "$cipher")
            "$kmsfs_bin" volume create "$backing" --key-id alias/bench "${flags[@]}" >/dev/null
            "$kmsfs_bin" mount "$backing" "$mnt" ;;
        gocryptfs)
            gocryptfs -q -init -passfile "$passfile" "$backing" >/dev/null
            gocryptfs -q -allow_other -passfile "$passfile" "$backing" "$mnt" ;;
        securefs)
            securefs create --pass "$(cat "$passfile")" "$backing" >/dev/null
            securefs mount -b --pass "$(cat "$passfile")" -o allow_other "$backing" "$mnt" \
                >/dev/null 2>&1
            for _ in $(seq 100); do grep -q " $mnt " /proc/self/mountinfo && break; sleep 0.1; done ;;
    esac
    [ "$1" = plain ] || mounted=$1
    chmod 1777 "$mnt"
}

# Mounts the current kmsfs backing directory again, with the mount flags "$@".
remount_kmsfs() {
    unmount_target
    "$kmsfs_bin" mount "$@" "$backing" "$mnt"
    mounted=kmsfs
}

# The pid of the kmsfs daemon serving $mnt. The daemon of the previous mount
# may still be exiting: the newest (highest pid) with a VmRSS left is the one.
kmsfs_daemon_pid() {
    local p found=""
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$kmsfs_bin" ] || continue
        grep -q '^VmRSS:' "$p/status" 2>/dev/null || continue
        tr '\0' '\n' < "$p/cmdline" 2>/dev/null | grep -qxF "$mnt" || continue
        [ -z "$found" ] || [ "${p#/proc/}" -gt "$found" ] && found=${p#/proc/}
    done
    [ -n "$found" ] || die "no kmsfs daemon serves $mnt"
    echo "$found"
}

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$rep" "$target" "$1" "$2" "$3" >> "$results"; }
# Runs a command, records its wall time in seconds as workload $1.
timed() {
    local name=$1; shift
    local start; start=$(now)
    "$@"
    record "$name" "$(echo "$(now) - $start" | bc -l)" s
}
as_other() { setpriv --reuid=$other_uid --regid=$other_uid --clear-groups "$@"; }

# fio; prints MB/s (1e6) or IOPS of the single job.
fio_run() {
    local what=$1; shift
    fio --name=bench --filename="$mnt/data.bin" --size="${size_mib}M" \
        --ioengine=psync --output-format=json "$@" 2>/dev/null |
        "$py" -c '
import json, sys
job = json.load(sys.stdin)["jobs"][0]
side = job["write"] if job["write"]["io_bytes"] else job["read"]
print(side["bw_bytes"] / 1e6 if sys.argv[1] == "MB/s" else side["iops"])' "$what"
}

# Small helpers in Python: loops of system calls without a fork per file.
py_create_stat_unlink='
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.mkdir(d)
names = [os.path.join(d, "f%05d" % i) for i in range(n)]
for p in names: os.close(os.open(p, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
for p in names: os.stat(p)
for p in names: os.unlink(p)
os.rmdir(d)'
py_make_small='
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
body = os.urandom(1024)
for i in range(n):
    sub = os.path.join(d, "d%03d" % (i // 100))
    if i % 100 == 0: os.makedirs(sub, mode=0o755)
    with open(os.path.join(sub, "f%03d" % (i % 100)), "wb") as f: f.write(body)'
py_read_small='
import os, sys
for top, _, names in os.walk(sys.argv[1]):
    for n in names:
        fd = os.open(os.path.join(top, n), os.O_RDONLY)
        while os.read(fd, 65536): pass
        os.close(fd)'
# Holds the first N files under a directory open (one byte read from each),
# then prints the VmRSS of process PID in MiB.
py_rss_open='
import os, sys
d, n, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
paths = sorted(os.path.join(t, f) for t, _, fs in os.walk(d) for f in fs)[:n]
if len(paths) < n: sys.exit(f"only {len(paths)} files under {d}, {n} wanted")
fds = [os.open(p, os.O_RDONLY) for p in paths]
for fd in fds: os.read(fd, 1)
rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:")][0].split()[1]
print(int(rss) / 1024)
for fd in fds: os.close(fd)'
# git status: lstat of every tracked path, with the tree already in the cache.
py_stat_storm='
import os, sys
paths = [os.path.join(t, n) for t, ds, ns in os.walk(sys.argv[1]) for n in ns + ds]
for _ in range(int(sys.argv[2])):
    for p in paths: os.lstat(p)'

run_workloads() {
    # Sequential and random I/O on one file.
    drop_caches
    record seq_write "$(fio_run MB/s --rw=write --bs=1M --end_fsync=1)" MB/s
    drop_caches
    record seq_read_cold "$(fio_run MB/s --rw=read --bs=1M)" MB/s
    drop_caches
    record rand_read_4k_cold "$(fio_run IOPS --rw=randread --bs=4k --runtime="$runtime" --time_based)" IOPS
    record rand_write_4k_fsync "$(fio_run IOPS --rw=randwrite --bs=4k --runtime="$runtime" --time_based --end_fsync=1)" IOPS
    rm -f "$mnt/data.bin"

    # A tree of many files.
    mkdir "$mnt/tree"
    drop_caches
    timed tar_extract tar -C "$mnt/tree" -xf "$tarball"
    drop_caches
    timed find_stat_cold sh -c "find '$mnt/tree' -printf '%s %m\n' > /dev/null"
    timed stat_storm_warm "$py" -c "$py_stat_storm" "$mnt/tree" 3
    timed rm_rf rm -rf "$mnt/tree"
    timed create_stat_unlink "$py" -c "$py_create_stat_unlink" "$mnt/empty" "$files"

    # Open+read+close of small files: the Decrypt-and-audit path of kmsfs.
    mkdir "$mnt/small"
    "$py" -c "$py_make_small" "$mnt/small" "$files"
    chmod -R a+rX "$mnt/small"
    drop_caches
    timed small_read_root "$py" -c "$py_read_small" "$mnt/small"
    drop_caches
    timed small_read_other as_other "$py" -c "$py_read_small" "$mnt/small"
    if [ "$target" = kmsfs ]; then
        # The cost of the audit records, against each one forced to disk
        # before the reply, and against a build without them (kmsfs itself
        # cannot run without its trail). Each on a fresh mount, and the
        # default and the build without records twice in turn, so that the
        # host's drift between them is seen, not taken for their difference.
        remount_kmsfs --audit-sync always
        drop_caches
        timed small_read_root_audit_always "$py" -c "$py_read_small" "$mnt/small"
        if [ -n "$no_audit_bin" ]; then
            for _ in 1 2; do
                remount_kmsfs
                drop_caches
                timed small_read_root_remounted "$py" -c "$py_read_small" "$mnt/small"
                unmount_target
                "$no_audit_bin" mount "$backing" "$mnt"
                mounted=kmsfs
                drop_caches
                timed small_read_root_no_audit "$py" -c "$py_read_small" "$mnt/small"
            done
        fi
        remount_kmsfs
        record rss_1000_open "$("$py" -c "$py_rss_open" "$mnt/small" 1000 "$(kmsfs_daemon_pid)")" MiB
    fi
    rm -rf "$mnt/small"
}

run_scaling() {
    "$py" -c "open('$mnt/data.bin', 'wb').truncate(0)"
    fio_run MB/s --rw=write --bs=1M >/dev/null
    for jobs in 1 2 4; do
        drop_caches
        record "rand_read_4k_cold_${jobs}t" "$(fio_run IOPS --rw=randread --bs=4k --numjobs="$jobs" \
            --group_reporting --runtime="$runtime" --time_based)" IOPS
        record "rand_write_4k_${jobs}t" "$(fio_run IOPS --rw=randwrite --bs=4k --numjobs="$jobs" \
            --group_reporting --runtime="$runtime" --time_based --end_fsync=1)" IOPS
    done
    rm -f "$mnt/data.bin"
    # 64 MiB of files of each size, at most --files of them.
    local size count
    for size in 1024 65536 1048576 67108864; do
        count=$(( (64 << 20) / size ))
        [ "$count" -le "$files" ] || count=$files
        mkdir "$mnt/sized"
        "$py" -c '
import os, sys
d, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = os.urandom(size)
for i in range(count):
    with open(os.path.join(d, "f%05d" % i), "wb") as f: f.write(body)' "$mnt/sized" "$size" "$count"
        drop_caches
        local start; start=$(now)
        "$py" -c "$py_read_small" "$mnt/sized"
        record "read_${count}_files_of_${size}" "$(echo "$count * $size / 1000000 / ($(now) - $start)" | bc -l)" MB/s
        rm -rf "$mnt/sized"
    done
}

echo "== kmsfs $("$kmsfs_bin" --version 2>/dev/null | head -1); $(gocryptfs -version 2>/dev/null | cut -d';' -f1); securefs $(dpkg-query -W -f='${Version}' securefs 2>/dev/null); $(fio --version)"
echo "== $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cpus, $(free -g | awk '/Mem:/ {print $2}') GiB; backing: $(df -T "$workdir" | awk 'NR==2 {print $1, $2}')"
echo "== reps=$reps size=${size_mib}MiB files=$files runtime=${runtime}s targets:$targets"
run_start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for rep in $(seq "$reps"); do
    for target in $targets; do
        echo "-- repetition $rep: $target"
        mount_target "$target"
        $workloads
        unmount_target
    done
done
rm -rf "$backing" "$mnt"

if [[ " $targets " == *" kmsfs "* ]] && [ "$workloads" = run_workloads ]; then
    # Every open of an existing file is one Decrypt request with its record:
    # the other user's opens are exactly its small-file reads.
    "$kmsfs_bin" audit lookup --event-name Decrypt --start-time "$run_start" \
        --max 1000000000 --output json | "$py" -c '
import collections, json, sys
counts = collections.Counter()
for event in json.load(sys.stdin)["Events"]:
    counts[(event["userIdentity"].get("userName"), event.get("errorCode", "allowed"))] += 1
expected = int(sys.argv[1])
other = counts[("nobody", "allowed")]
print(f"== audit: Decrypt records of this run {dict(counts)};",
      f"other user: {other} for {expected} opens", "(ok)" if other == expected else "(MISMATCH)")
sys.exit(other != expected)
' "$((reps * files))" || audit_failed=1
    # The run's records, rolled into a log file with a signed digest, verify
    # like every other part of the trail.
    "$kmsfs_bin" audit flush --digest >/dev/null
    if verified=$("$kmsfs_bin" audit verify 2>&1); then
        echo "== audit verify: $(echo "$verified" | tail -2 | paste -sd ';' -) (ok)"
    else
        echo "$verified" | grep -v ' valid$' >&2
        audit_failed=1
    fi
fi
"$py" "$repo/bench/report.py" "$results" $targets
[ -z "${audit_failed:-}" ] || die "the audit records of this run do not check out (above)"

