#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each (default 30)
# and fails on the first crash, hang or out-of-memory.
#
#   fuzz/run.sh [-t SECONDS] [-j JOBS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). libFuzzer's instrumentation
# needs nightly compiler flags: on a stable toolchain RUSTC_BOOTSTRAP=1 lets
# stable rustc accept them (set here); AddressSanitizer works that way too.
# New inputs go to fuzz/target/corpus/<target>; the committed seeds in
# fuzz/corpus/<target> are read, never written. A crash leaves its input in
# fuzz/artifacts/<target>/.
set -euo pipefail

seconds=30
jobs=1
while getopts "t:j:" opt; do
    case "$opt" in
        t) seconds="$OPTARG" ;;
        j) jobs="$OPTARG" ;;
        *) echo "usage: $0 [-t SECONDS] [-j JOBS] [TARGET...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

mkdir -p target
if ! cargo fuzz build -O >target/build.log 2>&1; then
    echo "FAILED  the fuzz build: see fuzz/target/build.log" >&2
    exit 1
fi
status=0
run_one() {
    local target="$1"
    mkdir -p "target/corpus/$target" "artifacts/$target"
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: over 2 GiB is an OOM.
    if cargo fuzz run -O "$target" "target/corpus/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 </dev/null >"target/$target.log" 2>&1; then
        echo "ok      $target ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "target/$target.log" | grep -o '[0-9]*$') runs in ${seconds}s)"
    else
        echo "FAILED  $target: see fuzz/target/$target.log and fuzz/artifacts/$target/"
        return 1
    fi
}
running=0
for target in "${targets[@]}"; do
    run_one "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done
exit "$status"
