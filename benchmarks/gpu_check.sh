#!/usr/bin/env bash
# On a CUDA machine: the real-scale synthetic cohort (32,593 enrolments) trained with DSRSD-Net and early
# fusion on the GPU (batch 64 and 1024) and on the CPU (batch 64), the DDP path over NCCL, then
# `dsrsd explain` on the GPU-trained run (explain runs on the CPU). Prints per device and model: seconds
# per epoch, training samples/s, peak memory and test AUC (benchmarks/gpu_check.py says how).
#   bash benchmarks/gpu_check.sh [WORK_DIR (default /tmp/dsrsd-gpu-check)]
#   EPOCHS=3 by default; EXPLAIN_LIMIT=300 seconds (explain stops there, so the whole check stays bounded)
# Exits 3 when torch sees no CUDA GPU (the test suite never needs one).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(realpath -m "${1:-/tmp/dsrsd-gpu-check}")
PY=${PYTHON:-python3}
"$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)" \
    || { echo "gpu_check: torch sees no CUDA GPU here; nothing was measured" >&2; exit 3; }
mkdir -p "$WORK"
export DSRSD_CACHE="$WORK/cache" PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
start=$(date +%s)
[ -f "$WORK/cohort/ground_truth.json" ] || "$PY" -m dsrsd_core synth --out "$WORK/cohort" --enrolments 32593 --quiet >/dev/null
echo "synth: $(( $(date +%s) - start )) s"
"$PY" benchmarks/gpu_check.py "$WORK/cohort" "$WORK/run_cuda" --epochs "${EPOCHS:-3}"
start=$(date +%s)
timeout "${EXPLAIN_LIMIT:-300}" "$PY" -m dsrsd_core explain "$WORK/run_cuda" --quiet || echo "explain stopped (limit ${EXPLAIN_LIMIT:-300} s) or failed"
echo "explain (CPU, $(nproc) cores, on the GPU-trained run): $(( $(date +%s) - start )) s"
"$PY" -c "import json, sys; s = json.load(open(sys.argv[1])); print('explain seconds by stage:', {k: round(v, 1) for k, v in s['seconds'].items()})" \
    "$WORK/run_cuda/explain/summary.json" 2>/dev/null || true
