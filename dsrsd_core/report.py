"""``dsrsd report RUN_DIR --out FILE.html``: a static, self-contained HTML report of a run's main views.

Built from the same view helpers (:mod:`dsrsd_core.views`) and figure builders
(:mod:`dsrsd_core.figures`) as the dashboard. plotly.js is embedded once, inline, so the file opens
without a network connection; every figure stays interactive.
"""
from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from . import __version__
from . import educator as E
from . import figures as F
from . import views as V
from .errors import DsrsdError
from .io import atomic_path
from .run_dir import Run, load_run

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fff}
main{max-width:1180px;margin:0 auto;padding:24px 32px 64px}
h1{font-size:2rem;margin:.2em 0}h2{margin-top:2.2em;border-bottom:2px solid #eee;padding-bottom:.2em}
h3{margin-top:1.6em}.headline{font-size:1.2rem;font-weight:600;border:1px solid #ddd;border-radius:8px;
padding:14px 18px;background:#fafafa}.muted{color:#666;font-size:.9rem}
table.data{border-collapse:collapse;font-size:.86rem;margin:.6em 0}
table.data th,table.data td{border:1px solid #ddd;padding:4px 8px;text-align:right}
table.data th{background:#f4f4f4}table.data td:first-child,table.data th:first-child{text-align:left}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:18px}.note{background:#fff7e0;border:1px solid #f0d890;
padding:8px 12px;border-radius:6px}nav a{margin-right:14px}ul.facts li{margin:.25em 0}
"""
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


class _Doc:
    def __init__(self):
        self.parts: list[str] = []

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def text(self, tag: str, text: str, cls: str | None = None) -> None:
        self.add(f"<{tag}{f' class={cls!r}' if cls else ''}>{html.escape(text)}</{tag}>")

    def figure(self, fig) -> None:
        fig.update_layout(template="plotly_white")
        self.add(fig.to_html(full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG))

    def table(self, frame: pd.DataFrame, digits: int = 4) -> None:
        self.add(frame.round(digits).to_html(index=False, classes="data", border=0, na_rep="",
                                             float_format=lambda v: f"{v:.{digits}g}"))

    def grid(self, *builders: Callable[[], None]) -> None:
        self.add('<div class="grid">')
        for b in builders:
            self.add("<div>")
            b()
            self.add("</div>")
        self.add("</div>")


def _section(doc: _Doc, title: str, anchor: str, body: Callable[[], None]) -> None:
    doc.add(f'<h2 id="{anchor}">{html.escape(title)}</h2>')
    try:
        body()
    except DsrsdError as e:
        doc.add(f'<p class="note">{html.escape(str(e))}</p>')


def _overview(doc: _Doc, run: Run) -> None:
    if run.explained:
        test = run.summary["attribution"]["test"]
        doc.add(f'<p class="headline">{html.escape(V.headline(test["modality_share"], test.get("stream_share")))}</p>')
        pt = run.summary.get("planted_truth")
        if pt:
            doc.text("p", V.planted_truth_sentence(pt), "muted")
        verdict = V.verdict_view(run.decomposition)
        doc.text("p", f"Shared/private split: {verdict['label']}. {verdict['reason']} {verdict['meaning']}".strip())
    card = V.data_card(run.info, run.samples)
    doc.add("<h3>Data card</h3><ul class='facts'>" + "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in card["facts"].items()) + "</ul>")
    if len(card["presentations"]):
        doc.grid(lambda: (doc.add("<h3>Metrics</h3>"), doc.table(V.metrics_table(run.metrics))),
                 lambda: (doc.add("<h3>Presentations</h3>"), doc.table(card["presentations"])))
    else:  # knowledge tracing: no presentations
        doc.add("<h3>Metrics</h3>")
        doc.table(V.metrics_table(run.metrics))


def _dominance(doc: _Doc, run: Run) -> None:
    samples = run.samples.set_index("sample", drop=False)
    shap = run.table("shapley").set_index("sample")
    shares = V.test_shares(run.summary, run.metrics, run.streams)
    by_true = V.share_table(shap, run.streams, samples["label_name"])
    by_pred = V.share_table(shap, run.streams, samples["pred_name"])
    doc.grid(lambda: (doc.add("<h3>Per modality and stream (test split)</h3>"), doc.figure(F.modality_stream_bar(shares))),
             lambda: (doc.add("<h3>Shares (test split)</h3>"), doc.table(shares[["stream", "share"]])))
    doc.add("<h3>By true class (all splits)</h3>")
    doc.figure(F.share_bars(by_true, group_title="true class"))
    doc.add("<h3>By predicted class (all splits)</h3>")
    doc.figure(F.share_bars(by_pred, group_title="predicted class"))
    if all(f"gate_{s}" in samples for s in run.streams):
        gates = V.mean_by_group(samples, [f"gate_{s}" for s in run.streams], run.streams, samples["pred_name"], "gate")
        doc.add("<h3>Mean gate weight by predicted class</h3>")
        doc.figure(F.share_bars(gates, value="gate", group_title="predicted class"))
    vs = V.variance_share_table(run.summary)
    doc.add("<h3>Does the loudest modality dominate?</h3>")
    doc.text("p", V.loudest_check(dict(zip(vs["modality"], vs["input_variance"])),
                                  dict(zip(vs["modality"], vs["attribution_share"]))))
    doc.grid(lambda: doc.figure(F.variance_share_figure(vs)), lambda: doc.table(vs))
    agree = run.summary.get("method_agreement", {})
    ig = run.table("stream_ig").set_index("sample")
    doc.add("<h3>Agreement between exact Shapley and integrated gradients</h3>")
    doc.text("p", f"Mean Spearman {agree.get('mean_spearman', float('nan')):.2f}, median "
                  f"{agree.get('median_spearman', float('nan')):.2f}, positive for "
                  f"{agree.get('share_positive', float('nan')):.0%} of learners.")
    overall = V.share_table(shap, run.streams)
    doc.grid(lambda: doc.figure(F.agreement_histogram(ig["rank_agreement"])),
             lambda: doc.figure(F.method_agreement_figure(overall, V.share_table(ig, run.streams, prefix="ig_"))))


def _embedding(doc: _Doc, run: Run) -> None:
    learners = V.learners(run.by_sample("samples"), run.classes)
    umap = run.table("umap")
    emb = run.summary.get("embeddings", {})

    colours = {m: F.modality_colour(m, run.modalities) for m in run.modalities}
    classes = F.class_colours(run.classes)
    doc.text("p", "Stored 2-D UMAP maps (seeded). Shared streams of different modalities should meet in the "
                  "shared map; private streams stay apart.", "muted")
    for colour, cmap, label in (("modality", colours, "modality"), ("label_name", classes, "true class")):
        doc.add(f"<h3>Coloured by {label}</h3>")
        doc.grid(*[(lambda n=n: (doc.text("p", f"{n}: " + ", ".join(f"{k.replace('_', ' ')} {v:.2f}" for k, v in
                                                                     emb.get(n, {}).items() if k != 'n_points')),
                                 doc.figure(F.umap_figure(V.map_points(umap, n, learners, run.modalities), colour,
                                                          cmap, height=440, hover=False, marker_size=4))))
                   for n in ("shared_all", "private_all")])


def _drop(doc: _Doc, run: Run) -> None:
    tbl = V.drop_table(run.table("modality_drop"), "test")
    whole = tbl[tbl["mode"] != "stream"]
    doc.figure(F.drop_bar(whole, "auc", run.modalities, "Change in AUC when modalities are removed (test)"))
    doc.table(whole)
    if V.has_stream_drop(tbl):
        doc.add("<h3>Removing one stream (test)</h3>")
        streams = V.stream_drop_frame(tbl, run.modalities, "delta_auc")
        for sentence in V.stream_drop_sentences(streams, "test AUC", tol=0.01):
            doc.text("p", sentence)
        doc.table(streams)
    rob = run.table("robustness")
    doc.add("<h3>Robustness to noise (test)</h3>")
    doc.figure(F.robustness_figure(rob, "auc", run.modalities))


def _educators(doc: _Doc, run: Run) -> None:
    """The at-risk learners the model never saw (test split), most at risk first, with the top reasons in words."""
    learners = V.learners(run.by_sample("samples"), run.classes)
    table = lambda name: run.table(name) if run.has_table(name) else None  # noqa: E731
    record = E.record_tables(learners, run.classes, run.by_sample("shapley"), run.modalities, run.streams,
                             table("timeline_assessments"), table("timeline_clickstream"))
    test = learners[learners["split"] == "test"]
    export = E.at_risk_export(test, record, threshold=0.5)
    doc.text("p", f"{len(export):,} of the {len(test):,} learners of the test split (learners the model never saw) "
                  f"have a chance of being {E.risk_name(run.classes)} of 50% or more. Per learner, the two parts of "
                  "their record before the cut-off that raise that chance most, with their exact Shapley "
                  "contribution in percentage points. The dashboard's Learner explorer exports the same list for "
                  "any cohort (Educator export).", "muted")
    doc.table(export.drop(columns=["split"]))


def _diagnostics(doc: _Doc, run: Run) -> None:
    doc.figure(F.history_figure(run.history, run.info.get("best_epoch")))
    if not run.has_doc("diagnostics"):
        doc.add(f'<p class="note">No diagnostics: run <code>dsrsd explain {html.escape(str(run.path))}</code>.</p>')
        return
    diag = run.diagnostics
    per = diag.get("per_modality", {})
    mods = [m for m in diag.get("modalities", run.modalities) if m in per]
    ranks = pd.DataFrame({"modality": mods, "shared": [per[m].get("shared_effective_rank") for m in mods],
                          "private": [per[m].get("private_effective_rank") for m in mods],
                          "mean_abs_cross_correlation": [per[m].get("mean_abs_cross_correlation") for m in mods]})
    dims = next((per[m].get("dims") for m in mods if per[m].get("dims")), None)
    doc.grid(lambda: doc.figure(F.effective_rank_figure(ranks, dims, "Effective rank")), lambda: doc.table(ranks))
    doc.grid(*[(lambda m=m: doc.figure(F.heatmap(per[m]["shared_correlation"], f"{m}: shared-stream correlation",
                                                 height=360))) for m in mods])
    al = pd.DataFrame([{"pair": V.alignment_label(k), **v} for k, v in diag.get("alignment", {}).items()])
    if len(al):
        doc.add("<h3>Cross-modal alignment (test)</h3>")
        doc.table(al)


def build_report(run: Run) -> str:
    """The report's HTML text."""
    import plotly.offline

    doc = _Doc()
    doc.add(f"<h1>dsrsd report: {html.escape(run.name)}</h1>")
    doc.text("p", f"{run.path} · model {run.info.get('model')} · target {run.info.get('target')} · created "
                  f"{run.info.get('created')} · report written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by "
                  f"dsrsd {__version__}", "muted")
    sections = [("Overview", "overview", _overview), ("Modality dominance", "dominance", _dominance),
                ("At-risk learners (for educators)", "educators", _educators),
                ("Embedding space", "embedding", _embedding), ("Modality drop", "drop", _drop),
                ("Training diagnostics", "diagnostics", _diagnostics)]
    if not run.explained:
        doc.add(f'<p class="note">{html.escape(missing_explanation(run))}</p>')
    doc.add("<nav>" + "".join(f'<a href="#{a}">{html.escape(t)}</a>' for t, a, _ in sections) + "</nav>")
    for title, anchor, fn in sections:
        if not run.explained and anchor in ("dominance", "educators", "embedding", "drop"):
            doc.add(f'<h2 id="{anchor}">{html.escape(title)}</h2><p class="note">This run has no explanation; '
                    f'run <code>dsrsd explain {html.escape(str(run.path))}</code> first.</p>')
            continue
        _section(doc, title, anchor, lambda fn=fn: fn(doc, run))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>dsrsd report: {html.escape(run.name)}</title><style>{CSS}</style>"
            f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script></head>"
            f"<body><main>{''.join(doc.parts)}</main></body></html>")


def missing_explanation(run: Run) -> str:
    return (f"This run has no explanation, so the report holds its overview, metrics and training diagnostics only; "
            f"run `dsrsd explain {run.path}` to add attribution, the at-risk list, embeddings and modality drop.")


def write_report(run_dir: str | Path, out_html: str | Path, notes: list | None = None) -> Path:
    """Write the static report of the run at ``run_dir`` to ``out_html`` (atomically); return its path. ``notes``
    (a list) receives what the report leaves out, e.g. for a run without an explanation."""
    run = load_run(run_dir, require_explain=False)
    text = build_report(run)
    out = Path(out_html)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    if notes is not None and not run.explained:
        notes.append(missing_explanation(run))
    return out
