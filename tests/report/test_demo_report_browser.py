"""The report that `mlflow-audit demo` writes, opened in headless chromium as a person
would: summary, coverage and findings visible, the planted markup inert.

Screenshots go to test-artifacts/screenshots/demo-*.png for review.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.cli import main

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", "--output-dir", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "`mlflow-audit scan` would exit 1" in result.output  # planted failures
    return out


def test_demo_report_reads_well_and_markup_stays_text(
    demo_report: Path, browser: Any, screenshots: Path
) -> None:
    doc = json.loads((demo_report / "findings.json").read_text())
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = ctx.new_page()
    requests: list[str] = []
    problems: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    url = (demo_report / "report.html").as_uri()
    page.goto(url, wait_until="load")
    try:
        summary = page.locator("#summary").inner_text()
        assert "FAIL" in summary and "Scan incomplete" in summary
        page.locator("#summary").screenshot(path=str(screenshots / "demo-summary.png"))

        coverage = page.locator("#coverage").inner_text().lower()
        (err,) = doc["errors"]
        assert err["account_id"] in coverage and "eu-west-1" in coverage
        page.locator("#coverage").screenshot(path=str(screenshots / "demo-coverage.png"))
        assert "AccessDeniedException" in page.locator("#errors").inner_text()

        count = page.locator("#result-count").inner_text()
        assert f"of {len(doc['findings'])}" in count.replace(",", "")
        from playwright.sync_api import expect

        markup = [f for f in doc["findings"] if f["resource_name"] == "markup"]
        page.fill("#f-text", "mlflow-markup")
        expect(page.locator("#result-count")).to_contain_text(f"of {len(markup)} matching")
        rows = page.locator("#findings-body tr.finding-row")
        rows.first.locator("button.expand").click()
        body = page.locator("#findings").inner_text()
        assert "<script>alert(1)</script>" in body and "<img src=x onerror=alert(1)>" in body
        page.locator("#findings").screenshot(path=str(screenshots / "demo-findings.png"))
        page.locator("#findings-body td.c-resource").first.hover()
        assert page.locator("#findings img").count() == 0
        assert dialogs == []  # alert(1) never ran
        assert problems == []
        assert requests == [url]
    finally:
        ctx.close()
