#!/bin/sh
# The crypto core's throughput (criterion, benches/crypto.rs) beside
# `openssl speed` on the same machine, the ceiling for an AEAD in software,
# and each chunk case's ratio to openssl at the same size.
# Usage: bench/crypto.sh [--quick] [criterion filter]
# --quick measures each case for 1 s instead of criterion's default 5 s.
# Both sides are wall-clock rates (`openssl speed -elapsed`; without it openssl
# divides by its user CPU time, which flatters it on a loaded machine).
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

echo "== kmsfs crypto core (criterion, median, MiB/s)"
# shellcheck disable=SC2086 # criterion_args is a list of words
cargo bench --bench crypto -- $criterion_args "$@" 2>/dev/null |
    awk '/^(chunk|object)\// { name = $1 }
         /thrpt:/ && $4 !~ /%/ { v = $4; u = $5
             if (u ~ /^GiB/) v *= 1024; else if (u ~ /^KiB/) v /= 1024; else if (u ~ /^B\//) v /= 1048576
             printf "%s %.1f\n", name, v }' >> "$rates"
awk '{ printf "%-44s %10.1f MiB/s\n", $1, $2 }' "$rates"

echo "== ceiling: $(openssl version), openssl speed -elapsed"
for cipher in aes-256-gcm chacha20-poly1305; do
    for bytes in 4096 65536 1048576; do
        openssl speed -elapsed -seconds 2 -bytes "$bytes" -evp "$cipher" 2>/dev/null | tail -1 |
            awk -v c="$cipher" -v b="$bytes" '{ kb = $NF; sub(/k$/, "", kb);
                printf "openssl/%s/%s %.1f\n", c, b, kb * 1000 / 1048576 }'
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
