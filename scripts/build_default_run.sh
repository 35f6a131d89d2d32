#!/usr/bin/env bash
# Rebuild the shipped default run (checkpoints/default): train and explain DSRSD-Net on the
# default synthetic cohort (3,000 enrolments, seed 0), generated from the project's own generator.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m dsrsd_core train --data synthetic --target at_risk --seed 0 --out checkpoints/default --overwrite "$@"
du -sh checkpoints/default
