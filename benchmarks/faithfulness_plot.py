"""Test AUC against faithfulness for configurations measured with `dsrsd benchmark` (docs/benchmarks.md, 8).

Each configuration is a benchmark output folder (its ``results.csv``); the plot puts its mean test
AUC over the seeds on x, its shared-stream attribution on y (with the planted fraction's ±0.10
band), and labels each point with the number of seeds whose verdict is "trusted". Models without a
decomposition (baselines) appear as vertical lines at their mean AUC.

    python benchmarks/faithfulness_plot.py --png docs/img/faithfulness_v3.png --csv docs/img/faithfulness_v3.csv \
        "new default=runs/new" "InfoNCE 1=runs/full_infonce:dsrsd_full_infonce" "runs/baselines"

An argument is ``[LABEL=]FOLDER[:MODEL]``: MODEL picks one model of the folder (default: every model
in it, labelled by its name).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def summarise(arg: str) -> list[dict]:
    label, _, rest = arg.rpartition("=")
    folder, _, model = rest.partition(":")
    csv = Path(folder) / "results.csv"
    if not csv.is_file():
        raise SystemExit(f"{arg}: {csv} not found (a `dsrsd benchmark --out` folder holds one)")
    results = pd.read_csv(csv)
    results = results[results["split"] == "test"]
    if model:
        results = results[results["model"] == model]
    if results.empty:
        raise SystemExit(f"{arg}: no test results in {folder}/results.csv")
    rows = []
    for name, r in results.groupby("model"):
        wide = r.pivot_table(index="seed", columns="metric", values="value")
        row = {"configuration": label or name, "model": name, "seeds": len(wide),
               "auc_mean": wide["auc"].mean(), "auc_sd": wide["auc"].std()}
        if "decomp_verdict" in wide:
            row.update({"trusted_seeds": int((wide["decomp_verdict"] == 2).sum()),
                        "shared_attribution_mean": wide["decomp_shared_attribution"].mean(),
                        "shared_attribution_sd": wide["decomp_shared_attribution"].std()})
            if "decomp_planted_shared_fraction" in wide:
                row["planted_shared_fraction"] = wide["decomp_planted_shared_fraction"].iloc[0]
        rows.append(row)
    return rows


def plot(frame: pd.DataFrame, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5.6))
    fig.subplots_adjust(right=0.72)
    points = frame.dropna(subset=["shared_attribution_mean"])
    if points.empty:
        raise SystemExit("no configuration with a decomposition (DSRSD-Net or an ablation) to plot")
    if "planted_shared_fraction" in points and points["planted_shared_fraction"].notna().any():
        planted = float(points["planted_shared_fraction"].dropna().iloc[0])
        ax.axhspan(planted - 0.10, planted + 0.10, color="#e8f2e8", label=f"planted {planted:.3f} ± 0.10")
        ax.axhline(planted, color="#6a9f6a", lw=0.8)
    colour = points["trusted_seeds"] / points["seeds"]
    sc = ax.scatter(points["auc_mean"], points["shared_attribution_mean"], c=colour, cmap="RdYlGn", vmin=0, vmax=1,
                    s=60, edgecolor="black", zorder=3)
    ax.errorbar(points["auc_mean"], points["shared_attribution_mean"], xerr=points["auc_sd"],
                yerr=points["shared_attribution_sd"], fmt="none", ecolor="#999999", lw=0.8, zorder=2)
    # points crowd together: number them, and name them in a key beside the axes
    key = []
    for i, (_, p) in enumerate(points.iterrows(), 1):
        ax.annotate(str(i), (p["auc_mean"], p["shared_attribution_mean"]), textcoords="offset points",
                    xytext=(4, 3), fontsize=7)
        key.append(f"{i}  {p['configuration']} ({int(p['trusted_seeds'])}/{int(p['seeds'])} trusted)")
    fig.text(0.74, 0.95, "\n".join(key), va="top", fontsize=7, family="monospace")
    for _, b in frame[frame["shared_attribution_mean"].isna()].iterrows():  # baselines: a line at their AUC
        ax.axvline(b["auc_mean"], color="#555555", ls="--", lw=0.8)
        ax.annotate(b["configuration"], (b["auc_mean"], ax.get_ylim()[0]), rotation=90, fontsize=7,
                    xytext=(-9, 6), textcoords="offset points")
    fig.colorbar(sc, ax=ax, label="share of seeds with verdict \"trusted\"", pad=0.01)
    ax.set_xlabel("test AUC, mean over seeds (bars: sd)")
    ax.set_ylabel("shared-stream attribution (mean over seeds)")
    ax.set_title("Accuracy against faithfulness")
    ax.legend(loc="lower left", fontsize=8)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="[LABEL=]FOLDER[:MODEL], a `dsrsd benchmark --out` folder")
    ap.add_argument("--png", required=True)
    ap.add_argument("--csv")
    args = ap.parse_args(argv)
    frame = pd.DataFrame([row for arg in args.runs for row in summarise(arg)])
    if "shared_attribution_mean" not in frame:
        frame["shared_attribution_mean"] = float("nan")
    if args.csv:
        frame.round(4).to_csv(args.csv, index=False)
    plot(frame, Path(args.png))
    print(frame.round(3).to_string(index=False))
    print(f"wrote {args.png}" + (f" and {args.csv}" if args.csv else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
