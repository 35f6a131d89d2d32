"""The GPU path, measured: DSRSD-Net and early fusion trained on CUDA and on the CPU, and DDP over NCCL.

    python benchmarks/gpu_check.py COHORT_DIR RUN_DIR [--epochs 3] [--devices cuda,cpu] [--batch-sizes 64,1024]

For each device and batch size: seconds per epoch (training loop plus validation pass), training
samples per second, peak memory (GPU: ``torch.cuda.max_memory_allocated``; CPU: process RSS) and
test AUC, for DSRSD-Net and for early fusion on the same samples, with the epoch-time ratio. On
CUDA, DSRSD-Net trains with bf16 autocast, the whole dataset on the device, pinned batch indices.
Then, when CUDA is there, the DDP path over NCCL on one rank (a single GPU allows no more: NCCL
refuses two ranks on one device): the trainer wraps the model in DistributedDataParallel, and the
gradient-carrying gather of the batch-statistic losses runs its all_gather / all_reduce on the GPU.
The DSRSD-Net run of the first device and batch size is written to RUN_DIR for ``dsrsd explain``.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cohort")
    ap.add_argument("run")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--devices", default="cuda,cpu")
    ap.add_argument("--batch-sizes", default="64,1024", help="on CUDA; the CPU trains with the default only")
    args = ap.parse_args()

    import torch

    from dsrsd_core.models import build_model
    from dsrsd_core.run_dir import write_training_run
    from dsrsd_core.threads import set_threads
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.pipeline import prepare
    from dsrsd_core.train.trainer import train_model

    threads = set_threads()
    base = Config(epochs=args.epochs, min_epochs=args.epochs, patience=args.epochs)
    t = time.perf_counter()
    data, split, data_dir = prepare(args.cohort, base)
    n_train = int((split == "train").sum())
    print(f"{len(data):,} samples, {n_train:,} training; prepared in {time.perf_counter() - t:.1f} s; "
          f"{args.epochs} epochs; CPU threads {threads}; torch {torch.__version__}", flush=True)
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name()}", flush=True)

    rows, saved = [], False
    for device in args.devices.split(","):
        sizes = [int(b) for b in args.batch_sizes.split(",")] if device == "cuda" else [base.batch_size]
        for bs in sizes:
            cfg = Config(**{**base.to_dict(), "batch_size": bs})
            for name in ("dsrsd_net", "early_fusion"):
                if device == "cuda":
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                t = time.perf_counter()
                res = train_model(lambda: build_model(data.specs(), len(data.classes), cfg, name), data, split,
                                  cfg, device, progress=False)
                wall = time.perf_counter() - t
                # the first epoch pays CUDA context, kernels' first launch and allocator growth: median
                per_epoch = float(sorted(r["seconds"] for r in res.history)[len(res.history) // 2])
                peak = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
                        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
                rows.append({"device": device, "batch": bs, "model": name, "s_per_epoch": per_epoch,
                             "first_epoch_s": res.history[0]["seconds"], "samples_per_s": n_train / per_epoch,
                             "peak_mib": peak, "test_auc": res.metrics["test"]["auc"], "total_s": wall})
                print(json.dumps(rows[-1]), flush=True)
                if name == "dsrsd_net" and not saved:
                    write_training_run(args.run, data, res, cfg, device, str(data_dir), overwrite=True)
                    saved = True

    print(f"\n{'device':<6} {'batch':>5} {'model':<13} {'s/epoch':>8} {'1st ep.':>8} {'samples/s':>10} "
          f"{'peak MiB':>9} {'test AUC':>9}")
    for r in rows:
        print(f"{r['device']:<6} {r['batch']:>5} {r['model']:<13} {r['s_per_epoch']:>8.2f} {r['first_epoch_s']:>8.2f} "
              f"{r['samples_per_s']:>10,.0f} {r['peak_mib']:>9.0f} {r['test_auc']:>9.3f}")
    for device, bs in sorted({(r["device"], r["batch"]) for r in rows}):
        pair = {r["model"]: r["s_per_epoch"] for r in rows if (r["device"], r["batch"]) == (device, bs)}
        print(f"DSRSD-Net / early fusion epoch time, {device} batch {bs}: "
              f"{pair['dsrsd_net'] / pair['early_fusion']:.2f}")
    if torch.cuda.is_available() and "cuda" in args.devices:
        ddp_check(data, split, base)


def ddp_check(data, split, base) -> None:
    """Train under DDP over NCCL (one rank), and run the gradient-carrying gather on the GPU."""
    import tempfile

    import torch
    import torch.distributed as dist

    from dsrsd_core.models import build_model
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.distributed import _GatherWithGrad
    from dsrsd_core.train.trainer import train_model

    store = dist.FileStore(tempfile.mktemp(prefix="dsrsd-nccl-"), 1)
    dist.init_process_group("nccl", store=store, rank=0, world_size=1, device_id=torch.device("cuda", 0))
    try:
        x = torch.randn(64, 8, device="cuda", requires_grad=True)
        w = torch.randn(64, 8, device="cuda")
        (torch.cat(_GatherWithGrad.apply(x), 0) * w).sum().backward()
        print(f"\nNCCL gather with gradients on the GPU: forward and backward exact: "
              f"{bool(torch.equal(x.grad, w))}", flush=True)
        cfg = Config(**{**base.to_dict(), "epochs": 1, "min_epochs": 1})
        t = time.perf_counter()
        res = train_model(lambda: build_model(data.specs(), len(data.classes), cfg), data, split, cfg, "cuda",
                          progress=False)
        print(f"DDP over NCCL (1 rank, bf16 autocast), 1 epoch: {res.history[0]['seconds']:.2f} s, "
              f"test AUC {res.metrics['test']['auc']:.3f}, total {time.perf_counter() - t:.1f} s", flush=True)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
