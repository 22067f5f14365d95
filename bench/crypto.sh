#!/bin/sh
# The crypto core's throughput (criterion, benches/crypto.rs) beside
# `openssl speed` on the same machine, the ceiling for an AEAD in software,
# and each chunk case's ratio to openssl at the same size.
# Usage: bench/crypto.sh [--quick] [criterion filter]
# --quick measures each case for 1 s instead of criterion's default 5 s.
# Last, the target case (AES-256-GCM at 64 KiB) head to head: openssl and the
# crypto core's seal and open alternate 3 times, 1 s each, each round's ratio printed.
# Both sides are rates per CPU-second (the bench thread's CPU time; openssl
# speed's user CPU time, its default), so that other jobs on a shared machine
# do not skew the ratio the way wall-clock rates would.
set -eu
cd "$(dirname "$0")/.."

criterion_args=""
if [ "${1:-}" = "--quick" ]; then
    criterion_args="--warm-up-time 1 --measurement-time 1"
    shift
fi
rates=$(mktemp)
trap 'rm -f "$rates"' EXIT

echo "== machine"
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'
echo "cpus: $(nproc); AES-NI: $(grep -qw aes /proc/cpuinfo && echo yes || echo no);" \
     "PCLMULQDQ: $(grep -qw pclmulqdq /proc/cpuinfo && echo yes || echo no);" \
     "VAES: $(grep -qw vaes /proc/cpuinfo && echo yes || echo no);" \
     "load: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== kmsfs crypto core (criterion, median, MiB per CPU-second)"
# shellcheck disable=SC2086 # criterion_args is a list of words
# Criterion's output on stdin as "name MiB/s" lines.
criterion_rates() {
    awk '/^(chunk|object)\// { name = $1 }
         /thrpt:/ && $4 !~ /%/ { v = $4; u = $5
             if (u ~ /^GiB/) v *= 1024; else if (u ~ /^KiB/) v /= 1024; else if (u ~ /^B\//) v /= 1048576
             printf "%s %.1f\n", name, v }'
}
# openssl's rate of cipher $1 on $2-byte blocks for $3 seconds, MiB per CPU-second.
openssl_rate() {
    openssl speed -seconds "$3" -bytes "$2" -evp "$1" 2>/dev/null | tail -1 |
        awk '{ kb = $NF; sub(/k$/, "", kb); printf "%.1f\n", kb * 1000 / 1048576 }'
}
cargo bench --bench crypto -- $criterion_args "$@" 2>/dev/null | criterion_rates >> "$rates"
awk '{ printf "%-44s %10.1f MiB/s\n", $1, $2 }' "$rates"

echo "== ceiling: $(openssl version), openssl speed (MiB per CPU-second)"
for cipher in aes-256-gcm chacha20-poly1305; do
    for bytes in 4096 65536 1048576; do
        echo "openssl/$cipher/$bytes $(openssl_rate "$cipher" "$bytes" 2)"
    done
done | tee -a "$rates" | awk '{ printf "%-44s %10.1f MiB/s\n", $1, $2 }'

echo "== kmsfs / openssl (same cipher family, same size)"
# XChaCha20-Poly1305 is compared with openssl's ChaCha20-Poly1305 (openssl has no XChaCha).
awk '{ rate[$1] = $2; order[n++] = $1 }
     END { for (i = 0; i < n; i++) { name = order[i]
         if (split(name, p, "/") != 4 || p[1] != "chunk") continue
         c = p[2] == "xchacha20-poly1305" ? "chacha20-poly1305" : p[2]
         ceiling = rate["openssl/" c "/" p[4]]
         if (ceiling > 0) printf "%-44s %9.0f %%\n", name, 100 * rate[name] / ceiling } }' "$rates"

echo "== head to head, AES-256-GCM at 64 KiB (MiB/s; crypto core / openssl)"
for round in 1 2 3; do
    ceiling=$(openssl_rate aes-256-gcm 65536 1)
    cargo bench --bench crypto -- --warm-up-time 1 --measurement-time 1 \
        '^chunk/aes-256-gcm/(seal|open)/65536$' 2>/dev/null | criterion_rates |
        awk -v r="$round" -v c="$ceiling" '{ printf "round %s: %-32s %8.1f vs openssl %8.1f: %4.0f %%\n",
            r, $1, $2, c, 100 * $2 / c }'
done
