"""Open an antigrad HTML report in headless Chromium, as a person would, and check it.

    python tests/browser/check_report.py [--report runs/0001-x/report.html] [--screenshot PNG]

Without ``--report`` it first builds a small report (``antigrad compare`` on the breast
cancer problem, with the lecture's pictures) in a temporary folder. Then it opens the
report in Debian's ``chromium`` (installed with apt-get when absent and running as
root), and fails (exit code 1) unless: the page loads with no console errors, no
uncaught exceptions and no failed requests; every figure has loaded (non-zero natural
size) and is rendered with a visible size; the results table is visible with one row per
optimizer. A report it built must also show every comparison figure and every picture of
the lecture's gallery (``antigrad.lab.figures.LECTURE_FIGURES``), each exactly once. A
full-page screenshot is saved (default ``runs/browser/report.png``).
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cdp import CDP  # noqa: E402

CHECK_JS = """(() => {
  const visible = el => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.display !== 'none' && s.visibility !== 'hidden'
           && Number(s.opacity) > 0; };
  const imgs = [...document.images].map(i => ({src: i.getAttribute('src'),
    loaded: i.complete && i.naturalWidth > 0, visible: visible(i),
    width: i.getBoundingClientRect().width}));
  const table = document.querySelector('table#results');
  return {title: document.title, imgs, table: !!table && visible(table),
          rows: table ? table.tBodies[0].rows.length : 0,
          headers: table ? [...table.tHead.rows[0].cells].map(c => c.textContent) : [],
          height: document.documentElement.scrollHeight};
})()"""


def find_chromium(install: bool) -> str:
    """The chromium binary; installed with apt-get when absent (root only)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if install:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True)
        path = shutil.which("chromium")
        if path:
            return path
    sys.exit("chromium not found: install Debian's package (apt-get install -y chromium)")


def build_report(folder: Path) -> Path:
    """A small but complete report (4 optimizers, the lecture gallery) built by the CLI."""
    cmd = [sys.executable, "-m", "antigrad.cli", "compare", "--problem", "breast-cancer",
           "-o", "sgd,momentum,adagrad,adam", "--grid-points", "2", "--seeds", "2",
           "--steps", "100", "--store", str(folder / "antigrad.sqlite"),
           "--out", str(folder / "report")]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return folder / "report" / "report.html"


def open_browser(chromium: str, profile: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = profile / "DevToolsActivePort"
    for _ in range(300):
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text().split()[0])
        if proc.poll() is not None:
            sys.exit(f"chromium exited with code {proc.returncode}")
        time.sleep(0.1)
    proc.kill()
    sys.exit("chromium did not open its DevTools port in 30 s")


#: The figures a comparison report always holds (``comparison_figures``' stems).
REPORT_FIGURES = ("metric.png", "loss.png", "final.png", "lr.png")


def expected_figures() -> list[str]:
    """Every figure a report built with the lecture's gallery must show."""
    from antigrad.lab.figures import LECTURE_FIGURES

    return [*REPORT_FIGURES, *(f"lecture-{stem}.png" for stem in LECTURE_FIGURES)]


def missing_figures(shown: list[str], expected: list[str]) -> list[str]:
    """Problems: an expected figure absent, or shown more than once."""
    problems = [f"figure missing: {name}" for name in expected if name not in shown]
    problems += [f"figure shown {shown.count(name)} times: {name}"
                 for name in expected if shown.count(name) > 1]
    return problems


def event_problems(events: list[dict]) -> list[str]:
    """Problems the browser reported while loading: console errors, uncaught exceptions,
    error log entries and failed requests."""
    problems = []
    for ev in events:
        method, p = ev.get("method"), ev.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            problems.append(f"console error: {p.get('args')}")
        elif method == "Runtime.exceptionThrown":
            details = p.get("exceptionDetails", {})
            problems.append("uncaught exception: " + details.get("exception", {}).get(
                "description", details.get("text", "?")).split("\n")[0])
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            problems.append(f"browser error: {p['entry'].get('text')} "
                            f"{p['entry'].get('url', '')}")
        elif method == "Network.loadingFailed":
            problems.append(f"failed request: {p.get('errorText')}")
    return problems


def page_problems(result: dict, expected: list[str]) -> list[str]:
    """Problems with what the page shows (``result`` of CHECK_JS): figures absent, not
    loaded, hidden or too narrow, an ``expected`` figure missing or repeated, the results
    table missing or empty."""
    problems = []
    if not result["imgs"]:
        problems.append("no figures in the report")
    for img in result["imgs"]:
        if not img["loaded"]:
            problems.append(f"figure not loaded: {img['src']}")
        elif not img["visible"] or img["width"] < 300:
            problems.append(f"figure not visible: {img['src']} ({img['width']} px wide)")
    problems += missing_figures([img["src"] for img in result["imgs"]], expected)
    if not result["table"]:
        problems.append("results table missing or hidden")
    elif result["rows"] < 1:
        problems.append("results table has no rows")
    return problems


def check(report: Path, chromium: str, screenshot: Path,
          expected: list[str] | None = None) -> list[str]:
    """Problems found (empty when the report passes); ``expected`` figures (``src`` of
    the images) must each be on the page once."""
    problems: list[str] = []
    profile = Path(tempfile.mkdtemp(prefix="antigrad-chromium-"))
    proc, port = open_browser(chromium, profile)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        cdp = CDP(page["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            cdp.send(f"{domain}.enable")
        cdp.send("Page.navigate", url=report.resolve().as_uri())
        cdp.wait_for("Page.loadEventFired")
        result = cdp.send("Runtime.evaluate", expression=CHECK_JS, returnByValue=True,
                          awaitPromise=True)["result"]["value"]
        problems += event_problems(cdp.events)
        problems += page_problems(result, expected or [])
        cdp.send("Emulation.setDeviceMetricsOverride", width=1280,
                 height=min(int(result["height"]), 16000), deviceScaleFactor=1, mobile=False)
        shot = cdp.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        print(f"{result['title']}: {len(result['imgs'])} figures, table with "
              f"{result['rows']} rows; screenshot {screenshot}")
        cdp.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, help="report.html to check (default: build one)")
    parser.add_argument("--screenshot", type=Path, default=Path("runs/browser/report.png"))
    parser.add_argument("--no-install", action="store_true", help="never apt-get chromium")
    args = parser.parse_args()
    chromium = find_chromium(install=not args.no_install)
    with tempfile.TemporaryDirectory(prefix="antigrad-report-") as tmp:
        report = args.report or build_report(Path(tmp))
        if not report.exists():
            sys.exit(f"no report at {report}")
        expected = None if args.report else expected_figures()
        problems = check(report, chromium, args.screenshot, expected)
    for p in problems:
        print("FAIL:", p)
    print("report OK in headless Chromium" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
