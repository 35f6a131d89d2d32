"""Benchmark: what a pruned shared code costs per training epoch (DSRSD-Net, same data, same process).

    python benchmarks/prune_overhead.py [--data synthetic|DIR] [--rounds 3] [--epochs 7]

Trains DSRSD-Net with its codes pruned from epoch 1 (``code_prune_r2 = 0.3``, ``code_prune_epoch = 1``)
and never pruned (``code_prune_r2 = 0``), alternating for ``--rounds`` rounds so that a change in the
machine's load hits both. Prints the median epoch time (epochs after the first) and the CPU time of
this process per epoch, and their ratios. One torch thread.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=7)
    args = ap.parse_args()

    from dsrsd_core.models import build_model
    from dsrsd_core.threads import set_threads
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.pipeline import prepare
    from dsrsd_core.train.trainer import train_model

    set_threads(1)
    base = Config(epochs=args.epochs, min_epochs=args.epochs, patience=args.epochs, code_prune_epoch=1)
    data, split, _ = prepare(args.data, base)
    seconds = {"pruned": [], "unpruned": []}
    cpu = {k: [] for k in seconds}
    for _ in range(args.rounds):
        for name, r2 in (("pruned", 0.3), ("unpruned", 0.0)):
            cfg = Config(**{**base.to_dict(), "code_prune_r2": r2})
            c0 = time.process_time()
            out = train_model(lambda: build_model(data.specs(), len(data.classes), cfg), data, split, cfg, "cpu",
                              progress=False)
            cpu[name].append((time.process_time() - c0) / len(out.history))
            seconds[name] += [row["seconds"] for row in out.history[1:]]
    for name in seconds:
        print(f"{name:>8}: median epoch {statistics.median(seconds[name]):.3f} s, "
              f"CPU per epoch {statistics.median(cpu[name]):.3f} s")
    print(f"pruned / unpruned: epoch {statistics.median(seconds['pruned']) / statistics.median(seconds['unpruned']):.3f}, "
          f"CPU {statistics.median(cpu['pruned']) / statistics.median(cpu['unpruned']):.3f}")


if __name__ == "__main__":
    main()
