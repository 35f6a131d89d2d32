"""Benchmark: prepare the final-outcome tensors from a folder of OULAD tables, without the cache.

    python benchmarks/prepare_scale.py DIR          # e.g. a cohort from `dsrsd synth --enrolments 32593`

Prints wall time, peak RSS of this process and the sample count. Run it in a fresh process so the
peak memory is the preparation's own.
"""
from __future__ import annotations

import argparse
import resource
import time

from dsrsd_core.data.oulad import load_final_outcome


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--target", default="at_risk")
    args = ap.parse_args()
    t0 = time.perf_counter()
    data = load_final_outcome(args.data, target=args.target, progress=True)
    wall = time.perf_counter() - t0
    print(f"samples         {len(data):,}  (excluded: {data.report.get('excluded')})")
    for name, m in data.modalities.items():
        print(f"{name:<15} {tuple(m.x.shape)}  {m.x.nbytes / 2**20:.0f} MiB")
    print(f"wall time       {wall:.1f} s")
    print(f"peak RSS        {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
