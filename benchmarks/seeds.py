"""Test metrics of DSRSD-Net over several seeds (a new learner split and initialisation per seed).

    python benchmarks/seeds.py --data synthetic --seeds 3
    python benchmarks/seeds.py --data ../shared/data/oulad --presentations "AAA 2013J,AAA 2014J,BBB 2013B"

Prints one line per seed and the mean and standard deviation; --json writes them to a file.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np

from dsrsd_core.errors import DsrsdError
from dsrsd_core.models import build_model
from dsrsd_core.train.config import Config
from dsrsd_core.train.pipeline import prepare
from dsrsd_core.train.trainer import train_model


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="synthetic")
    p.add_argument("--target", default="at_risk")
    p.add_argument("--cutoff-fraction", type=float, default=0.5)
    p.add_argument("--presentations", default="")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    rows = []
    for seed in range(args.seeds):
        cfg = Config(target=args.target, cutoff_fraction=args.cutoff_fraction, seed=seed,
                     presentations=[s.strip() for s in args.presentations.split(",") if s.strip()])
        t0 = time.perf_counter()
        data, split, _ = prepare(args.data, cfg)
        t_data = time.perf_counter() - t0
        result = train_model(lambda: build_model(data.specs(), len(data.classes), cfg), data, split, cfg, args.device,
                             progress=False)
        test = result.metrics["test"]
        rows.append({"seed": seed, "auc": test["auc"], "macro_f1": test["macro_f1"], "accuracy": test["accuracy"],
                     "n_samples": len(data), "n_test": test["n"], "epochs": result.seconds["epochs_run"],
                     "s_per_epoch": result.seconds["per_epoch_mean"], "s_total": result.seconds["total"],
                     "s_prepare": t_data})
        print(json.dumps(rows[-1]), flush=True)
    summary = {k: {"mean": float(np.mean([r[k] for r in rows])), "std": float(np.std([r[k] for r in rows], ddof=1))
                   if len(rows) > 1 else 0.0} for k in ("auc", "macro_f1", "accuracy", "s_per_epoch")}
    summary["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary["args"] = vars(args)
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seeds": rows, "summary": summary}, f, indent=1)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DsrsdError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
