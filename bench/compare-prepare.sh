#!/usr/bin/env bash
# Times data preparation of KuaiRand-Pure in the trainer against pandas read_csv plus two left
# merges, alternating the two N times (default 5), and prints medians and two ratios.
# The pandas side is the time prepare_pandas.py measures inside its process, after the
# interpreter has started and pandas is imported.
# The trainer side is measured twice in each `trainer-bench prepare --repetitions 1` process:
#   whole process: wall time from exec to exit (start, config, read, parse, join, encode,
#                  write of the prepared file with fsync). The prepared file goes to a
#                  --cache-dir that this script deletes after the process has exited, because
#                  a real run keeps the file (deleting its 40 MB took about 15 ms on
#                  a 2-vCPU ext4 virtual machine);
#   without write: the in-process time of read, fingerprint, parse, join and encode of that
#                  same cold repetition, which leaves out process start and the write.
# The trainer uses both cores where the work splits: parse pieces, joins, features, and the
# checksum beside the write. pandas read_csv and merge run on one core.
#
# usage: bench/compare-prepare.sh [N]   (run from the package root; needs a release build)
# environment: PYTHON (default .venv-bench/bin/python, made by bench/setup-python.sh), BENCH (default .build/release/trainer-bench),
#              CONFIG (default configs/pepnet-kuairand.json), DATA_DIR (default ../shared/data/kuairand-pure)
set -euo pipefail

runs=${1:-5}
python=${PYTHON:-$(cd "$(dirname "$0")/.." && pwd)/.venv-bench/bin/python}
bench=${BENCH:-.build/release/trainer-bench}
config=${CONFIG:-configs/pepnet-kuairand.json}
data_dir=${DATA_DIR:-../shared/data/kuairand-pure}
here=$(cd "$(dirname "$0")" && pwd)

if [[ ! -x $bench ]]; then
    echo "compare-prepare: $bench not found; build with 'swift build -c release' or set BENCH" >&2
    exit 2
fi

ours=()
without_write=()
pandas=()
for ((run = 1; run <= runs; run++)); do
    # One repetition per process, so both sides pay for a cold start of their parser the same way.
    cache_dir=$(mktemp -d)
    start=$(date +%s%N)
    line=$("$bench" prepare --config "$config" --data-dir "$data_dir" --repetitions 1 --cache-dir "$cache_dir" | grep '^RESULT ')
    end=$(date +%s%N)
    rm -rf "$cache_dir"
    inside=$(sed -E 's/.* prepare_seconds=([0-9.]+).*/\1/; s/^RESULT prepare_seconds=([0-9.]+).*/\1/' <<<"$line")
    without_write+=("$(sed -E 's/.*first_without_write_seconds=([0-9.]+).*/\1/' <<<"$line")")
    ours+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')")
    line=$("$python" "$here/prepare_pandas.py" --data-dir "$data_dir" | grep '^RESULT ')
    pandas+=("$(sed -E 's/.*pandas_prepare_seconds=([0-9.]+).*/\1/' <<<"$line")")
    echo "run $run: trainer ${ours[-1]} s (process; $inside s inside it, ${without_write[-1]} s without the write), pandas ${pandas[-1]} s"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ours_median=$(median "${ours[@]}")
without_write_median=$(median "${without_write[@]}")
pandas_median=$(median "${pandas[@]}")
ratio=$(awk -v a="$pandas_median" -v b="$ours_median" 'BEGIN { printf "%.2f", a / b }')
ratio_without_write=$(awk -v a="$pandas_median" -v b="$without_write_median" 'BEGIN { printf "%.2f", a / b }')
echo "median over $runs runs: pandas read_csv + filter + merges $pandas_median s"
echo "  trainer whole process (start, read, parse, join, encode, write + fsync, exit): $ours_median s, speedup $ratio"
echo "  trainer read+parse+join+encode (excluding the write of the prepared file): $without_write_median s, speedup $ratio_without_write"
echo "RESULT trainer_seconds=$ours_median pandas_seconds=$pandas_median speedup=$ratio without_write_seconds=$without_write_median speedup_without_write=$ratio_without_write"
