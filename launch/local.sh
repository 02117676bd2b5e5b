#!/usr/bin/env bash
# Starts N ranks of the trainer on this machine through Open MPI's mpirun.
#
# usage: launch/local.sh N [trainer arguments...]
#   TRAINER        binary to start (default: .build/release/trainer next to this script's folder)
#   MPIRUN_OPTIONS extra mpirun options, split on spaces (for example "--bind-to none")
#
# Traffic stays on this machine: shared memory between ranks (btl self,vader) and the loopback
# interface for Open MPI's own control messages. Ranks yield the CPU while they wait, and each
# rank uses one OpenBLAS thread because every rank already occupies a core.
set -euo pipefail

usage() {
    echo "usage: $0 N [trainer arguments...]   (N = number of ranks, a positive integer)" >&2
    echo "       set TRAINER to choose the binary, MPIRUN_OPTIONS to add mpirun options" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
ranks=$1
shift
if ! [[ $ranks =~ ^[1-9][0-9]*$ ]]; then
    echo "invalid rank count '$ranks': expected a positive integer" >&2
    usage
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
trainer=${TRAINER:-$root/.build/release/trainer}
if [[ ! -x $trainer ]]; then
    echo "trainer binary not found or not executable: $trainer" >&2
    echo "build it with 'swift build -c release', or set TRAINER to its path" >&2
    exit 2
fi
if ! command -v mpirun >/dev/null; then
    echo "mpirun not found: install openmpi-bin" >&2
    exit 2
fi

export OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_btl=self,vader
export OMPI_MCA_oob_tcp_if_include=lo
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
# On SIGTERM or SIGINT, and when a rank dies, mpirun (Open MPI 4.1) sends the ranks SIGCONT,
# waits this many seconds, sends SIGTERM, waits as long again and sends SIGKILL. On SIGTERM the
# ranks stop after their current step and write a checkpoint, so the wait is their grace period;
# Open MPI's default of 1 s is too short for that. Raise it when a checkpoint takes longer.
export OMPI_MCA_odls_base_sigkill_timeout=${OMPI_MCA_odls_base_sigkill_timeout:-5}

options=(-np "$ranks")
if [[ $(id -u) -eq 0 ]]; then
    options+=(--allow-run-as-root)
fi
if (( ranks > $(nproc) )); then
    options+=(--oversubscribe)
fi
for variable in OMPI_MCA_mpi_yield_when_idle OMPI_MCA_btl OMPI_MCA_oob_tcp_if_include OPENBLAS_NUM_THREADS \
                OPENBLAS_CORETYPE; do
    if [[ -n ${!variable:-} ]]; then
        options+=(-x "$variable")
    fi
done
# shellcheck disable=SC2206 # word splitting of MPIRUN_OPTIONS is intended
options+=(${MPIRUN_OPTIONS:-})

exec mpirun "${options[@]}" "$trainer" "$@"
