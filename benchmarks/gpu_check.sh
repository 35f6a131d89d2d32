#!/usr/bin/env bash
# On a CUDA machine: train DSRSD-Net on the real-scale synthetic cohort (32,593 enrolments) on the GPU
# and on the CPU with the same seed, and print per device: seconds per epoch, training samples/s,
# peak memory (GPU: torch.cuda.max_memory_allocated) and test AUC; then `dsrsd explain` the GPU run.
#   bash benchmarks/gpu_check.sh [WORK_DIR (default /tmp/dsrsd-gpu-check)]     EPOCHS=3 by default
# The GPU path: whole dataset moved to the device once (to_tensors), bf16 autocast, batch indices and
# modality-dropout draws through pinned memory with non_blocking copies, loss terms summed on the
# device and read once per epoch. `dsrsd explain` has no GPU path: it runs on the CPU here.
# Exits 3 when torch sees no CUDA GPU (the test suite never needs one).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(realpath -m "${1:-/tmp/dsrsd-gpu-check}")
EPOCHS=${EPOCHS:-3}
python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)" \
    || { echo "gpu_check: torch sees no CUDA GPU here; nothing was measured" >&2; exit 3; }
mkdir -p "$WORK"
export DSRSD_CACHE="$WORK/cache" PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
[ -f "$WORK/cohort/ground_truth.json" ] || python -m dsrsd_core synth --out "$WORK/cohort" --enrolments 32593 --quiet >/dev/null
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python - "$WORK" "$EPOCHS" <<'PY'
import json, resource, sys, time
import torch
from dsrsd_core.models import build_model
from dsrsd_core.run_dir import write_training_run
from dsrsd_core.threads import set_threads
from dsrsd_core.train.config import Config
from dsrsd_core.train.pipeline import prepare
from dsrsd_core.train.trainer import train_model

work, epochs = sys.argv[1], int(sys.argv[2])
threads = set_threads()
cfg = Config(epochs=epochs, min_epochs=epochs)
data, split, data_dir = prepare(f"{work}/cohort", cfg)
n_train = int((split == "train").sum())
print(f"{len(data):,} samples, {n_train:,} training, batch {cfg.batch_size}, {epochs} epochs, CPU threads {threads}")
rows = {}
for device in ("cuda", "cpu"):
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    res = train_model(lambda: build_model(data.specs(), len(data.classes), cfg), data, split, cfg, device, progress=False)
    wall = time.perf_counter() - t
    per_epoch = res.seconds["per_epoch_mean"]
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    rows[device] = {"s_per_epoch": per_epoch, "samples_per_s": n_train / per_epoch, "peak_mib": peak,
                    "test_auc": res.metrics["test"]["auc"], "total_s": wall}
    if device == "cuda":
        write_training_run(f"{work}/run_cuda", data, res, cfg, "cuda", str(data_dir), overwrite=True)
print(f"{'device':<6} {'s/epoch':>8} {'samples/s':>10} {'peak MiB':>9} {'test AUC':>9}")
for d, r in rows.items():
    label = "GPU memory" if d == "cuda" else "process RSS"
    print(f"{d:<6} {r['s_per_epoch']:>8.2f} {r['samples_per_s']:>10,.0f} {r['peak_mib']:>9.0f} {r['test_auc']:>9.3f}  ({label})")
print(json.dumps(rows))
PY
start=$(date +%s)
python -m dsrsd_core explain "$WORK/run_cuda" --quiet
echo "explain (CPU, on the GPU-trained run): $(( $(date +%s) - start )) s"
