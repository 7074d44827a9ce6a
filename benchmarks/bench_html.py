"""Benchmark report.html: render time, file size, and load/filter time in headless chromium.

Usage:  .venv/bin/python benchmarks/bench_html.py [--sizes 1000,10000,100000] [--no-browser]

Generates synthetic findings documents (tests/report/report_docgen.py), renders them with
auditor.report.formats.html.render_html, writes them to benchmarks/out/ (gitignored), opens each
from file:// in Debian's chromium (/usr/bin/chromium, via playwright) and prints a table:

* render_s     - render_html() wall time (Python)
* size_mb      - report.html size; data_mb is the embedded findings JSON part of it
* load_ms      - navigation start -> first table render (performance mark "report-rendered",
                 set after DOMContentLoaded work: JSON parse, decode, first page of rows)
* dcl_ms       - navigation start -> DOMContentLoaded end
* filter_ms    - applying the status=FAIL filter (sort + re-render), measured in the page
* text_ms      - applying a free-text search that matches one finding, measured in the page
Not part of pytest: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "report"))

from report_docgen import big_doc  # noqa: E402

from auditor.report.formats.html import render_html  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUT = REPO / "benchmarks" / "out"

MEASURE_FILTER = """(args) => {
  const [id, value, event] = args;
  const el = document.getElementById(id);
  el.value = value;
  const t0 = performance.now();
  if (event === "submit") {
    document.getElementById("filters").dispatchEvent(new Event("submit", {cancelable: true}));
  } else {
    el.dispatchEvent(new Event("change"));
  }
  const ms = performance.now() - t0;
  return [ms, document.getElementById("result-count").textContent];
}"""


def browser_times(browser: Any, path: Path, runs: int) -> dict[str, float]:
    loads, dcls, filters, texts = [], [], [], []
    for _ in range(runs):
        ctx = browser.new_context(viewport={"width": 1440, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(300_000)
        requests: list[str] = []
        page.on("request", lambda r, requests=requests: requests.append(r.url))
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_selector("html[data-rendered='1']", state="attached")
        loads.append(page.evaluate("performance.getEntriesByName('report-rendered')[0].startTime"))
        dcls.append(
            page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
        )
        ms, _ = page.evaluate(MEASURE_FILTER, ["f-status", "FAIL", "change"])
        filters.append(ms)
        page.evaluate(MEASURE_FILTER, ["f-status", "", "change"])
        ms, text = page.evaluate(MEASURE_FILTER, ["f-text", "server-000123", "submit"])
        assert " of 1 matching" in text, text
        texts.append(ms)
        assert requests == [path.as_uri()], requests
        ctx.close()
    med = statistics.median
    return {
        "load_ms": med(loads),
        "dcl_ms": med(dcls),
        "filter_ms": med(filters),
        "text_ms": med(texts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=3, help="browser runs per size (median)")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)

    pw = browser = None
    if not args.no_browser:
        if not Path(CHROMIUM).exists():
            sys.exit(f"{CHROMIUM} not found: apt-get install -y chromium (or use --no-browser)")
        from playwright.sync_api import sync_playwright

        pw = sync_playwright().start()
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)

    header = (
        f"{'findings':>9} {'render_s':>9} {'size_mb':>8} {'data_mb':>8} "
        f"{'load_ms':>8} {'dcl_ms':>8} {'filter_ms':>9} {'text_ms':>8}"
    )
    rows = []
    try:
        for n in sizes:
            doc = big_doc(n)
            t0 = time.perf_counter()
            page = render_html(doc)
            render_s = time.perf_counter() - t0
            path = OUT / f"report-{n}.html"
            path.write_text(page, encoding="utf-8")
            raw = page.encode()
            start = raw.index(b'id="findings-data"')
            data_mb = (raw.index(b"</script>", start) - start) / 1e6
            line = f"{n:>9,} {render_s:>9.2f} {len(raw) / 1e6:>8.1f} {data_mb:>8.1f}"
            if browser is not None:
                t = browser_times(browser, path, args.runs if n < 100_000 else 1)
                line += (
                    f" {t['load_ms']:>8.0f} {t['dcl_ms']:>8.0f} {t['filter_ms']:>9.1f}"
                    f" {t['text_ms']:>8.1f}"
                )
            rows.append(line)
            print(f"done {n:,}", file=sys.stderr)
    finally:
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
    print(header)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
