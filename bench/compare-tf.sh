#!/usr/bin/env bash
# Side-by-side training throughput of the trainer and the TensorFlow reference (tfref.py) on
# KuaiRand-Pure, for each model and thread setting, alternating the two sides R times.
#
# usage: bench/compare-tf.sh [R] [models...]   (default R = 3, models pepnet mmoe apg; run from the package root)
# environment: PYTHON (default .venv-bench/bin/python, made by bench/setup-python.sh),
#              TFREF (default ../shared/bench/tfref/tfref.py),
#              BENCH (default .build/release/trainer-bench), STEPS (timed trainer steps, default 182),
#              WARMUP (untimed trainer steps before them, default 10; 182 + 10 = 192 steps of 1024 rows, one epoch)
#
# Settings: "1 thread" is the trainer on 1 rank with one thread against tfref --threads 1
# --inter-threads 1. "2 cores" is the trainer on 2 ranks (mpirun through launch/local.sh) and on 1 rank
# with --threads 2, against tfref --threads 2 --inter-threads 2. tfref runs one epoch and
# times all but its first 20 steps.
set -euo pipefail

repetitions=${1:-3}
shift || true
models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(pepnet mmoe apg)
root_for_defaults=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root_for_defaults/.venv-bench/bin/python}
tfref=${TFREF:-$root_for_defaults/../shared/bench/tfref/tfref.py}
bench=${BENCH:-.build/release/trainer-bench}
steps=${STEPS:-182}
warmup=${WARMUP:-10}
root=$(cd "$(dirname "$0")/.." && pwd)

if [[ ! -x $bench ]]; then
    echo "compare-tf: $bench not found; build with 'swift build -c release' or set BENCH" >&2
    exit 2
fi
bench=$(cd "$(dirname "$bench")" && pwd)/$(basename "$bench")
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo

# Each runner prints one samples/s figure, or "nan" when the run printed none.
trainer_samples_per_second() { grep -Eo '[0-9.]+ samples/s' | tail -1 | cut -d' ' -f1 || true; }
tfref_samples_per_second() { sed -nE 's/^throughput ([0-9.]+) samples\/s.*/\1/p' | tail -1; }

run_trainer_1() {
    "$bench" train --config "configs/$1-kuairand.json" --steps "$steps" --warmup "$warmup" 2>&1 \
        | trainer_samples_per_second
}
run_trainer_blas2() {
    "$bench" train --config "configs/$1-kuairand.json" --steps "$steps" --warmup "$warmup" --threads 2 2>&1 \
        | trainer_samples_per_second
}
run_trainer_mpi2() {
    TRAINER="$bench" "$root/launch/local.sh" 2 train --config "configs/$1-kuairand.json" --steps "$steps" --warmup "$warmup" 2>&1 \
        | trainer_samples_per_second
}
run_tfref() {
    "$python" "$tfref" --model "$1" --epochs 1 --threads "$2" --inter-threads "$2" 2>&1 | tfref_samples_per_second
}

median() { printf '%s\n' "$@" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "nan" }'; }

table=()
for model in "${models[@]}"; do
    one=() tf1=() blas2=() mpi2=() tf2=()
    for ((run = 1; run <= repetitions; run++)); do
        one+=("$(run_trainer_1 "$model")")
        tf1+=("$(run_tfref "$model" 1)")
        mpi2+=("$(run_trainer_mpi2 "$model")")
        blas2+=("$(run_trainer_blas2 "$model")")
        tf2+=("$(run_tfref "$model" 2)")
        echo "$model run $run: 1 thread trainer ${one[-1]} tfref ${tf1[-1]}; 2 cores trainer 2 ranks ${mpi2[-1]}, 1 rank 2 threads ${blas2[-1]}, tfref ${tf2[-1]} samples/s"
    done
    t1=$(median "${one[@]}") r1=$(median "${tf1[@]}")
    m2=$(median "${mpi2[@]}") b2=$(median "${blas2[@]}") r2=$(median "${tf2[@]}")
    table+=("$(printf '%-7s %-8s %-26s %12s %12s %7s' "$model" "1 thread" "trainer 1 rank" "$t1" "$r1" "$(ratio "$t1" "$r1")")")
    table+=("$(printf '%-7s %-8s %-26s %12s %12s %7s' "$model" "2 cores" "trainer 2 ranks (mpirun)" "$m2" "$r2" "$(ratio "$m2" "$r2")")")
    table+=("$(printf '%-7s %-8s %-26s %12s %12s %7s' "$model" "2 cores" "trainer 1 rank, 2 threads" "$b2" "$r2" "$(ratio "$b2" "$r2")")")
done

echo
echo "medians of $repetitions alternating runs, samples/s (trainer: $steps steps after $warmup warm-up; tfref: 1 epoch after 20 warm-up steps)"
printf '%-7s %-8s %-26s %12s %12s %7s\n' model setting "trainer variant" trainer tfref ratio
printf '%s\n' "${table[@]}"
