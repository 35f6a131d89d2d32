"""The at-risk list as a light clickable table: a click on a row opens that learner.

Streamlit's data grid took ~0.26 s from a click to a redrawn heading even in an app with nothing
else in it; this table (an ``st.components.v2`` component: plain HTML in the page, no iframe) takes
~0.14 s there (docs/benchmarks.md, "Dashboard speed"). It keeps what the list needs from the grid:
a scrolling body under a fixed header, sorting by a column, a bar for the chance at risk, keyboard
use. Python decides which learner is open, so no row stays checked after another learner is opened.
"""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from dsrsd_core import educator as E
from dsrsd_core import views as V

# the columns of a list of learners (the at-risk list, a selection on the maps), as they are shown
LEARNER_COLUMNS = {"id_student": "student", "presentation": "presentation", "risk": "chance at risk",
                   "pred_name": "predicted", "seen": "seen in training", "final_result": "final result"}
PAGE_SIZE = 500  # rows a page: every learner is reachable through the pages, and the page stays light
RISK_FORMAT = {"chance at risk": "{:.0f}%"}

CSS = """
.dsrsd-list { max-height: var(--list-height, 230px); overflow: auto; border: 1px solid rgba(128, 128, 128, 0.25);
  border-radius: 0.5rem; font-family: var(--st-font, sans-serif); font-size: 0.875rem; }
.dsrsd-list table { border-collapse: collapse; width: 100%; }
.dsrsd-list th { position: sticky; top: 0; background: var(--st-secondary-background-color, #f0f2f6);
  color: var(--st-text-color, inherit); font-weight: 600; text-align: left; padding: 0.35rem 0.6rem;
  cursor: pointer; user-select: none; white-space: nowrap; }
.dsrsd-list th[aria-sort="ascending"]::after { content: " ▲"; font-size: 0.7em; }
.dsrsd-list th[aria-sort="descending"]::after { content: " ▼"; font-size: 0.7em; }
.dsrsd-list td { padding: 0.3rem 0.6rem; border-top: 1px solid rgba(128, 128, 128, 0.15);
  color: var(--st-text-color, inherit); white-space: nowrap; }
.dsrsd-list tbody tr { cursor: pointer; }
.dsrsd-list tbody tr:hover, .dsrsd-list tbody tr:focus { background: var(--st-secondary-background-color, #f0f2f6);
  outline: none; }
.dsrsd-list tbody tr.open { box-shadow: inset 3px 0 0 var(--st-primary-color, #ff4b4b); font-weight: 600; }
.dsrsd-list .bar { display: inline-block; width: 4rem; height: 0.5rem; margin-right: 0.4rem; border-radius: 0.25rem;
  background: rgba(128, 128, 128, 0.2); vertical-align: middle; overflow: hidden; }
.dsrsd-list .bar span { display: block; height: 100%; background: var(--st-primary-color, #ff4b4b); }
"""

# Cells are set as text, never as HTML: student ids and presentation names come from data files.
JS = """
function markOpen(box, sample) {
  for (const tr of box.querySelectorAll('tbody tr.open')) if (Number(tr.dataset.sample) !== sample) tr.className = '';
  const tr = box.querySelector(`tbody tr[data-sample="${sample}"]`);
  if (tr && tr.className !== 'open') tr.className = 'open';
}

// Builds the table from state.data; handlers read state at event time, so they always use the latest render's
// data and setTriggerValue.
function draw(box, state) {
  const data = state.data;
  const order = data.rows.map((_, i) => i);
  if (state.sortBy !== null && state.sortBy < data.columns.length) {
    const c = state.sortBy, sign = state.descending ? -1 : 1;
    const keys = data.sort_keys[c] || data.rows.map((r) => r[c]);  // a text column sorts by its text
    order.sort((a, b) => (keys[a] < keys[b] ? -sign : keys[a] > keys[b] ? sign : a - b));
  }
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  data.columns.forEach((name, c) => {
    const th = document.createElement('th');
    th.textContent = name;
    th.title = data.help[c] || 'Sort by ' + name;
    if (state.sortBy === c) th.setAttribute('aria-sort', state.descending ? 'descending' : 'ascending');
    th.onclick = () => {
      state.descending = state.sortBy === c ? !state.descending : false;
      state.sortBy = c;
      draw(box, state);
    };
    head.appendChild(th);
  });
  const body = table.createTBody();
  for (const i of order) {
    const tr = body.insertRow();
    tr.tabIndex = 0;
    tr.dataset.sample = data.samples[i];
    data.rows[i].forEach((text, c) => {
      const td = tr.insertCell();
      if (c === data.bar_column) {
        const bar = document.createElement('span'), fill = document.createElement('span');
        bar.className = 'bar';
        fill.style.width = Math.max(0, Math.min(100, data.sort_keys[c][i])) + '%';
        bar.appendChild(fill);
        td.appendChild(bar);
      }
      td.appendChild(document.createTextNode(text));
    });
  }
  body.onclick = (e) => { const tr = e.target.closest('tr'); if (tr) state.open(tr); };
  body.onkeydown = (e) => {
    const tr = e.target.closest('tr');
    if (!tr) return;
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); state.open(tr); }
    if (e.key === 'ArrowDown' && tr.nextElementSibling) { e.preventDefault(); tr.nextElementSibling.focus(); }
    if (e.key === 'ArrowUp' && tr.previousElementSibling) { e.preventDefault(); tr.previousElementSibling.focus(); }
  };
  const top = box.scrollTop;
  box.replaceChildren(table);
  box.scrollTop = top;
  markOpen(box, data.open);
}

export default function(component) {
  const { data, setTriggerValue, parentElement } = component;
  let box = parentElement.querySelector('.dsrsd-list');
  if (!box) {
    box = document.createElement('div');
    box.className = 'dsrsd-list';
    parentElement.appendChild(box);
  }
  box.style.setProperty('--list-height', data.height + 'px');
  const state = box.__dsrsd || (box.__dsrsd = { sortBy: null, descending: false, rowsKey: null });
  state.data = data;
  state.open = (tr) => setTriggerValue('open', Number(tr.dataset.sample));
  if (state.rowsKey === data.rows_key && box.querySelector('tbody')) {
    markOpen(box, data.open);  // the same rows (a learner switch): only the open row's mark moves
    return;
  }
  state.rowsKey = data.rows_key;
  draw(box, state);
}
"""

_COMPONENT = st.components.v2.component("dsrsd_pick_list", css=CSS, js=JS)


def pick_list(frame: pd.DataFrame, samples: list[int], open_sample: int | None, key: str,
              on_open: Callable[[int], None], bar: str | None = None, formats: dict | None = None,
              tips: dict | None = None, height: int = 230) -> None:
    """Show ``frame`` (one row per learner, ``samples`` in the same order) as a clickable table; a click or
    Enter on a row calls ``on_open(sample)``. ``bar``: a column of percentages (0-100) drawn as a bar beside
    its number; ``formats``: column -> format string for the shown text (sorting uses the values); ``tips``:
    column -> the tooltip of its header."""
    formats = formats or {}
    columns = list(frame.columns)
    text = [[_format(v, formats.get(c)) for c, v in zip(columns, row)] for row in frame.itertuples(index=False)]
    keys = [_sort_keys(frame[c]) for c in columns]
    data = {
        # what the rows are: the browser rebuilds the table only when it changes
        "rows_key": str(int(pd.util.hash_pandas_object(frame.assign(_sample=list(samples)), index=False).sum())),
        "columns": columns,
        "rows": text,
        "sort_keys": keys,
        "samples": [int(s) for s in samples],
        "open": None if open_sample is None else int(open_sample),
        "bar_column": columns.index(bar) if bar in columns and keys[columns.index(bar)] is not None else -1,
        "help": [(tips or {}).get(c, "") for c in columns],
        "height": int(height),
    }

    def clicked() -> None:
        value = getattr(st.session_state[key], "open", None)
        if value is not None:
            on_open(int(value))

    _COMPONENT(data=data, key=key, on_open_change=clicked)


def _format(value, fmt: str | None) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    return fmt.format(value) if fmt else str(value)


def _sort_keys(column: pd.Series) -> list | None:
    """What the browser sorts a numeric column by (None for any other column: it sorts by the shown text,
    which is not sent twice)."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return [float(v) if pd.notna(v) else -1e300 for v in column]  # JSON has no -inf; missing sorts first
    return None


def learner_rows(learners: pd.DataFrame) -> pd.DataFrame:
    """``learners`` (rows of :func:`app.runs.learners`) as a list shows them: the LEARNER_COLUMNS it has, the
    predicted class in words, whether training saw the learner, the chance at risk in percent."""
    view = learners.assign(seen=learners["split"].map(E.SEEN).fillna(learners["split"]),
                           pred_name=learners["pred_name"].map(V.humanize))
    view = view[[c for c in LEARNER_COLUMNS if c in view]].rename(columns=LEARNER_COLUMNS)
    view["chance at risk"] = view["chance at risk"] * 100
    return view


def learner_tips(classes) -> dict:
    """The header tooltips of a list of learners."""
    return {"chance at risk": f"The model's probability {V.risk_label(classes)}, in percent.",
            "seen in training": "yes: the model was fitted on this learner; partly: the learner's split chose the "
                                "training epoch; no: test split, never seen."}


def page_of(rows: pd.DataFrame, key: str, label: str) -> tuple[pd.DataFrame, int]:
    """The PAGE_SIZE rows of ``rows`` on the page chosen in a number box (shown only when there is more than
    one page), and the position of its first row."""
    n_pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = st.number_input(f"{label} (of {n_pages})", 1, n_pages, 1, key=key) if n_pages > 1 else 1
    lo = (int(page) - 1) * PAGE_SIZE
    return rows.iloc[lo:lo + PAGE_SIZE], lo
