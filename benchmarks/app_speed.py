#!/usr/bin/env python
"""How fast the dashboard answers, measured in a real browser (headless Debian chromium over CDP).

    python benchmarks/app_speed.py [--run RUN_DIR] [--repeat 3] [--sessions 10]

Starts ``streamlit run app/main.py`` on the run (the shipped one by default) and reports, median of
``--repeat`` tries where it can repeat:

* cold first render of Overview (server started, caches empty) and warm first render (a new browser
  session on a warm server: a reload);
* learner switch by clicking a row of the at-risk list, and by typing a student id;
* other actions: switching the at-risk list between the test split and all learners, and recolouring the
  Embedding space's two maps ("Colour by"; timed from the click on the new colour, opening the box not counted),
  after the first visit of that page (``embedding_page_first``); and a box selection on the first map (from the
  button's release to the list of the selected learners drawn; ``box_select_learners``: how many each box held);
* the server's resident memory (RSS, this process and its children) with one session, with
  ``--sessions`` sessions open at once (browser tabs on the Learner explorer), and 30 s after closing them.

Each action is timed twice: until the page reads as drawn for 0.3 s (polled every 0.1 s, which overstates
short actions by up to ~0.15 s) and until its last DOM change (``*_last_change_s``).

Timings depend on the machine: quote them with its load and thread settings.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import LEARNER_HEADING as HEADING  # noqa: E402
from tests.browser import FIRST_MAP, SELECTED_HEADING  # noqa: E402
from tests.browser import Chromium, StreamlitServer, find_chromium, list_students, switch_learner_by_row  # noqa: E402

def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MB (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
            todo += [int(c) for c in children]
        except OSError:
            continue
    return total / 1024


# Each action is also timed to the page's last DOM change: a MutationObserver installed in every new document
# before its scripts run (so performance.now(), counted from the navigation's start, times a page load).
OBSERVE = ("window.__dsrsdLast = 0; new MutationObserver(() => { window.__dsrsdLast = performance.now(); })"
           ".observe(document, {subtree: true, childList: true, attributes: true, characterData: true});")


def load(browser: Chromium, url: str, page: str, title: str) -> tuple[float, float]:
    """(seconds by the settle rule, seconds from navigation start to the last DOM change) of opening ``page``."""
    settled = browser.open_page(url, page, title)
    return settled, browser.evaluate("window.__dsrsdLast") / 1000


def timed(browser: Chromium, action, *args) -> tuple[float, float]:
    """(seconds by the settle rule, seconds to the last DOM change) of ``action(browser, *args)``."""
    t0 = browser.evaluate("window.__dsrsdLast = performance.now()")
    settled = action(browser, *args)
    return settled, (browser.evaluate("window.__dsrsdLast") - t0) / 1000


def record(out: dict, name: str, times: list[tuple[float, float]]) -> None:
    out[f"{name}_s"] = round(statistics.median(t[0] for t in times), 2)
    out[f"{name}_last_change_s"] = round(statistics.median(t[1] for t in times), 2)


def wait_heading_change(browser: Chromium, before: str, t0: float, timeout: float = 30) -> float:
    while browser.evaluate(HEADING) == before and time.monotonic() - t0 < timeout:
        time.sleep(0.02)
    browser.wait_rendered(timeout=timeout, settle=0.3)
    return time.monotonic() - t0 - 0.3


def switch_by_id(browser: Chromium, student: str) -> float:
    """Type a student id into the search box and press Enter; seconds until that learner is drawn."""
    before = browser.evaluate(HEADING)
    browser.evaluate("(() => { const e = document.querySelector('input[aria-label=\"Find a learner by student id\"]');"
                     " e.focus(); e.select(); })()")
    t0 = time.monotonic()
    browser.call("Input.insertText", text=student)
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13)
    return wait_heading_change(browser, before, t0)


def toggle_scope(browser: Chromium, label: str) -> float:
    """Click the at-risk list's scope button ``label``; seconds until the list's caption has changed."""
    caption = ("(() => { for (const c of document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')) "
               "if (c.innerText.includes('learners in the list')) return c.innerText; return ''; })()")
    before = browser.evaluate(caption)
    t0 = time.monotonic()
    ok = browser.evaluate(f"(() => {{ for (const b of document.querySelectorAll('button')) "
                          f"if (b.innerText.trim().startsWith({json.dumps(label)})) {{ b.click(); return true; }} "
                          f"return false; }})()")
    if not ok:
        raise RuntimeError(f"no button {label!r}")
    while browser.evaluate(caption) == before and time.monotonic() - t0 < 30:
        time.sleep(0.02)
    browser.wait_rendered(timeout=30, settle=0.3)
    return time.monotonic() - t0 - 0.3


def mouse_click(browser: Chromium, point: dict) -> None:
    """A real click (react-aria's menus ignore a scripted element.click())."""
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        browser.call("Input.dispatchMouseEvent", type=kind, x=point["x"], y=point["y"], button="left",
                     clickCount=0 if kind == "mouseMoved" else 1)


def centre_of(browser: Chromium, js: str) -> dict | None:
    return browser.evaluate(f"(() => {{ const e = {js}; if (!e) return null; e.scrollIntoView({{block: 'center'}}); "
                            "const r = e.getBoundingClientRect(); return {x: r.left + r.width / 2, "
                            "y: r.top + r.height / 2}; })()")


def recolour(browser: Chromium, option: str) -> tuple[float, float]:
    """Pick ``option`` in the Embedding space's "Colour by" box: (seconds by the settle rule, seconds to the last
    DOM change), both from the click on the option (opening the box is not counted)."""
    box = "document.querySelector('input[aria-label=\"Colour by\"]')"
    mouse_click(browser, centre_of(browser, f"{box}.parentElement.querySelector('button')"))
    option_js = (f"[...document.querySelectorAll('[role=\"option\"]')]"
                 f".find(o => o.innerText.trim() === {json.dumps(option)})")
    deadline = time.monotonic() + 10
    while (point := centre_of(browser, option_js)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no option {option!r} in 'Colour by'")
        time.sleep(0.03)
    start = browser.evaluate("window.__dsrsdLast = performance.now()")
    t0 = time.monotonic()
    mouse_click(browser, point)
    while browser.evaluate(f"{box}.value") != option and time.monotonic() - t0 < 30:
        time.sleep(0.02)
    browser.wait_rendered(timeout=60, settle=0.3)
    settled = time.monotonic() - t0 - 0.3
    return settled, (browser.evaluate("window.__dsrsdLast") - start) / 1000


def box_select(browser: Chromium, centre: tuple[float, float], half: float) -> tuple[float, float, str]:
    """On the Embedding page, drag a box of ``2 * half`` pixels around ``centre`` (fractions of the first map's
    width and height) with its Box select tool: (seconds by the settle rule, seconds to the last DOM change, the
    heading of the selection's list), both from the button's release."""
    browser.evaluate(f"{FIRST_MAP}.tools.querySelector('[data-mode=box]').click()")
    r = browser.evaluate(f"(() => {{ const p = {FIRST_MAP}.plot; p.scrollIntoView({{block: 'center'}}); "
                         "const r = p.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; })()")
    x, y = r["x"] + r["w"] * centre[0], r["y"] + r["h"] * centre[1]
    before = browser.evaluate(SELECTED_HEADING)
    browser.call("Input.dispatchMouseEvent", type="mousePressed", x=x - half, y=y - half, button="left", clickCount=1)
    browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=x + half, y=y + half, button="left", buttons=1)
    start = browser.evaluate("window.__dsrsdLast = performance.now()")
    t0 = time.monotonic()
    browser.call("Input.dispatchMouseEvent", type="mouseReleased", x=x + half, y=y + half, button="left", clickCount=1)
    while browser.evaluate(SELECTED_HEADING) == before and time.monotonic() - t0 < 30:
        time.sleep(0.02)
    browser.wait_rendered(timeout=30, settle=0.3)
    settled = time.monotonic() - t0 - 0.3
    return settled, (browser.evaluate("window.__dsrsdLast") - start) / 1000, browser.evaluate(SELECTED_HEADING)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default=None, help="run directory (default: checkpoints/default)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--port", type=int, default=None, help="server port (default: a free one)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = p.parse_args()
    binary = find_chromium()
    if not binary:
        print("chromium not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    out: dict = {"run": args.run or "checkpoints/default"}
    t_start = time.monotonic()
    server = StreamlitServer(env={"DSRSD_DEFAULT_RUN": args.run} if args.run else {}, port=args.port)
    browser = Chromium(binary)
    tabs = []
    try:
        out["server_start_s"] = round(server.started, 2)
        browser.call("Page.addScriptToEvaluateOnNewDocument", source=OBSERVE)
        record(out, "cold_overview", [load(browser, server.url, "overview", "Overview")])
        out["cold_overview_since_start_s"] = round(time.monotonic() - t_start, 2)
        warm = []
        for _ in range(args.repeat):
            browser.navigate("about:blank")
            time.sleep(0.3)
            warm.append(load(browser, server.url, "overview", "Overview"))
        record(out, "warm_overview", warm)
        record(out, "learner_page_first", [timed(browser, lambda b: b.open_page(server.url, "learner",
                                                                                "Learner explorer"))])
        out["rss_one_session_mb"] = round(rss_mb(server.proc.pid), 1)
        record(out, "switch_by_row", [timed(browser, switch_learner_by_row, 2 + i % 3) for i in range(args.repeat)])
        # learners of the list other than the one open (searching that one would change nothing, and wait 30 s)
        shown = browser.evaluate(HEADING).split()[1]
        students = [s for s in list_students(browser) if s.isdigit() and s != shown][:args.repeat]
        if students:
            # the first search right after the row clicks is reported beside the median
            by_id = [timed(browser, switch_by_id, s) for s in students]
            record(out, "switch_by_id", by_id)
            out["switch_by_id_first_s"] = round(by_id[0][0], 2)
        record(out, "toggle_list_scope", [timed(browser, toggle_scope, "all learners" if i % 2 == 0 else "not seen")
                                          for i in range(args.repeat)])
        record(out, "embedding_page_first", [timed(browser, lambda b: b.open_page(server.url, "embedding",
                                                                                  "Embedding space"))])
        colours = ["True class", "Predicted class", "Correct / wrong", "Modality"]
        record(out, "recolour_maps", [recolour(browser, colours[i % len(colours)]) for i in range(args.repeat)])
        # boxes of 100-160 px around points of the first map: hundreds to thousands of learners each
        boxes = [box_select(browser, (0.35 + 0.06 * (i % 5), 0.5), 50 + 15 * (i % 5)) for i in range(args.repeat)]
        record(out, "box_select", [b[:2] for b in boxes])
        out["box_select_learners"] = [int(b[2].split()[0].replace(",", "")) for b in boxes]
        for _ in range(args.sessions - 1):  # more sessions: one tab each, on the Learner explorer
            tabs.append(browser.call("Target.createTarget", url=f"{server.url}/learner")["targetId"])
        time.sleep(5)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # wait until the server has drawn every session
            before = rss_mb(server.proc.pid)
            time.sleep(3)
            if abs(rss_mb(server.proc.pid) - before) < 2:
                break
        out[f"rss_{args.sessions}_sessions_mb"] = round(rss_mb(server.proc.pid), 1)
        for t in tabs:
            browser.call("Target.closeTarget", targetId=t)
        tabs = []
        time.sleep(30)
        out["rss_after_closing_mb"] = round(rss_mb(server.proc.pid), 1)
    finally:
        for t in tabs:
            try:
                browser.call("Target.closeTarget", targetId=t)
            except Exception:
                pass
        browser.close()
        server.stop()
    for k, v in out.items():
        print(f"{k:32s} {v}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
