"""Sweep DSRSD-Net's decomposition loss weights: test AUC against faithfulness of the split.

Trains DSRSD-Net (``dsrsd_core.benchmark.cells.run_cell``, the benchmark's own cell) on a data set
(default the synthetic default cohort, which has planted truth) for every combination of

* ``w_orthogonality`` in {0.1, 1, 10} x ``w_regression`` in {0.1, 1} x ``code_dim`` in {3, 8}
  (every other setting at its default), plus
* the ``dsrsd_paper_form`` ablation (the pre-probe defaults),

for each seed, and records per run: test AUC, the decomposition verdict, the share of planted
factors that sit where they were planted, the shared attribution fraction (mean |stream Shapley|
of the last class on the shared streams, test split) and its distance to the planted
``shared_signal_fraction``. Every run is written on its own (``OUT/runs/<config>/seed<k>.json``)
as soon as it is done, so an interrupted sweep resumes; runs are done seed by seed, so the first
seed finishes for every configuration before the second starts.

Outputs: ``--csv`` (one row per config x seed) and ``--png`` (test AUC against both faithfulness
measures, mean ± sd over seeds per configuration).

    OMP_NUM_THREADS=1 python benchmarks/decomposition_sweep.py --data synthetic --seeds 0,1,2 \\
        --out runs/dsweep --csv docs/img/decomposition_sweep.csv --png docs/img/decomposition_sweep.png
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dsrsd_core.benchmark.cells import run_cell  # noqa: E402
from dsrsd_core.benchmark.grid import _load_truth  # noqa: E402
from dsrsd_core.io import read_json, write_json  # noqa: E402
from dsrsd_core.train.config import Config  # noqa: E402
from dsrsd_core.train.pipeline import prepare  # noqa: E402

GRID = {"w_orthogonality": (0.1, 1.0, 10.0), "w_regression": (0.1, 1.0), "code_dim": (3, 8)}


def configurations() -> list[tuple[str, str, dict]]:
    """(label, model name, settings) for every sweep point, the paper's form last."""
    out = []
    for wo, wr, k in itertools.product(*GRID.values()):
        out.append((f"orth{wo:g}_reg{wr:g}_k{k}", "dsrsd_net",
                    {"w_orthogonality": wo, "w_regression": wr, "code_dim": k}))
    out.append(("paper_form", "dsrsd_paper_form", {}))
    return out


def row_of(label: str, name: str, settings: dict, seed: int, cell: dict) -> dict:
    d = cell["decomposition"]
    placed = list(d["placed"].values())
    frac = d.get("planted_shared_fraction")
    return {"config": label, "model": name, **{k: settings.get(k) for k in GRID}, "seed": seed,
            "test_auc": cell["metrics"]["test"]["auc"], "val_auc": cell["metrics"]["val"]["auc"],
            "verdict": d["verdict"], "placed_share": float(np.mean(placed)) if placed else np.nan,
            **{f"placed_{f}": float(v) for f, v in d["placed"].items()},
            "shared_attribution": d["shared_attribution"], "planted_shared_fraction": frac,
            "attribution_gap": abs(d["shared_attribution"] - frac) if frac is not None else np.nan,
            "cross_shared": float(np.nanmean(list(d["cross_shared"].values()))),
            "cross_private": float(np.nanmean(list(d["cross_private"].values()))),
            "cka": float(np.nanmean(list(d["cka"].values()))),
            "best_epoch": cell["best_epoch"], "seconds": cell["seconds"]["total"]}


def plot(frame: pd.DataFrame, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = frame.groupby("config", sort=False)
    agg = g.agg(auc=("test_auc", "mean"), auc_sd=("test_auc", "std"), placed=("placed_share", "mean"),
                placed_sd=("placed_share", "std"), gap=("attribution_gap", "mean"),
                gap_sd=("attribution_gap", "std"), n=("seed", "count")).fillna({"auc_sd": 0, "placed_sd": 0, "gap_sd": 0})
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for ax, (x, xsd, label) in zip(axes, (("placed", "placed_sd", "share of planted factors placed as planted"),
                                          ("gap", "gap_sd", "|shared attribution − planted shared fraction|"))):
        for name, r in agg.iterrows():
            paper = name == "paper_form"
            ax.errorbar(r[x], r["auc"], xerr=r[xsd], yerr=r["auc_sd"], fmt="s" if paper else "o",
                        color="tab:red" if paper else "tab:blue", alpha=0.8, capsize=2)
            ax.annotate(name, (r[x], r["auc"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test AUC")
    seeds = ", ".join(str(s) for s in sorted(frame["seed"].unique()))
    fig.suptitle(f"DSRSD-Net decomposition sweep (seeds {seeds}; mean ± sd; red square: the paper's form)")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def _reusable(bench_dir: str, name: str, seed: int, cfg: Config) -> dict | None:
    """A benchmark cell of ``name`` / ``seed`` trained with exactly ``cfg`` (after the ablation's changes)."""
    from dsrsd_core.benchmark.grid import CELL_VERSION, _jsonable, cell_path
    from dsrsd_core.models import model_config

    path = cell_path(Path(bench_dir), name, seed)
    if not path.exists():
        return None
    cell = read_json(path)
    if cell.get("cell_version") != CELL_VERSION or cell.get("config") != _jsonable(model_config(name, cfg).to_dict()):
        return None
    return {k: v for k, v in cell.items() if k not in ("config", "model", "seed")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    ap.add_argument("--out", default="runs/dsweep", help="folder for the per-run JSON (resumable)")
    ap.add_argument("--csv", default="docs/img/decomposition_sweep.csv")
    ap.add_argument("--png", default="docs/img/decomposition_sweep.png")
    ap.add_argument("--only-table", action="store_true", help="no training: tables and plot from the runs on disk")
    ap.add_argument("--reverse", action="store_true",
                    help="configurations in reverse order (a second worker on the same --out; a run another worker "
                         "has started, marked by a .running file, is skipped)")
    ap.add_argument("--reuse", default=None,
                    help="a `dsrsd benchmark --out` folder on the same data: its dsrsd_net / dsrsd_paper_form cells "
                         "trained with exactly a sweep point's settings are reused instead of retrained")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    out = Path(args.out)
    t0 = time.perf_counter()
    base = Config()
    data, _, data_dir = prepare(args.data, base)
    truth = _load_truth(data_dir)
    from dsrsd_core.data.splits import learner_split

    rows = []
    for seed in seeds:
        split = learner_split(data.meta["id_student"].to_numpy(), data.y, seed, base.val_fraction, base.test_fraction)
        for label, name, settings in configurations()[::-1] if args.reverse else configurations():
            path = out / "runs" / label / f"seed{seed}.json"
            cfg = replace(base, seed=seed, **settings)
            reused = _reusable(args.reuse, name, seed, cfg) if args.reuse and not path.exists() else None
            if reused is not None:
                write_json(path, {"config": label, "model": name, "settings": settings, "seed": seed,
                                  "reused_from": str(args.reuse), **reused})
                print(f"{label} seed {seed}: reused from {args.reuse}", flush=True)
            if path.exists():
                cell = read_json(path)
            elif args.only_table:
                continue
            else:
                running = path.with_suffix(".running")
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    running.open("x").close()
                except FileExistsError:
                    continue  # another worker trains it
                t = time.perf_counter()
                cell = run_cell(name, data, split, cfg, "cpu", truth)
                write_json(path, {"config": label, "model": name, "settings": settings, "seed": seed, **cell})
                running.unlink(missing_ok=True)
                print(f"{label} seed {seed}: test AUC {cell['metrics']['test']['auc']:.3f}, verdict "
                      f"{cell['decomposition']['verdict']}, {time.perf_counter() - t:.0f} s", flush=True)
            rows.append(row_of(label, name, settings, seed, cell))
    frame = pd.DataFrame(rows)
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.csv, index=False)
    if len(frame):
        plot(frame, Path(args.png))
    wall = time.perf_counter() - t0
    write_json(out / f"sweep_wall_{'_'.join(map(str, seeds))}.json",
               {"seeds": seeds, "wall_seconds": wall, "runs": len(frame), "argv": sys.argv})
    print(f"{len(frame)} runs in {wall / 60:.1f} min wall; wrote {args.csv} and {args.png}")
    if len(frame):
        print(markdown_table(frame))
    return 0


def _ms(v) -> str:
    v = pd.Series(v, dtype=float).dropna()
    if not len(v):
        return "n/a"
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def markdown_table(frame: pd.DataFrame) -> str:
    """One row per configuration: mean ± sd over its seeds."""
    lines = ["| config | w_orthogonality | w_regression | code_dim | seeds | test AUC | factors placed | "
             "shared attribution | \\|attr − planted\\| | verdict T/P/N | cross R² shared | cross R² private | CKA |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, g in frame.groupby("config", sort=False):
        v = g["verdict"]
        first = g.iloc[0]
        knob = [("—" if pd.isna(first[k]) else f"{first[k]:g}") for k in GRID]
        lines.append("| " + " | ".join([label, *knob, str(len(g)), _ms(g["test_auc"]), _ms(g["placed_share"]),
                                         _ms(g["shared_attribution"]), _ms(g["attribution_gap"]),
                                         f"{(v == 'trusted').sum()}/{(v == 'partly').sum()}/{(v == 'not').sum()}",
                                         _ms(g["cross_shared"]), _ms(g["cross_private"]), _ms(g["cka"])]) + " |")
    return "\n".join(lines)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    g = frame.groupby("config", sort=False)
    return g.agg(seeds=("seed", "count"), test_auc=("test_auc", "mean"), test_auc_sd=("test_auc", "std"),
                 placed_share=("placed_share", "mean"), attribution_gap=("attribution_gap", "mean"),
                 shared_attribution=("shared_attribution", "mean"),
                 trusted=("verdict", lambda v: int((v == "trusted").sum()))).reset_index()


if __name__ == "__main__":
    raise SystemExit(main())
