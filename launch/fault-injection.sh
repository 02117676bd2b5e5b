#!/usr/bin/env bash
# Kills one rank of a 4-rank job at a random step, resumes from the last checkpoint, and checks
# that the resumed run ends with the same parameters, bit for bit, as an uninterrupted run.
#
# usage: launch/fault-injection.sh [SEED]
#   SEED     picks the rank and the step (default 1); the same seed picks the same fault
#   TRAINER  binary to start (default: .build/release/trainer)
#
# The rank kills itself with SIGKILL through the test-only variable TRAINER_TEST_SIGKILL_AT_STEP,
# which looks to MPI like any sudden death. Prints PASS or FAIL and exits 0 or 1; on FAIL the
# work folder with the logs stays for inspection.
set -euo pipefail

seed=${1:-1}
if ! [[ $seed =~ ^[0-9]+$ ]]; then
    echo "invalid seed '$seed': expected a non-negative integer" >&2
    exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TRAINER=${TRAINER:-$root/.build/release/trainer}
if [[ ! -x $TRAINER ]]; then
    echo "trainer binary not found or not executable: $TRAINER; build it with 'swift build -c release'" >&2
    exit 2
fi

ranks=4
max_steps=240
checkpoint_every=20
RANDOM=$seed
kill_rank=$((RANDOM % ranks))
# After the first checkpoint and before the last step, so there is a checkpoint to resume from.
kill_step=$((checkpoint_every + 1 + RANDOM % (max_steps - checkpoint_every - 1)))

work=$(mktemp -d "${TMPDIR:-/tmp}/fault-injection.XXXXXX")
"$TRAINER" generate --out "$work/data" --rows 20000 --seed 3 --config-out "$work/config.json" >/dev/null
common=(train --config "$work/config.json" --cache-dir "$work/cache" --batch-size 128 --epochs 2
        --max-steps "$max_steps" --checkpoint-every "$checkpoint_every")

fail() {
    echo "FAIL: $1 (logs in $work)"
    exit 1
}

echo "seed $seed: killing rank $kill_rank with SIGKILL at step $kill_step of $max_steps"
"$root/launch/local.sh" "$ranks" "${common[@]}" --run-dir "$work/uninterrupted" \
    --dump-parameters "$work/uninterrupted.bin" >"$work/uninterrupted.log" 2>&1 || fail "the uninterrupted run failed"

started=$(date +%s)
if TRAINER_TEST_SIGKILL_AT_STEP="$kill_rank:$kill_step" MPIRUN_OPTIONS="-x TRAINER_TEST_SIGKILL_AT_STEP" \
    "$root/launch/local.sh" "$ranks" "${common[@]}" --run-dir "$work/killed" >"$work/killed.log" 2>&1; then
    fail "the job with a killed rank exited with status 0"
fi
echo "the job with the killed rank ended with a non-zero status after $(( $(date +%s) - started )) s"
latest=$(cat "$work/killed/checkpoints/latest" 2>/dev/null) || fail "no checkpoint before the kill"
echo "resuming from $latest"

"$root/launch/local.sh" "$ranks" "${common[@]}" --resume "$work/killed" --run-dir "$work/resumed" \
    --dump-parameters "$work/resumed.bin" >"$work/resumed.log" 2>&1 || fail "the resumed run failed"
cmp "$work/uninterrupted.bin" "$work/resumed.bin" || fail "the resumed parameters differ from the uninterrupted run's"

rm -rf "$work"
echo "PASS"
