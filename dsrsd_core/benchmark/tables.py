"""``results.md``: the benchmark's cells as markdown tables (test metrics with paired differences
to DSRSD-Net, robustness, modality dominance, planted truth, the decomposition of the models with
shared and private streams)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..models import display_name
from .cells import METRICS, REFERENCE


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _mean_std(values) -> str:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not len(v):
        return "n/a"
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def paired_difference(model_values: dict[int, float], ref_values: dict[int, float]) -> tuple[float, float, int]:
    """Mean of (model - reference) over the seeds both have, the paired t-test p-value, n."""
    from scipy.stats import ttest_rel

    seeds = sorted(set(model_values) & set(ref_values))
    a = np.array([model_values[s] for s in seeds], dtype=float)
    b = np.array([ref_values[s] for s in seeds], dtype=float)
    if not len(seeds):
        return math.nan, math.nan, 0
    diff = float(np.mean(a - b))
    p = math.nan
    if len(seeds) >= 2 and np.std(a - b) > 0:
        p = float(ttest_rel(a, b).pvalue)
    return diff, p, len(seeds)


def _by_model(cells: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for c in cells:
        out.setdefault(c["model"], []).append(c)
    return out


def results_markdown(cells: list[dict], info: dict) -> str:
    groups = _by_model(cells)
    mods = info["modalities"]
    ref = {k: {c["seed"]: c["metrics"]["test"][k] for c in groups.get(REFERENCE, [])} for k in METRICS}
    last = info["invocations"][-1]
    lines = [f"# Benchmark: {info['task']} / {info['target']} on {info['data']}", ""]
    if last.get("command"):
        lines += ["Command (rerun it to resume or regenerate; finished cells are not rerun):", "",
                  f"    {last['command']}", ""]
    lines += [f"- samples: {info['n_samples']:,}"
              + (f" from presentations {', '.join(info['presentations'])}" if info["presentations"] else "")
              + f"; modality coverage: {', '.join(f'{m} {v:.0%}' for m, v in info['modality_coverage'].items())}",
              f"- cells: {len(cells)} ({len(groups)} models); this invocation ran {last['cells_run']} and reused "
              f"{last['cells_skipped']} in {last['wall_seconds'] / 60:.1f} min wall time on {last['device']}; "
              f"all {len(info['invocations'])} invocation(s) together: "
              f"{sum(i.get('wall_seconds') or 0 for i in info['invocations']) / 60:.1f} min wall time; "
              f"training + evaluation of all cells: {info['cell_seconds_total'] / 60:.1f} min",
              f"- settings: epochs {info['config']['epochs']}, patience {info['config']['patience']}, "
              f"split {info.get('split', 'learner')}, d_model {info['config']['d_model']}, batch {info['config']['batch_size']}, lr {info['config']['lr']}; "
              f"data fingerprint {info['data_fingerprint']}", ""]

    lines += ["## Test metrics", "",
              "Mean ± standard deviation over seeds (each seed: its own learner split and initialisation). "
              "Δ = model − DSRSD-Net on the same seeds; p = paired t-test across seeds "
              "(scipy.stats.ttest_rel). With this few seeds the test has little power: read p as a rough "
              "guide, not a verdict.", "",
              "| model | seeds | AUC | macro-F1 | accuracy | Δ AUC (p) | Δ macro-F1 (p) | Δ accuracy (p) | s / cell |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, cs in groups.items():
        row = [display_name(name) + ("" if name == display_name(name) else f" (`{name}`)"), str(len(cs))]
        row += [_mean_std([c["metrics"]["test"][k] for c in cs]) for k in METRICS]
        for k in METRICS:
            if name == REFERENCE or not ref[k]:
                row.append("—")
            else:
                d, p, n = paired_difference({c["seed"]: c["metrics"]["test"][k] for c in cs}, ref[k])
                row.append(f"{d:+.3f} ({_fmt(p, 2)})" if n else "—")
        row.append(f"{np.mean([c['seconds']['total'] for c in cs]):.0f}")
        lines.append("| " + " | ".join(row) + " |")

    lines += ["", "## Robustness: test AUC with one modality removed at test time", "",
              "The modality is removed through the model's own missing-modality path (presence mask; NaN "
              "features for the trees). Δ in brackets: change from the full model's AUC.", "",
              "| model | full | " + " | ".join(f"without {m}" for m in mods) + " |",
              "|---|---|" + "---|" * len(mods)]
    for name, cs in groups.items():
        full = np.mean([c["metrics"]["test"]["auc"] for c in cs])
        row = [display_name(name), _mean_std([c["metrics"]["test"]["auc"] for c in cs])]
        for m in mods:
            v = [c["robustness"][m]["auc"] for c in cs]
            row.append(f"{_mean_std(v)} ({np.mean(v) - full:+.3f})")
        lines.append("| " + " | ".join(row) + " |")

    lines += ["", "## Modality dominance", "",
              "Exact Shapley values over the modalities (removal = the model's missing-modality path) of "
              "each test sample's predicted-class probability; share = that modality's share of mean |phi|. "
              "Top share: 1/M when balanced, 1 when one modality holds everything; entropy of the shares "
              "normalised by log M (1 = balanced, 0 = one modality).", "",
              "| model | top modality (seeds) | top share | entropy | " + " | ".join(f"share {m}" for m in mods) + " |",
              "|---|---|---|---|" + "---|" * len(mods)]
    for name, cs in groups.items():
        tops = pd.Series([c["dominance"]["top"] for c in cs]).value_counts()
        row = [display_name(name), ", ".join(f"{t} ({n})" for t, n in tops.items()),
               _mean_std([c["dominance"]["top_share"] for c in cs]), _mean_std([c["dominance"]["entropy"] for c in cs])]
        row += [_mean_std([c["dominance"]["share"][m] for c in cs]) for m in mods]
        lines.append("| " + " | ".join(row) + " |")

    planted = [c for c in cells if c.get("planted")]
    if planted:
        p0 = planted[0]["planted"]
        lines += ["", "## Planted truth (synthetic cohort)", "",
                  f"Expected modality ranking (ground_truth.json): {' > '.join(p0['expected_ranking'])}; "
                  f"dominance trap (largest raw variance, no label signal): **{p0['dominance_trap']}**. "
                  "Rank correlation: Spearman between each model's modality importance (mean |phi|) and the "
                  "planted order (n/a when all importances tie; a single-modality model gives the modalities it "
                  "never reads a tie at 0, so its correlation says little).", "",
                  "| model | rank correlation | trap share | trap wins (seeds) | measured ranking (first seed) |",
                  "|---|---|---|---|---|"]
        for name, cs in _by_model(planted).items():
            wins = sum(bool(c["planted"]["trap_wins"]) for c in cs)
            lines.append("| " + " | ".join([
                display_name(name), _mean_std([c["planted"]["rank_correlation"] for c in cs]),
                _mean_std([c["planted"]["trap_share"] for c in cs]), f"{wins} / {len(cs)}",
                " > ".join(cs[0]["planted"]["measured_ranking"])]) + " |")
    lines += decomposition_markdown(cells, mods)
    lines += ["", f"Generated by `dsrsd benchmark` at {last['started']} (UTC); cells in `cells/`, long table in "
              "`results.csv` (model, seed, split, metric, value).", ""]
    return "\n".join(lines)


def _nanmean(values) -> float:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    return float(v.mean()) if len(v) else math.nan


def _factor_cell(cs: list[dict], f: str, kind: str, mods: list[str]) -> str:
    """"placed k/n; R^2 where planted" for one factor over a model's seeds."""
    placed = [c["decomposition"]["placed"][f] for c in cs if f in c["decomposition"]["placed"]]
    r2s = [c["decomposition"]["r2"].get(f, {}) for c in cs]
    if kind == "shared":
        vals = [min((r.get(f"{m}.shared", math.nan) for m in mods), default=math.nan) for r in r2s]
        where = f"min sh {_mean_std(vals)}"
    else:
        m = mods[0] if mods else ""
        where = (f"p {_mean_std([r.get(f'{m}.private', math.nan) for r in r2s])}, "
                 f"leak {_mean_std([r.get(f'{m}.shared', math.nan) for r in r2s])}")
    return (f"{sum(placed)}/{len(placed)}; " if placed else "") + where


def decomposition_markdown(cells: list[dict], mods: list[str]) -> list[str]:
    """The "Decomposition" section: models with shared/private streams only (empty list if none)."""
    dec = [c for c in cells if c.get("decomposition")]
    if not dec:
        return []
    groups = _by_model(dec)
    planted = any(c["decomposition"].get("planted_shared_fraction") is not None for c in dec)
    lines = ["", "## Decomposition: do the shared and private streams mean what they say?", "",
             "Models with shared and private streams only (`dsrsd_core/explain/decomposition.py`, fit on "
             "train, scored on test, best of the linear and MLP probes). Verdict: trusted / partly / not per seed (planted factors "
             "decide on synthetic data, cross-modal proxies otherwise). Shared attribution: share of mean "
             "|stream Shapley| of the last class on the shared streams (test split)"
             + (", beside the planted `shared_signal_fraction`" if planted else "") + ". Cross R²: ridge R² of a "
             "modality's stream from the other modalities' streams of the same kind, mean over modalities; "
             "CKA: RBF CKA between a modality's shared and private streams, mean over modalities.", "",
             "| model | seeds | verdict T/P/N | shared attribution | " + ("planted | abs(attr − planted) | placed | " if planted else "")
             + "cross R² shared | cross R² private | CKA |",
             "|---|---|---|---|" + ("---|---|---|" if planted else "") + "---|---|---|"]
    for name, cs in groups.items():
        ds = [c["decomposition"] for c in cs]
        v = pd.Series([d["verdict"] for d in ds])
        row = [display_name(name), str(len(cs)),
               f"{(v == 'trusted').sum()}/{(v == 'partly').sum()}/{(v == 'not').sum()}",
               _mean_std([d["shared_attribution"] for d in ds])]
        if planted:
            fr = [d.get("planted_shared_fraction") for d in ds]
            row.append(_fmt(next((x for x in fr if x is not None), math.nan)))
            row.append(_mean_std([abs(d["shared_attribution"] - d["planted_shared_fraction"]) for d in ds
                                  if d.get("planted_shared_fraction") is not None]))
            row.append(_mean_std([np.mean(list(d["placed"].values())) if d["placed"] else math.nan for d in ds]))
        row += [_mean_std([_nanmean([d["cross_shared"].get(m, math.nan) for m in mods]) for d in ds]),
                _mean_std([_nanmean([d["cross_private"].get(m, math.nan) for m in mods]) for d in ds]),
                _mean_std([_nanmean([d["cka"].get(m, math.nan) for m in mods]) for d in ds])]
        lines.append("| " + " | ".join(row) + " |")
    factors = {}
    for c in dec:
        for f, kind in c["decomposition"].get("factor_kind", {}).items():
            factors.setdefault(f, (kind, c["decomposition"]["factor_modalities"][f]))
    if factors:
        lines += ["", "Per planted factor: seeds where it sits as planted (k/n), then the best probe's test R² "
                  "(linear or MLP) where it was planted, mean ± sd over seeds: a shared factor's lowest R² over the shared streams of the "
                  "modalities observing it (min sh; wanted ≥ 0.5), a private factor's R² in its modality's private "
                  "stream (p; wanted ≥ 0.5) and in its shared stream (leak; wanted ≤ 0.15).", "",
                  "| model | " + " | ".join(f"{f} ({k}: {', '.join(m)})" for f, (k, m) in factors.items()) + " |",
                  "|---|" + "---|" * len(factors)]
        for name, cs in groups.items():
            lines.append("| " + " | ".join([display_name(name)] + [_factor_cell(cs, f, k, m)
                                                                   for f, (k, m) in factors.items()]) + " |")
    return lines
