"""dsrsd dashboard: which modality, and which of its shared and private streams, drives each prediction.

    streamlit run app/main.py

Opens the shipped run (checkpoints/default). Name a runs folder in the sidebar, or set DSRSD_RUNS,
to pick other runs and compare them. The app only reads run directories.
"""
from __future__ import annotations

import gc
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts app/ on the path, not the repo root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

# The first run of a server imports pandas, pyarrow and the app: with the collector on, its collections walk
# Streamlit's objects again and again during those imports (the imports alone 0.47 -> 0.27 s, the first run
# 0.62 -> 0.55 s under AppTest). Later runs import nothing here, and runs.freeze_loaded() then keeps what was
# imported out of every collection.
gc.disable()
try:
    from app import next_step, runs, ui  # noqa: E402
finally:
    gc.enable()

st.set_page_config(page_title="dsrsd · DSRSD-Net dashboard", page_icon=":material/hub:", layout="wide",
                   initial_sidebar_state="expanded")

pages = [st.Page(file, title=title, icon=icon, url_path=page_id, default=page_id == "overview")
         for page_id, (file, title, icon) in {**ui.PAGES, **next_step.PAGES}.items()]
nav = st.navigation(pages)
st.html("<style>[data-testid='stMainBlockContainer']{padding-top:2.5rem} h1{padding-top:0.5rem}</style>")
with ui.guard():
    ui.sidebar()
nav.run()
runs.freeze_loaded()
