#!/usr/bin/env bash
# Creates .venv-bench at the package root with the Python side of the side-by-side benchmarks:
# TensorFlow CPU 2.21.0 (the version the reference was measured with), pandas, numpy and
# scikit-learn from PyPI. About 600 MB; the benchmarks and CI do not need it otherwise.
#
# usage: bench/setup-python.sh   (run from anywhere; needs python3 with venv and network access to PyPI)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.venv-bench
if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c "import tensorflow, pandas, sklearn" 2>/dev/null; then
    echo "setup-python: $venv is ready"
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet tensorflow-cpu==2.21.0 numpy pandas scikit-learn
"$venv/bin/python" -c "import tensorflow as tf, pandas; print('setup-python: tensorflow', tf.__version__, 'pandas', pandas.__version__)"
