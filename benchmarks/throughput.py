"""Benchmark: seconds per training epoch of DSRSD-Net and of early fusion, same data, same process.

    python benchmarks/throughput.py [--data synthetic|DIR] [--epochs 3] [--threads 1] [--device cpu]
                                    [--rounds 2] [--profile]

Both models train on the same samples and learner split with the default Config (batch size 64),
alternating model by model for ``--rounds`` rounds so that a change in the machine's load hits both;
the epoch time is the median over every epoch of every round (``history.seconds``: the training
loop plus the validation pass). On a loaded machine wall time follows the load, so the CPU time of
this process per epoch (``time.process_time`` over the whole fit / epochs; one thread) is printed
too, and its ratio is the steadier comparison. ``--profile`` prints cProfile's top functions for one DSRSD-Net epoch.
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
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    from dsrsd_core.threads import set_threads

    threads = set_threads(args.threads)
    from dsrsd_core.models import build_model
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.pipeline import prepare
    from dsrsd_core.train.trainer import train_model

    cfg = Config(epochs=args.epochs, min_epochs=args.epochs, patience=args.epochs)
    data, split, _ = prepare(args.data, cfg)
    n_train = int((split == "train").sum())
    print(f"{len(data):,} samples, {n_train:,} training, batch {cfg.batch_size}, {threads} thread(s), "
          f"device {args.device}", flush=True)

    def fit(name: str):
        return train_model(lambda: build_model(data.specs(), len(data.classes), cfg, name), data, split, cfg,
                           args.device, progress=False)

    if args.profile:
        import cProfile
        import pstats

        one = Config(**{**cfg.to_dict(), "epochs": 1, "min_epochs": 1})
        train_model(lambda: build_model(data.specs(), len(data.classes), one, "dsrsd_net"), data, split, one,
                    args.device, progress=False)  # warm-up: first-call imports and allocations
        prof = cProfile.Profile()
        prof.enable()
        train_model(lambda: build_model(data.specs(), len(data.classes), one, "dsrsd_net"), data, split, one,
                    args.device, progress=False)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)

    times = {"dsrsd_net": [], "early_fusion": []}
    cpu = {k: [] for k in times}
    warm = Config(**{**cfg.to_dict(), "epochs": 1, "min_epochs": 1})
    for name in times:  # first-call costs (lazy imports, allocator) out of the measurement
        train_model(lambda: build_model(data.specs(), len(data.classes), warm, name), data, split, warm,
                    args.device, progress=False)
    auc = {}
    t0 = time.perf_counter()
    for _ in range(args.rounds):
        for name in times:
            c0 = time.process_time()
            result = fit(name)
            cpu[name].append((time.process_time() - c0) / len(result.history))
            times[name] += [row["seconds"] for row in result.history]
            auc[name] = result.metrics["test"]["auc"]
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    for name, v in times.items():
        print(f"{name:<13} median {med[name]:6.2f} s/epoch wall ({n_train / med[name]:,.0f} samples/s), "
              f"{cpu_med[name]:6.2f} s/epoch CPU; epochs {', '.join(f'{s:.2f}' for s in v)}; test AUC {auc[name]:.3f}")
    print(f"ratio DSRSD-Net / early fusion: wall {med['dsrsd_net'] / med['early_fusion']:.2f}, "
          f"CPU {cpu_med['dsrsd_net'] / cpu_med['early_fusion']:.2f}  (wall {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
