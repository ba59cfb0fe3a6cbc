#!/usr/bin/env bash
# Runs the fuzz targets, one at a time, each for SECONDS, and prints what each reached.
#
#   fuzz/run.sh TARGET SECONDS     # one of: decode pcap_reader app_extractors engine detectors
#   fuzz/run.sh all SECONDS        # each target in turn, SECONDS each
#
# Needs nightly and cargo-fuzz (`cargo install cargo-fuzz`). Seeds come from
# `cargo run --example fuzz_seed -- ../shared/corpus/tcpdump fuzz/corpus` (run.sh does that when
# fuzz/corpus is missing; set CAPTURES to use another folder). libFuzzer runs in-process, one
# process, so it takes one core. Crashes land in fuzz/artifacts/TARGET/; the full log of each
# run in fuzz/logs/TARGET.log. Extra arguments after SECONDS go to libFuzzer.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
targets=(decode pcap_reader app_extractors engine detectors)

if [ $# -lt 2 ]; then
    echo "usage: $0 {${targets[*]// /|}|all} SECONDS [libFuzzer args...]" >&2
    exit 2
fi
which=$1
seconds=$2
shift 2
case $seconds in
    '' | *[!0-9]*) echo "$0: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac

if [ "$which" = all ]; then
    run=("${targets[@]}")
else
    case " ${targets[*]} " in
        *" $which "*) run=("$which") ;;
        *) echo "$0: unknown target '$which' (targets: ${targets[*]} all)" >&2; exit 2 ;;
    esac
fi

if [ ! -d "$here/corpus" ]; then
    captures=${CAPTURES:-$root/../shared/corpus/tcpdump}
    (cd "$root" && cargo run --quiet --example fuzz_seed -- "$captures" "$here/corpus")
fi
mkdir -p "$here/logs"

cd "$here"
# cargo-fuzz's default build: optimized, with debug assertions and overflow checks (an overflow
# is a bug in a decoder even where release builds would wrap) and AddressSanitizer.
cargo +nightly fuzz build
status=0
for target in "${run[@]}"; do
    log=$here/logs/$target.log
    mkdir -p "artifacts/$target" "corpus/$target"
    echo "== $target: ${seconds}s (log: $log)"
    # -timeout: one input taking 10 s is a hang, reported as a crash. -rss_limit_mb: growing
    # past 2 GiB is a leak or an unbounded allocation, also reported.
    if cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        "$@" >"$log" 2>&1; then
        result=ok
    else
        result="FAILED (see $log and artifacts/$target/)"
        status=1
    fi
    # The last status line holds the coverage reached (cov: edges, ft: features).
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}' || true)
    rss=$(grep -m1 'stat::peak_rss_mb' "$log" | awk '{print $2}' || true)
    crashes=$(find "artifacts/$target" -type f | wc -l)
    echo "   result: $result"
    echo "   executions: ${execs:-?} (${rate:-?}/s), peak RSS ${rss:-?} MB, artifacts: $crashes"
    echo "   last status: $last"
done
exit $status
