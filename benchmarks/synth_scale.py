"""Benchmark: write a synthetic cohort at real OULAD scale and report time, memory and rows.

    python benchmarks/synth_scale.py [--enrolments 32593] [--seed 0] [--keep DIR]

Prints wall time, peak RSS of this process (resource.getrusage ru_maxrss) and rows per table.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dsrsd_core.data.synth import write_cohort  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--enrolments", type=int, default=32593)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", help="write here and keep the files (default: a temporary directory)")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="dsrsd_synth_") as tmp:
        out = Path(args.keep or tmp)
        t0 = time.perf_counter()
        summary = write_cohort(out, enrolments=args.enrolments, seed=args.seed, progress=args.progress)
        wall = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())

    print(f"enrolments      {args.enrolments}")
    print(f"presentations   {summary['presentations']}  students {summary['students']}")
    print(f"wall time       {wall:.1f} s")
    print(f"peak RSS        {rss / 1024:.0f} MiB")
    print(f"bytes written   {size / 2**20:.0f} MiB")
    for table, n in summary["rows"].items():
        print(f"{table:<20}{n:>12,}")
    n = args.enrolments
    print("final_result    " + ", ".join(f"{k} {v / n:.1%}" for k, v in sorted(summary["final_result"].items())))
    print(f"click rows per enrolment {summary['rows']['studentVle'] / n:.1f}")


if __name__ == "__main__":
    main()
