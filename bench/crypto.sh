#!/bin/sh
# The crypto core's throughput (criterion, benches/crypto.rs) beside
# `openssl speed` on the same machine, the ceiling for an AEAD in software.
# Usage: bench/crypto.sh [--quick] [criterion filter]
# --quick measures each case for 1 s instead of criterion's default 5 s.
set -eu
cd "$(dirname "$0")/.."

criterion_args=""
if [ "${1:-}" = "--quick" ]; then
    criterion_args="--warm-up-time 1 --measurement-time 1"
    shift
fi

echo "== machine"
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'
echo "cpus: $(nproc); AES-NI: $(grep -qw aes /proc/cpuinfo && echo yes || echo no);" \
     "PCLMULQDQ: $(grep -qw pclmulqdq /proc/cpuinfo && echo yes || echo no);" \
     "load: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== kmsfs crypto core (criterion; thrpt = [low median high])"
# shellcheck disable=SC2086 # criterion_args is a list of words
cargo bench --bench crypto -- $criterion_args "$@" 2>/dev/null |
    awk '/^(chunk|object)\// { name = $1 } /thrpt:/ && $4 !~ /%/ { print name, $4, $5 }' |
    awk '{ printf "%-44s %10s %s\n", $1, $2, $3 }'

echo "== ceiling: $(openssl version)"
for cipher in aes-256-gcm chacha20-poly1305; do
    for bytes in 4096 65536 1048576; do
        openssl speed -seconds 2 -bytes "$bytes" -evp "$cipher" 2>/dev/null | tail -1 |
            awk -v c="$cipher" -v b="$bytes" '{ kb = $NF; sub(/k$/, "", kb);
                printf "%-44s %10.2f MiB/s\n", "openssl/" c "/" b, kb * 1000 / 1048576 }'
    done
done
