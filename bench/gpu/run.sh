#!/usr/bin/env bash
# The prepared GPU benchmark (see bench/gpu/gpu_bench.py): one H100/H200, under 10 minutes, one JSON to $OUT.
#   bench/gpu/run.sh                 # on the GPU machine (torch, transformers and accelerate; no Django needed)
#   bench/gpu/run.sh --cpu --tiny    # the same script on tiny models on a CPU, in under a minute
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# Wheels carried to a machine without a registry (DEVELOPERS.md, "GPU time": our transformers pin, say)
# go in ahead of that machine's own packages.
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu-bench-site .whl/*.whl
  export PYTHONPATH="/tmp/gpu-bench-site${PYTHONPATH:+:$PYTHONPATH}"
fi
exec "$PYTHON" bench/gpu/gpu_bench.py "$@"
