#!/usr/bin/env bash
# Starts the trainer on several nodes through mpirun and a hostfile (see hostfile.example).
#
# usage: launch/multi-node.sh HOSTFILE N [trainer arguments...]
#   TRAINER        binary to start, at the same path on every node (default: .build/release/trainer)
#   NETWORK_INTERFACE  interface for MPI traffic between nodes (default: eth0), see below
#   MPIRUN_OPTIONS extra mpirun options, split on spaces
#
# Transport: this example uses Open MPI's TCP transport (btl tcp) between nodes and shared memory
# (vader) inside a node, and pins both MPI data and Open MPI's control channel (oob) to one
# interface, because nodes often have several (management, data, docker bridges) and a wrong
# choice hangs at start-up. On InfiniBand or RoCE clusters use UCX instead: replace the btl
# settings with "--mca pml ucx" and, if needed, UCX_NET_DEVICES=mlx5_0:1 (ask your admins which
# device), and keep OMPI_MCA_oob_tcp_if_include on the management interface.
set -euo pipefail

usage() {
    echo "usage: $0 HOSTFILE N [trainer arguments...]   (N = total number of ranks, a positive integer)" >&2
    exit 2
}

[[ $# -ge 2 ]] || usage
hostfile=$1
ranks=$2
shift 2
[[ -r $hostfile ]] || { echo "hostfile not found or not readable: $hostfile" >&2; usage; }
if ! [[ $ranks =~ ^[1-9][0-9]*$ ]]; then
    echo "invalid rank count '$ranks': expected a positive integer" >&2
    usage
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
trainer=${TRAINER:-$root/.build/release/trainer}
interface=${NETWORK_INTERFACE:-eth0}

export OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_btl=self,vader,tcp
export OMPI_MCA_btl_tcp_if_include=$interface
export OMPI_MCA_oob_tcp_if_include=$interface
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

options=(--hostfile "$hostfile" -np "$ranks" --map-by slot)
if [[ $(id -u) -eq 0 ]]; then
    options+=(--allow-run-as-root)
fi
for variable in OMPI_MCA_mpi_yield_when_idle OMPI_MCA_btl OMPI_MCA_btl_tcp_if_include OMPI_MCA_oob_tcp_if_include \
                OPENBLAS_NUM_THREADS OPENBLAS_CORETYPE UCX_NET_DEVICES; do
    if [[ -n ${!variable:-} ]]; then
        options+=(-x "$variable")
    fi
done
# shellcheck disable=SC2206 # word splitting of MPIRUN_OPTIONS is intended
options+=(${MPIRUN_OPTIONS:-})

exec mpirun "${options[@]}" "$trainer" "$@"
