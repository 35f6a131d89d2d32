#!/usr/bin/env python
"""Screenshot every dashboard page in headless chromium and time the first render.

    python scripts/app_screenshots.py [--out docs/screenshots] [--run RUN_DIR]

Starts ``streamlit run app/main.py`` on a free port (on checkpoints/default unless --run is given),
opens each page, waits until it has finished drawing, saves <page>.png (1400x1000) and reports
error elements and timings.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.ui import PAGES  # noqa: E402  (page id -> (file, title, icon))
from tests.browser import Chromium, StreamlitServer, find_chromium, switch_learner_by_row  # noqa: E402


def switch_learner(browser: Chromium, server: StreamlitServer) -> float:
    """Seconds from clicking the second row of the at-risk list to the new learner fully drawn."""
    browser.open_page(server.url, "learner", PAGES["learner"][1])
    return switch_learner_by_row(browser, 2)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    p.add_argument("--run", default=None, help="run directory to open (default: checkpoints/default)")
    p.add_argument("--runs", default=None, help="runs folder for the run picker and Compare runs (DSRSD_RUNS)")
    p.add_argument("--pages", nargs="*", default=list(PAGES))
    p.add_argument("--port", type=int, default=None, help="server port (default: a free one)")
    p.add_argument("--full", action="store_true", help="also save <page>_full.png of the whole page")
    args = p.parse_args()
    binary = find_chromium()
    if not binary:
        print("chromium not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    env = {"DSRSD_DEFAULT_RUN": args.run} if args.run else {}
    if args.runs:
        env["DSRSD_RUNS"] = args.runs
    server = StreamlitServer(env=env, port=args.port)
    browser = Chromium(binary)
    failed = False
    try:
        print(f"server healthy after {server.started:.1f} s")
        for i, page in enumerate(args.pages):
            took = browser.open_page(server.url, page, PAGES[page][1])
            if i == 0:
                print(f"first complete render of {page}: {time.monotonic() - t0:.1f} s after `streamlit run`")
            errors = browser.errors()
            shot = browser.screenshot(Path(args.out) / f"{page}.png")
            if args.full:
                browser.screenshot_full(Path(args.out) / f"{page}_full.png")
            print(f"{page:12s} rendered in {took:5.1f} s -> {shot}" + (f"  ERRORS: {errors}" if errors else ""))
            failed |= bool(errors)
        if "learner" in args.pages:
            try:
                print(f"switching learner (click a row of the at-risk list): {switch_learner(browser, server):.2f} s")
            except RuntimeError as e:
                print(f"switching learner: not timed ({e})")
    finally:
        browser.close()
        server.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
