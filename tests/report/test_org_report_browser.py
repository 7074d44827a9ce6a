"""report.html of an Organization (1,000 accounts x 17 regions) in headless chromium:
the first screen (1400x900) holds the verdict, the tiles and every chart; the long lists
are summarised or collapsed. Screenshots go to test-artifacts/screenshots/org-*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auditor.report.formats.html_views import ACCOUNT_TOP

from . import org_docgen, report_docgen

pytestmark = pytest.mark.browser

FIRST_SCREEN = {"width": 1400, "height": 900}


@pytest.fixture(scope="module")
def org_doc() -> dict[str, Any]:
    return org_docgen.org_doc(1000, 17)


def bottom(page: Any, selector: str) -> list[float]:
    return page.evaluate(
        "(sel) => [...document.querySelectorAll(sel)].map(e => e.getBoundingClientRect().bottom)",
        selector,
    )


def horizontal_overflow(page: Any, selector: str) -> int:
    return page.evaluate(
        "(sel) => { const e = document.querySelector(sel); return e.scrollWidth - e.clientWidth; }",
        selector,
    )


def test_first_screen_at_1000_accounts_x_17_regions(
    open_report: Any, org_doc: dict[str, Any], screenshots: Path
) -> None:
    r = open_report(org_doc, name="report-org.html", **FIRST_SCREEN)
    page = r.page
    from playwright.sync_api import expect

    expect(page.locator("#result-count")).to_contain_text(f"of {len(org_doc['findings']):,}")
    page.screenshot(path=str(screenshots / "org-first-screen.png"))
    assert page.evaluate("window.scrollY") == 0
    # verdict, both rows of tiles and all four charts (trend included) on the first screen
    for selector, count in ((".verdict", 1), (".tiles", 2), (".charts .chart", 4)):
        bottoms = bottom(page, selector)
        assert len(bottoms) == count, selector
        assert max(bottoms) <= FIRST_SCREEN["height"], (selector, bottoms)
    expect(page.locator(".verdict")).to_contain_text("FAIL")

    # the 1,000 trusted accounts are one line with a count, not a wall of ids
    trusted = page.locator(".trusted details")
    expect(trusted.locator("summary")).to_have_text("1,000 trusted accounts")
    assert trusted.get_attribute("open") is None
    expect(page.locator(".trusted-ids")).to_be_hidden()

    # failures per account: the top accounts and one bar for all the others
    bars = page.locator("svg.accounts g.acct-bar")
    expect(bars).to_have_count(ACCOUNT_TOP + 1)
    failing_accounts = len({f["account_id"] for f in org_doc["findings"] if f["status"] == "FAIL"})
    other = bars.last
    assert "acct-other" in (other.get_attribute("class") or "")
    expect(other.locator("text").first).to_have_text(
        f"{failing_accounts - ACCOUNT_TOP:,} other accounts"
    )
    # every severity of the worst account is drawn, critical first
    first_parts = bars.first.locator("rect")
    assert first_parts.first.get_attribute("class") == "fill-sev-critical"

    # the trend: one column per run, the current run last
    trend = page.locator("svg.trend")
    expect(trend).to_be_visible()
    expect(trend.locator("g.trend-run")).to_have_count(len(org_doc["history"]["trend"]) + 1)
    expect(trend.locator("g.trend-run title").last).to_contain_text(org_doc["run"]["id"])

    # coverage: 17 region cards, the grid behind <details>, nothing scrolls sideways
    page.locator("#coverage").scroll_into_view_if_needed()
    expect(page.locator("ul.regions li.region")).to_have_count(17)
    grid = page.locator("details.coverage-grid")
    assert grid.get_attribute("open") is None
    expect(grid.locator("summary")).to_contain_text("with a problem, of 1,000 in scope")
    grid.locator("summary").click()
    expect(grid.locator("table.coverage")).to_be_visible()
    assert horizontal_overflow(page, ".coverage-scroll") <= 0
    assert horizontal_overflow(page, "ul.regions") <= 0
    assert horizontal_overflow(page, "html") <= 0
    page.locator("#coverage").screenshot(path=str(screenshots / "org-coverage.png"))

    # the worst findings are a short table, not ten large cards
    worst = page.locator("table.worst")
    expect(worst.locator("tbody tr")).to_have_count(10)
    box = worst.bounding_box()
    assert box is not None and box["height"] < 600, box
    page.screenshot(path=str(screenshots / "org-full-page.png"), full_page=True)
    assert r.console_errors == [] and r.page_errors == [] and r.requests == [r.url]


def test_demo_sized_first_screen_and_no_trend_without_history(
    open_report: Any, sample_doc: dict[str, Any], screenshots: Path
) -> None:
    r = open_report(sample_doc, **FIRST_SCREEN)
    page = r.page
    page.screenshot(path=str(screenshots / "sample-first-screen.png"))
    for selector in (".verdict", ".tiles", ".charts .chart"):
        assert max(bottom(page, selector)) <= FIRST_SCREEN["height"], selector
    # three trusted accounts are short enough to read inline
    assert page.locator(".trusted details").count() == 0
    assert report_docgen.SANDBOX in page.locator(".trusted").inner_text()
    # no earlier run in the document: no trend chart
    assert page.locator("svg.trend").count() == 0
    assert page.locator("svg.accounts g.acct-bar").count() == 2
    # a handful of accounts: the grid is open
    assert page.locator("details.coverage-grid").get_attribute("open") is not None
    assert r.console_errors == [] and r.page_errors == [] and r.requests == [r.url]


def test_trend_from_the_history_renders_in_the_browser(
    open_report: Any, sample_doc: dict[str, Any], screenshots: Path
) -> None:
    sample_doc["history"]["trend"] = [
        {
            "run_id": f"2026-11-{d:02d}T15-40-02Z-aaaaaa",
            "started_at": f"2026-11-{d:02d}T15:40:02Z",
            "complete": True,
            "fail_by_severity": {"critical": 3, "high": d % 3, "medium": 1, "low": 0, "info": 1},
            "new": d % 4,
            "resolved": 1,
        }
        for d in range(20, 27)
    ]
    r = open_report(sample_doc, **FIRST_SCREEN)
    page = r.page
    trend = page.locator("svg.trend")
    from playwright.sync_api import expect

    expect(trend).to_be_visible()
    expect(trend.locator("g.trend-run")).to_have_count(8)
    assert max(bottom(page, ".charts .chart")) <= FIRST_SCREEN["height"]
    page.locator(".charts").screenshot(path=str(screenshots / "sample-trend.png"))
    assert r.console_errors == [] and r.page_errors == [] and r.requests == [r.url]
