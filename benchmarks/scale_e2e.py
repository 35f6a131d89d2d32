"""Benchmark: the real-scale path end to end, each stage in its own process: wall time and peak memory.

    python benchmarks/scale_e2e.py --work DIR [--enrolments 32593] [--epochs 2] [--threads N] [--device cpu]

Stages (each a fresh process; peak memory = that process's maximum resident set, from ``os.wait4``):

1. ``synth``: ``dsrsd synth --enrolments N`` (skipped when DIR/cohort already holds a cohort of that size);
2. ``pyarrow_read``: pandas ``read_csv(engine="pyarrow")`` of every CSV of the cohort, nothing else;
3. ``prepare``: the final-outcome tensors from the CSVs with an empty cache (what ``dsrsd train`` does
   first on new data), timed inside the process;
4. ``cached_reload``: the same call again, now from the cache, timed inside the process;
5. ``train``: ``dsrsd train --epochs E --no-explain`` (data from the cache);
6. ``explain``: ``dsrsd explain`` with its default limits.

Targets (issue 12): prepare <= 3x pyarrow_read, every stage < 4 GiB, cached reload < 2 s,
explain < 90 s for 25,000+ samples. Prints one line per stage and a summary; writes DIR/scale_e2e.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD = ("import json, sys, time; t = time.perf_counter(); from dsrsd_core.data.cache import load_cached; "
        "d = load_cached(sys.argv[1], target='at_risk', cutoff_fraction=0.5); "
        "print(json.dumps({'seconds': time.perf_counter() - t, 'samples': len(d)}))")
READ = ("import json, sys, time; from pathlib import Path; import pandas as pd; t = time.perf_counter(); "
        "rows = sum(len(pd.read_csv(f, engine='pyarrow')) for f in sorted(Path(sys.argv[1]).glob('*.csv'))); "
        "print(json.dumps({'seconds': time.perf_counter() - t, 'rows': rows}))")


def stage(name: str, cmd: list[str], env: dict) -> dict:
    """Run ``cmd``; wall time, peak RSS (ru_maxrss of this child alone) and its last JSON line, if any."""
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out_f, stderr=err_f, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (Popen.wait would discard it)
        wall = time.perf_counter() - t
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out_f.seek(0), err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    if code != 0:
        raise SystemExit(f"stage {name} failed ({code}): {' '.join(cmd)}\n{err[-3000:]}")
    # CPU seconds beside wall time: on a shared, loaded machine wall time follows the others' load
    row = {"stage": name, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
           "peak_rss_mib": usage.ru_maxrss / 1024, "command": " ".join(cmd)}
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{") and line.endswith("}"):
            row["reported"] = json.loads(line)
            break
    print(f"{name:<14} {wall:8.1f} s wall {row['cpu_s']:8.1f} s CPU  peak {row.get('peak_rss_mib', float('nan')):7.0f} MiB  "
          f"{json.dumps(row.get('reported', {}))}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, help="folder for the cohort, the cache and the run (outside the repo)")
    ap.add_argument("--enrolments", type=int, default=32593)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--explain-only", action="store_true", help="only the explain stage, on the run already in DIR")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    cohort, cache, run = work / "cohort", work / "cache", work / "run"
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "DSRSD_CACHE": str(cache)}
    py, threads = sys.executable, ([] if args.threads is None else ["--threads", str(args.threads)])
    if args.explain_only:
        stage("explain", [py, "-m", "dsrsd_core", "explain", str(run), "--quiet", *threads], env)
        parts = json.loads((run / "explain" / "summary.json").read_text())["seconds"]
        print("explain parts (s): " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))
        return
    rows = []
    info = cohort / "studentInfo.csv"
    if not (info.exists() and sum(1 for _ in info.open()) - 1 == args.enrolments):
        rows.append(stage("synth", [py, "-m", "dsrsd_core", "synth", "--out", str(cohort), "--enrolments",
                                    str(args.enrolments), "--quiet"], env))
    rows.append(stage("pyarrow_read", [py, "-c", READ, str(cohort)], env))
    shutil.rmtree(cache, ignore_errors=True)
    rows.append(stage("prepare", [py, "-c", LOAD, str(cohort)], env))
    rows.append(stage("cached_reload", [py, "-c", LOAD, str(cohort)], env))
    shutil.rmtree(run, ignore_errors=True)
    rows.append(stage("train", [py, "-m", "dsrsd_core", "train", "--data", str(cohort), "--out", str(run),
                                "--epochs", str(args.epochs), "--device", args.device, "--quiet", "--no-explain",
                                *threads], env))
    rows.append(stage("explain", [py, "-m", "dsrsd_core", "explain", str(run), "--quiet", *threads], env))

    by = {r["stage"]: r for r in rows}
    run_info = json.loads((run / "run.json").read_text())
    summary = json.loads((run / "explain" / "summary.json").read_text())
    prep, read = by["prepare"]["reported"]["seconds"], by["pyarrow_read"]["reported"]["seconds"]
    checks = {
        "prepare_vs_pyarrow_read": {"ratio": prep / read, "target": "<= 3", "ok": prep / read <= 3},
        "peak_memory_mib": {"max": max(r.get("peak_rss_mib", 0) for r in rows), "target": "< 4096",
                            "ok": max(r.get("peak_rss_mib", 0) for r in rows) < 4096},
        "cached_reload_s": {"value": by["cached_reload"]["reported"]["seconds"], "target": "< 2",
                            "ok": by["cached_reload"]["reported"]["seconds"] < 2},
        "explain_s": {"value": by["explain"]["wall_s"], "samples": by["prepare"]["reported"]["samples"],
                      "target": "< 90", "ok": by["explain"]["wall_s"] < 90},
    }
    result = {"machine": {"cores": os.cpu_count(), "load_average_at_end": os.getloadavg()},
              "threads": run_info.get("cpu_threads"), "epochs": args.epochs,
              "seconds_per_epoch": run_info["seconds"].get("per_epoch_mean"),
              "test_auc": json.loads((run / "metrics.json").read_text())["test"]["auc"],
              "explain_parts_s": summary.get("seconds"), "stages": rows, "checks": checks}
    (work / "scale_e2e.json").write_text(json.dumps(result, indent=2))
    print(f"\nthreads {result['threads']}; {result['seconds_per_epoch']:.1f} s/epoch; test AUC {result['test_auc']:.3f}")
    print("explain parts (s): " + ", ".join(f"{k} {v:.1f}" for k, v in (summary.get("seconds") or {}).items()))
    for k, v in checks.items():
        print(f"{k:<26} {'ok ' if v['ok'] else 'MISSED'}  {json.dumps({a: b for a, b in v.items() if a != 'ok'})}")
    print(f"wrote {work / 'scale_e2e.json'}")


if __name__ == "__main__":
    main()
