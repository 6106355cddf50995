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
# Wheels carried to a card's machine, which has no registry (DEVELOPERS.md, "GPU time": our transformers
# pin, say), go in ahead of its own packages; a --cpu run uses the venv as it is.
if [[ " $* " != *" --cpu "* ]] && compgen -G ".whl/*.whl" >/dev/null; then
  site="$(mktemp -d)"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
exec "$PYTHON" bench/gpu/gpu_bench.py "$@"
