"""report.html in a real headless chromium: what a person does with it.

Needs Debian's chromium at /usr/bin/chromium and the playwright python package; the
tests FAIL (not skip) without them. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from . import report_docgen

pytestmark = pytest.mark.browser

DASH = "\u2013"  # the page writes ranges with an en dash: "Showing 1\u2013100"
SEV_ORDER = ["critical", "high", "medium", "low", "info"]


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def rows(page: Any) -> Any:
    return page.locator("#findings-body tr.finding-row")


def column(page: Any, name: str) -> list[str]:
    return [
        t.strip()
        for t in page.locator(f"#findings-body tr.finding-row td.c-{name}").all_inner_texts()
    ]


def count_text(page: Any) -> str:
    return page.locator("#result-count").inner_text()


def assert_clean(report: Any) -> None:
    """No console error, no uncaught exception, no request but the file itself, no dialog."""
    assert report.console_errors == []
    assert report.page_errors == []
    assert report.requests == [report.url]
    assert report.dialogs == []


def test_opens_offline_without_errors(
    open_report: Any, sample_doc: dict[str, Any], screenshots: Path
) -> None:
    r = open_report(sample_doc)
    page = r.page
    expect = _expect()
    expect(page.locator("#result-count")).to_have_text(
        f"Showing 1{DASH}11 of 11 matching findings (11 total)"
    )
    expect(page.locator("#static-findings")).to_be_hidden()
    expect(page.locator(".verdict")).to_contain_text("FAIL")
    expect(page.locator("#coverage")).to_contain_text("AccessDeniedException")
    assert rows(page).count() == 11
    # worst first: every FAIL above every non-FAIL, critical FAILs first
    statuses = column(page, "status")
    assert statuses[:5] == ["FAIL\nnew", "FAIL", "FAIL", "FAIL\nnew", "FAIL"] or all(
        s.startswith("FAIL") for s in statuses[:5]
    )
    assert column(page, "sev")[:2] == ["critical", "critical"]
    page.screenshot(path=str(screenshots / "01-summary.png"))
    page.screenshot(path=str(screenshots / "00-full-page.png"), full_page=True)
    assert_clean(r)


def test_filter_by_severity_status_check_account_region_and_text(
    open_report: Any, sample_doc: dict[str, Any], screenshots: Path
) -> None:
    r = open_report(sample_doc)
    page = r.page
    expect = _expect()

    page.select_option("#f-severity", "critical")
    expect(page.locator("#result-count")).to_contain_text("of 4 matching")
    assert set(column(page, "sev")) == {"critical"}

    page.select_option("#f-status", "FAIL")
    expect(page.locator("#result-count")).to_contain_text("of 2 matching")
    assert sorted(column(page, "resource")) == ["fraud-model-tracking", "ranking-tracking"]

    page.fill("#f-text", "RANKING eu-west")  # case-insensitive, every word must match
    expect(page.locator("#result-count")).to_contain_text("of 1 matching")
    assert column(page, "resource") == ["ranking-tracking"]

    page.fill("#f-text", "no-such-thing")
    expect(page.locator("#result-count")).to_contain_text("Showing 0 of 0")
    expect(page.locator("#findings-body")).to_contain_text("No finding matches")

    page.click("#f-reset")
    expect(page.locator("#result-count")).to_contain_text("of 11 matching")

    page.select_option("#f-status", "!PASS")
    expect(page.locator("#result-count")).to_contain_text("of 7 matching")
    assert not any(s.startswith("PASS") for s in column(page, "status"))

    page.click("#f-reset")
    page.select_option("#f-check", "mlflow_artifact_bucket_exists")
    page.select_option("#f-account", report_docgen.SANDBOX)
    page.select_option("#f-region", "eu-west-1")
    expect(page.locator("#result-count")).to_contain_text("of 1 matching")
    assert column(page, "resource") == ["zeta-app"]

    page.click("#f-reset")
    page.select_option("#f-change", "new")
    expect(page.locator("#result-count")).to_contain_text("of 2 matching")
    assert sorted(column(page, "resource")) == ["fraud-model-tracking", "typo-app"]

    # a summary tile sets the filter
    page.click("#f-reset")
    page.click("a.tile-UNKNOWN")
    expect(page.locator("#result-count")).to_contain_text("of 1 matching")
    assert page.locator("#f-status").input_value() == "UNKNOWN"

    page.click("#f-reset")
    page.select_option("#f-status", "FAIL")
    page.locator("#findings").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('findings').scrollIntoView()")
    page.screenshot(path=str(screenshots / "02-findings-table.png"))
    assert_clean(r)


def test_sort_by_clicking_column_headers(open_report: Any, sample_doc: dict[str, Any]) -> None:
    r = open_report(sample_doc)
    page = r.page
    expect = _expect()
    header = page.locator("th[data-sort=resource_name]")
    header.locator("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    names = column(page, "resource")
    assert names == sorted(names, key=str.lower)
    header.locator("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    assert column(page, "resource") == sorted(names, key=str.lower, reverse=True)

    sev = page.locator("th[data-sort=severity]")
    sev.locator("button").click()
    expect(sev).to_have_attribute("aria-sort", "ascending")
    expect(header).to_have_attribute("aria-sort", "none")
    ranks = [SEV_ORDER.index(s) for s in column(page, "sev")]
    assert ranks == sorted(ranks)
    sev.locator("button").click()
    ranks = [SEV_ORDER.index(s) for s in column(page, "sev")]
    assert ranks == sorted(ranks, reverse=True)
    assert_clean(r)


def test_pagination(open_report: Any) -> None:
    r = open_report(report_docgen.big_doc(250))
    page = r.page
    expect = _expect()
    expect(page.locator("#result-count")).to_have_text(
        f"Showing 1{DASH}100 of 250 matching findings (250 total)"
    )
    assert rows(page).count() == 100
    page.locator("#pager-top button[aria-label='Next page']").click()
    expect(page.locator("#result-count")).to_contain_text(f"Showing 101{DASH}200 of 250")
    page.locator("#pager-bottom button[aria-label='Last page']").click()
    expect(page.locator("#result-count")).to_contain_text(f"Showing 201{DASH}250 of 250")
    assert rows(page).count() == 50
    page.locator("#pager-top select.pg-size").select_option("500")
    expect(page.locator("#result-count")).to_contain_text(f"Showing 1{DASH}250 of 250")
    assert rows(page).count() == 250
    assert_clean(r)


def test_expand_a_finding_shows_evidence_risk_and_fix(
    open_report: Any, sample_doc: dict[str, Any], screenshots: Path
) -> None:
    r = open_report(sample_doc)
    page = r.page
    r.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    expect = _expect()
    first = rows(page).first
    button = first.locator("button.expand")
    expect(button).to_have_attribute("aria-expanded", "false")
    button.click()
    detail = page.locator("#findings-body tr.detail")
    expect(detail).to_have_count(1)
    expect(
        page.locator("#findings-body tr.finding-row").first.locator("button.expand")
    ).to_have_attribute("aria-expanded", "true")
    ev = detail.locator("tr.ev-row")
    expect(ev).to_have_count(2)
    assert ev.nth(0).locator("td.ev-call").inner_text() == "s3:ListBuckets"
    assert ev.nth(1).locator("td.ev-answer").inner_text() == "404 NotFound"
    assert ev.nth(1).locator("td.ev-params").inner_text() == "Bucket=fraud-model-artifacts"
    assert ev.nth(1).locator("td.ev-as").inner_text() == report_docgen.PROD
    assert ev.nth(1).locator("td.ev-conclusion").inner_text() == "the bucket does not exist"
    expect(detail.locator("p.risk")).to_contain_text("bucket sniping")
    command = report_docgen.command("fraud-model-tracking", "us-east-1")
    assert detail.locator("code.fix-command").inner_text() == command
    copy = detail.locator("button.copy")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == command
    detail.screenshot(path=str(screenshots / "03-expanded-finding.png"))
    page.locator("#findings-table").screenshot(path=str(screenshots / "04-table-expanded.png"))
    # clicking the row again closes it
    rows(page).first.locator("td.c-message").click()
    expect(page.locator("#findings-body tr.detail")).to_have_count(0)
    assert_clean(r)


def test_injected_markup_stays_inert_text(
    open_report: Any, injected_doc: dict[str, Any], screenshots: Path
) -> None:
    r = open_report(injected_doc)
    page = r.page
    expect = _expect()
    expect(page.locator("#result-count")).to_contain_text("of 11 matching")
    for i in range(rows(page).count()):
        rows(page).nth(i).locator("button.expand").click()
    expect(page.locator("#findings-body tr.detail")).to_have_count(11)
    page.fill("#f-text", "<img src=x")
    expect(page.locator("#result-count")).to_contain_text("of 11 matching")
    body = page.locator("body").inner_text()
    for payload in report_docgen.PAYLOADS:
        assert payload in body
    # nothing the data carried became an element or ran
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 3
    assert page.locator("[onerror], [onmouseover], b#evil").count() == 0
    page.locator("#findings-body td.c-resource").first.hover()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.screenshot(path=str(screenshots / "05-injected-markup.png"))
    assert_clean(r)


def test_without_javascript_the_non_pass_findings_are_readable(
    open_report: Any, sample_doc: dict[str, Any], screenshots: Path
) -> None:
    r = open_report(sample_doc, js=False)
    page = r.page
    expect = _expect()
    static = page.locator("#static-findings")
    expect(static).to_be_visible()
    expect(page.locator(".interactive")).to_be_hidden()
    expect(static.locator("tr.static-row")).to_have_count(7)
    for name in (
        "fraud-model-tracking",
        "ranking-tracking",
        "legacy-tracking",
        "shared-tracking",
        "typo-app",
        "research-tracking",
        "info-tracking",
    ):
        expect(static).to_contain_text(name)
    expect(static).not_to_contain_text("zeta-app")  # PASS rows are in the JS table / CSV
    # evidence and fix open with <details>, no script needed
    first = static.locator("tr.static-row").first
    first.locator("summary").click()
    expect(first.locator("table.evidence")).to_contain_text("404 NotFound")
    expect(first.locator("pre.cmd")).to_contain_text("--tracking-server-name fraud-model-tracking")
    expect(page.locator("#remediations")).to_contain_text("ConflictException")
    page.screenshot(path=str(screenshots / "06-no-javascript.png"), full_page=True)
    assert r.requests == [r.url]


def test_injected_markup_without_javascript(open_report: Any, injected_doc: dict[str, Any]) -> None:
    r = open_report(injected_doc, js=False)
    page = r.page
    assert page.locator("img").count() == 0
    assert page.locator("[onerror], [onmouseover]").count() == 0
    text = page.locator("#static-findings").inner_text()
    assert "<script>window.__pwned=1</script>" in text
    assert r.requests == [r.url]


def test_print_layout(open_report: Any, sample_doc: dict[str, Any]) -> None:
    r = open_report(sample_doc)
    page = r.page
    expect = _expect()
    page.emulate_media(media="print")
    expect(page.locator("#filters")).to_be_hidden()
    expect(page.locator(".interactive")).to_be_hidden()
    expect(page.locator("#static-findings")).to_be_visible()
    # evidence inside closed <details> is printed too
    expect(page.locator("#static-findings table.evidence").first).to_be_visible()
    out = Path(__file__).resolve().parents[2] / "test-artifacts" / "report.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    page.pdf(path=str(out), format="A4", print_background=True)
    assert out.read_bytes().startswith(b"%PDF")
    assert_clean(r)


@pytest.mark.slow
def test_100k_findings_load_and_filter(open_report: Any, screenshots: Path) -> None:
    doc = report_docgen.big_doc(100_000)
    fails = sum(f["status"] == "FAIL" for f in doc["findings"])
    r = open_report(doc, name="report-100k.html")
    page = r.page
    expect = _expect()
    expect(page.locator("#result-count")).to_have_text(
        f"Showing 1{DASH}100 of 100,000 matching findings (100,000 total)", timeout=120_000
    )
    assert rows(page).count() == 100  # paginated: never 100k DOM rows
    page.select_option("#f-status", "FAIL")
    expect(page.locator("#result-count")).to_contain_text(f"of {fails:,} matching")
    assert {s.split()[0] for s in column(page, "status")} == {"FAIL"}
    page.click("#f-reset")
    page.fill("#f-text", "server-012345")
    expect(page.locator("#result-count")).to_contain_text("of 1 matching", timeout=60_000)
    assert column(page, "resource") == ["server-012345"]
    page.screenshot(path=str(screenshots / "07-100k-filtered.png"))
    assert_clean(r)


def test_mobile_width_has_no_horizontal_page_scroll(
    open_report: Any, sample_doc: dict[str, Any]
) -> None:
    r = open_report(sample_doc, width=420, height=900)
    overflow = r.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"page scrolls horizontally by {overflow}px"
    assert re.search(rf"Showing 1{DASH}11", count_text(r.page))


def test_broken_data_falls_back_to_the_static_view(
    browser: Any, sample_doc: dict[str, Any], tmp_path: Path
) -> None:
    from auditor.report.formats.html import render_html

    page_html = render_html(sample_doc)
    start = page_html.index('id="findings-data">') + len('id="findings-data">')
    end = page_html.index("</script>", start)
    path = tmp_path / "broken.html"
    path.write_text(page_html[:start] + "{not json" + page_html[end:], encoding="utf-8")
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        _expect()(page.locator("#static-findings")).to_be_visible()
        _expect()(page.locator("#static-findings tr.static-row")).to_have_count(7)
        assert errors  # the parse error is reported, not swallowed
    finally:
        ctx.close()
