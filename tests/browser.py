"""A small headless-chromium driver (Chrome DevTools Protocol over a websocket) and a Streamlit
server fixture helper, for the dashboard's end-to-end test and for docs/screenshots.

Nothing but the standard library, ``websockets`` (a Streamlit dependency) and Debian's ``chromium``.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio", "--disable-dev-shm-usage"]
# The page is rendered when Streamlit says the script is not running, something is drawn in the main
# area, and no skeleton / spinner / chart placeholder is left.
RENDERED_JS = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const main = document.querySelector('[data-testid="stMainBlockContainer"]') || document.querySelector('section.main');
  if (!main || !main.querySelector('h1, [data-testid="stAlertContainer"]')) return false;
  if (document.querySelector('[data-testid="stSkeleton"], [data-testid="stSpinner"]')) return false;
  for (const c of document.querySelectorAll('[data-testid="stPlotlyChart"]'))
    if (!c.querySelector('.main-svg')) return false;
  for (const c of document.querySelectorAll('.dsrsd-map canvas.dsrsd-map-points'))  // app/map_canvas.js
    if (!c.dataset.drawn) return false;
  return true;
})()"""
ERRORS_JS = """(() => Array.from(document.querySelectorAll(
    '[data-testid="stException"], [data-testid="stAlertContentError"]')).map(e => e.innerText.slice(0, 300)))()"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def stop_process_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL it if it has not gone within 10 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)

class Chromium:
    """One headless chromium with one page, driven over CDP."""

    def __init__(self, binary: str, width: int = 1400, height: int = 1000, timeout: float = 30):
        from websockets.sync.client import connect

        self.profile = tempfile.mkdtemp(prefix="dsrsd-chromium-")
        self.width, self.height = width, height
        self.proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
                                      "--remote-debugging-port=0", "--remote-allow-origins=*",
                                      f"--window-size={width},{height}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout, proxy=None,
                          legacy=True, compression=None, ping_interval=None)
        self._id = 0
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, timeout: float = 60, **params):
        self._id += 1
        my = self._id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return res.get("result", {}).get("value")

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def wait_rendered(self, timeout: float = 60, settle: float = 0.6) -> float:
        """Seconds until the Streamlit page has finished drawing (stable for ``settle`` s)."""
        t0 = time.monotonic()
        stable_since = None
        while time.monotonic() - t0 < timeout:
            ok = bool(self.evaluate(RENDERED_JS))
            if ok:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= settle:
                    return stable_since - t0
            else:
                stable_since = None
            time.sleep(0.1)
        raise TimeoutError(f"page not rendered after {timeout:.0f} s")

    def open_page(self, base_url: str, page: str, title: str, timeout: float = 90) -> float:
        """Switch to ``page`` through the sidebar navigation (no reload) when the app is already open,
        else load its URL; wait until its title shows and it has finished drawing. Returns the seconds until
        it was drawn (not counting the settle time that confirms it)."""
        t0 = time.monotonic()
        link = f'[data-testid="stSidebarNav"] a[href$="/{page}"]' if page != "overview" else \
            '[data-testid="stSidebarNav"] a[href$="/"]'
        if not (self.evaluate("location.href").startswith(base_url) and self.click(link)):
            self.navigate(f"{base_url}/{'' if page == 'overview' else page}")
        while time.monotonic() - t0 < timeout:
            if self.evaluate("(document.querySelector('h1') || {}).innerText") == title:
                break
            time.sleep(0.1)
        waited = time.monotonic()
        return waited + self.wait_rendered(timeout=max(1.0, timeout - (waited - t0))) - t0

    def errors(self) -> list[str]:
        return self.evaluate(ERRORS_JS) or []

    def dom(self) -> str:
        return self.evaluate("document.documentElement.outerHTML") or ""

    def click(self, selector: str) -> bool:
        return bool(self.evaluate(f"(() => {{const e = document.querySelector({json.dumps(selector)}); "
                                  f"if (!e) return false; e.click(); return true;}})()"))

    def screenshot(self, path: str | Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png",
                         clip={"x": 0, "y": 0, "width": self.width, "height": self.height, "scale": 1})["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def screenshot_full(self, path: str | Path, max_height: int = 12000) -> Path:
        """The whole page (Streamlit scrolls inside its main block): grow the viewport, capture, restore."""
        h = self.evaluate("(() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                          " return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight); })()") or self.height
        h = int(min(max(h, self.height), max_height))
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=h, deviceScaleFactor=1, mobile=False)
        time.sleep(1.5)
        try:
            data = self.call("Page.captureScreenshot", format="png",
                             clip={"x": 0, "y": 0, "width": self.width, "height": h, "scale": 1})["data"]
        finally:
            self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                      deviceScaleFactor=1, mobile=False)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
        stop_process_group(self.proc)
        shutil.rmtree(self.profile, ignore_errors=True)


LEARNER_HEADING = ("(() => { for (const h of document.querySelectorAll('h3')) if (h.innerText.startsWith('Student ')) "
                   "return h.innerText; return ''; })()")


# the first scatter map of the Embedding page (app/map_canvas.js keeps its state on its element)
FIRST_MAP = "document.querySelector('.dsrsd-map').__dsrsdMap"
SELECTED_HEADING = ("(() => { for (const h of document.querySelectorAll('h3')) if (/ selected$/.test(h.innerText)) "
                    "return h.innerText; return ''; })()")


def drag(browser: Chromium, start: dict, end: dict, steps: int = 6) -> None:
    """Press the left button at ``start``, move to ``end`` in ``steps`` and release it (real mouse events)."""
    browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=start["x"], y=start["y"])
    browser.call("Input.dispatchMouseEvent", type="mousePressed", x=start["x"], y=start["y"], button="left",
                 clickCount=1)
    for k in range(1, steps + 1):
        x, y = start["x"] + (end["x"] - start["x"]) * k / steps, start["y"] + (end["y"] - start["y"]) * k / steps
        browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="left", buttons=1)
        time.sleep(0.03)
    browser.call("Input.dispatchMouseEvent", type="mouseReleased", x=end["x"], y=end["y"], button="left",
                 clickCount=1)


# the rows of the at-risk list (app/pick_list.py), inside the component's shadow root
LIST_ROWS = ("(() => { for (const el of document.querySelectorAll('*')) if (el.shadowRoot) { "
             "const rows = el.shadowRoot.querySelectorAll('.dsrsd-list tbody tr'); if (rows.length) return rows; } "
             "return []; })()")


def list_row_centre(browser: Chromium, row: int) -> dict | None:
    """The centre ``{x, y}`` of row ``row`` (1-based) of the at-risk list, scrolled into view; None without a list."""
    return browser.evaluate(f"(() => {{ const tr = {LIST_ROWS}[{row - 1}]; if (!tr) return null; "
                            "tr.scrollIntoView({block: 'nearest'}); const r = tr.getBoundingClientRect(); "
                            "return {x: r.left + 20, y: r.top + r.height / 2}; })()")


def list_students(browser: Chromium) -> list[str]:
    """The student ids of the at-risk list's rows, in the order shown."""
    return browser.evaluate(f"Array.from({LIST_ROWS}).map(tr => tr.cells[0].innerText)") or []


def switch_learner_by_row(browser: Chromium, row: int = 2) -> float:
    """On the Learner explorer, click row ``row`` (1-based) of the at-risk list; seconds until the new learner
    has been drawn (the screenshot script and benchmarks/app_speed.py time this)."""
    before = browser.evaluate(LEARNER_HEADING)
    centre = list_row_centre(browser, row)
    if centre is None:  # a next-step run's Learner explorer has no at-risk list
        raise RuntimeError("the Learner explorer shows no at-risk list on this run")
    t0 = time.monotonic()
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        browser.call("Input.dispatchMouseEvent", type=kind, x=centre["x"], y=centre["y"],
                     button="left", clickCount=0 if kind == "mouseMoved" else 1)
    while browser.evaluate(LEARNER_HEADING) == before and time.monotonic() - t0 < 30:
        time.sleep(0.02)
    browser.wait_rendered(timeout=30, settle=0.3)
    return time.monotonic() - t0 - 0.3


class StreamlitServer:
    """``streamlit run app/main.py`` headless on a free port; ``started`` = seconds until healthy."""

    def __init__(self, env: dict | None = None, timeout: float = 60, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="dsrsd-streamlit-", suffix=".log", delete=False)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"), "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env={**os.environ, **(env or {})}, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = self.t0 + timeout
        while True:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).read().strip() == b"ok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"streamlit did not start; log:\n{self.output()[-3000:]}")
            time.sleep(0.2)
        self.started = time.monotonic() - self.t0

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        stop_process_group(self.proc)
