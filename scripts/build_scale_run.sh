#!/usr/bin/env bash
# Build the real-scale run reproducibly, outside the repository: a synthetic cohort the size of OULAD
# (32,593 enrolments, seed 0; ~25,300 samples at the default cut-off), DSRSD-Net trained on it
# (seed 0) and explained with the default limits. The dashboard's speed at 25,000 learners is measured on it:
#   DSRSD_RUNS=$OUT streamlit run app/main.py
# Usage: bash scripts/build_scale_run.sh [OUT (default ~/dsrsd-scale)] [extra `dsrsd train` options, e.g. --epochs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-$HOME/dsrsd-scale}")
shift || true
case "$OUT/" in "$(pwd)"/*) echo "OUT must be outside the repository ($OUT)" >&2; exit 2 ;; esac
mkdir -p "$OUT"
export DSRSD_CACHE="${DSRSD_CACHE:-$OUT/cache}"
if [ ! -f "$OUT/cohort/ground_truth.json" ]; then
    python -m dsrsd_core synth --out "$OUT/cohort" --enrolments 32593 --seed 0 --quiet > "$OUT/cohort.json"
fi
python -m dsrsd_core train --data "$OUT/cohort" --out "$OUT/run" --seed 0 --overwrite --no-explain "$@"
python -m dsrsd_core explain "$OUT/run"
du -sh "$OUT/run"
