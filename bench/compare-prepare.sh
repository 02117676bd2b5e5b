#!/usr/bin/env bash
# Times data preparation of KuaiRand-Pure in the trainer against pandas read_csv plus two left
# merges, alternating the two N times (default 5), and prints both medians and their ratio.
# The trainer side is the wall time of a whole `trainer-bench prepare --repetitions 1` process
# (start, config, read, parse, join, encode, write with fsync, exit). The pandas side is the
# time prepare_pandas.py measures inside its process, after the interpreter has started and
# pandas is imported.
#
# usage: bench/compare-prepare.sh [N]   (run from the package root; needs a release build)
# environment: PYTHON (default /work/tfvenv/bin/python), BENCH (default .build/release/trainer-bench),
#              CONFIG (default configs/pepnet-kuairand.json), DATA_DIR (default ../shared/data/kuairand-pure)
set -euo pipefail

runs=${1:-5}
python=${PYTHON:-/work/tfvenv/bin/python}
bench=${BENCH:-.build/release/trainer-bench}
config=${CONFIG:-configs/pepnet-kuairand.json}
data_dir=${DATA_DIR:-../shared/data/kuairand-pure}
here=$(cd "$(dirname "$0")" && pwd)

if [[ ! -x $bench ]]; then
    echo "compare-prepare: $bench not found; build with 'swift build -c release' or set BENCH" >&2
    exit 2
fi

ours=()
pandas=()
for ((run = 1; run <= runs; run++)); do
    # One repetition per process, so both sides pay for a cold start of their parser the same way.
    start=$(date +%s%N)
    line=$("$bench" prepare --config "$config" --data-dir "$data_dir" --repetitions 1 | grep '^RESULT ')
    end=$(date +%s%N)
    inside=$(sed -E 's/.*prepare_seconds=([0-9.]+).*/\1/' <<<"$line")
    ours+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')")
    line=$("$python" "$here/prepare_pandas.py" --data-dir "$data_dir" | grep '^RESULT ')
    pandas+=("$(sed -E 's/.*pandas_prepare_seconds=([0-9.]+).*/\1/' <<<"$line")")
    echo "run $run: trainer ${ours[-1]} s (process; $inside s inside it), pandas ${pandas[-1]} s"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ours_median=$(median "${ours[@]}")
pandas_median=$(median "${pandas[@]}")
ratio=$(awk -v a="$pandas_median" -v b="$ours_median" 'BEGIN { printf "%.2f", a / b }')
echo "median over $runs runs: trainer prepare process $ours_median s (read, parse, join, encode, write), pandas read_csv + merges $pandas_median s"
echo "RESULT trainer_seconds=$ours_median pandas_seconds=$pandas_median speedup=$ratio"
