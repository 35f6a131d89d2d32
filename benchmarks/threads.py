"""Benchmark: one training epoch and one `dsrsd explain` with 1 thread vs all cores, quiet and with one core busy.

    python benchmarks/threads.py [--data synthetic|DIR] [--threads 1,2] [--cell-seconds 400]

Each cell runs in a fresh process (numba sizes its thread pool at import) with ``--threads`` set
explicitly: it trains DSRSD-Net for one epoch on the data (default: the default synthetic cohort),
writes the run to a temporary folder and explains it, and prints the epoch time and the explain
step's seconds per part. "busy" cells first start a busy loop in another process (pure Python,
one core), killed as soon as the cell ends. A cell slower than ``--cell-seconds`` is stopped and
reported as such (its time is then at least that). The table this
prints is the basis of the default in ``dsrsd_core/threads.py`` (docs/performance.md).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY = "import time\nend = time.time() + {s}\nwhile time.time() < end:\n    pass\n"


def worker(data_arg: str, threads: int, out: Path, umap_max_samples: int) -> dict:
    from dsrsd_core.threads import set_threads

    set_threads(threads)
    from dsrsd_core.explain.recorder import explain
    from dsrsd_core.models import build_model
    from dsrsd_core.run_dir import write_training_run
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.pipeline import prepare
    from dsrsd_core.train.trainer import train_model

    cfg = Config(epochs=1, min_epochs=1)
    data, split, data_dir = prepare(data_arg, cfg)
    result = train_model(lambda: build_model(data.specs(), len(data.classes), cfg), data, split, cfg, "cpu",
                         progress=False)
    write_training_run(out, data, result, cfg, "cpu", "synthetic" if data_arg == "synthetic" else str(data_dir),
                       overwrite=True)
    t = time.perf_counter()
    summary = explain(out, data=data, progress=False, umap_max_samples=umap_max_samples)
    return {"threads": threads, "samples": len(data), "train_samples": int((split == "train").sum()),
            "epoch_s": result.history[0]["seconds"], "explain_s": time.perf_counter() - t,
            "explain_parts": summary["seconds"]}


def cell(data_arg: str, threads: int, busy: bool, cell_seconds: float, umap_max_samples: int) -> dict:
    hog = None
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        if busy:
            hog = subprocess.Popen([sys.executable, "-c", BUSY.format(s=cell_seconds + 60)])
        with tempfile.TemporaryDirectory(prefix="dsrsd_threads_") as tmp:
            res = subprocess.run([sys.executable, __file__, "--worker", "--data", data_arg, "--threads", str(threads),
                                  "--out", str(Path(tmp) / "run"), "--umap-max-samples", str(umap_max_samples)],
                                 env=env, capture_output=True, text=True, timeout=cell_seconds)
    except subprocess.TimeoutExpired:
        return {"threads": threads, "busy": busy, "timed_out": cell_seconds}
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    if res.returncode != 0:
        raise SystemExit(f"worker failed ({threads} threads, busy={busy}):\n{res.stderr[-3000:]}")
    return {**json.loads(res.stdout.strip().splitlines()[-1]), "busy": busy}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--threads", default=None, help="comma-separated thread counts (default: 1 and all cores)")
    ap.add_argument("--cell-seconds", type=float, default=400, help="stop a cell (and its busy loop) after this long")
    ap.add_argument("--umap-max-samples", type=int, default=3000)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.data, int(args.threads), Path(args.out), args.umap_max_samples)))
        return
    sys.path.insert(0, str(ROOT))
    from dsrsd_core.threads import available_cores, default_threads

    cores = available_cores()
    counts = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cores})
    print(f"cores {cores}; load average before: {os.getloadavg()[0]:.2f}; "
          f"default threads here: {default_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})")
    print(f"{'threads':>7} {'busy core':>9} {'epoch s':>8} {'explain s':>9}  explain parts (s)", flush=True)
    for busy in (False, True):
        for n in counts:
            r = cell(args.data, n, busy, args.cell_seconds, args.umap_max_samples)
            if "timed_out" in r:
                print(f"{n:>7} {'yes' if busy else 'no':>9}  stopped after {r['timed_out']:.0f} s (epoch + explain)",
                      flush=True)
                continue
            parts = ", ".join(f"{k} {v:.1f}" for k, v in r["explain_parts"].items() if k != "total")
            print(f"{n:>7} {'yes' if busy else 'no':>9} {r['epoch_s']:>8.1f} {r['explain_s']:>9.1f}  {parts}  "
                  f"({r['samples']:,} samples, {r['train_samples']:,} training)", flush=True)


if __name__ == "__main__":
    main()
