#!/usr/bin/env bash
# Runs `trainer-bench train` for each model on 1 rank, 2 ranks (mpirun) and 1 rank with 2
# threads, one after another. Every full report is kept: samples/s, time per phase, achieved
# GFLOP/s, the arithmetic floor and the ratio to it, and peak memory by phase.
#
# usage: bench/train-report.sh [OUTPUT_DIR] [models...]   (run from the package root after
#        `swift build -c release`; default OUTPUT_DIR runs/bench-train, models pepnet mmoe apg)
# environment: BENCH (default .build/release/trainer-bench), STEPS (default 100), WARMUP (default 10)
set -euo pipefail

output=${1:-runs/bench-train}
shift || true
models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(pepnet mmoe apg)
bench=${BENCH:-.build/release/trainer-bench}
steps=${STEPS:-100}
warmup=${WARMUP:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ ! -x $bench ]]; then
    echo "train-report: $bench not found; build with 'swift build -c release' or set BENCH" >&2
    exit 2
fi
bench=$(cd "$(dirname "$bench")" && pwd)/$(basename "$bench")
mkdir -p "$output"

for model in "${models[@]}"; do
    config=configs/$model-kuairand.json
    "$bench" train --config "$config" --steps "$steps" --warmup "$warmup" > "$output/$model-1rank.txt" 2>&1
    TRAINER="$bench" "$root/launch/local.sh" 2 train --config "$config" --steps "$steps" --warmup "$warmup" \
        > "$output/$model-2ranks.txt" 2>&1
    "$bench" train --config "$config" --steps "$steps" --warmup "$warmup" --threads 2 > "$output/$model-1rank-2threads.txt" 2>&1
    for variant in 1rank 2ranks 1rank-2threads; do
        file=$output/$model-$variant.txt
        printf '%-7s %-15s %s | %s\n' "$model" "$variant" \
            "$(grep -Eo '[0-9]+ samples/s, [0-9.]+ ms per step' "$file" | head -1)" \
            "$(grep -Eo 'step / floor = [0-9.]+' "$file" | head -1)"
    done
done
echo "full reports in $output/"
