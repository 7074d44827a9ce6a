"""The organisation-scale views of report.html (auditor.report.formats.html_views) and
how the page renders them, without a browser."""

from __future__ import annotations

import copy
import re
from typing import Any

from auditor.report.formats.html import render_html
from auditor.report.formats.html_views import (
    ACCOUNT_TOP,
    TREND_RUNS,
    account_stack,
    region_summary,
    trend_chart,
    trend_points,
)

from . import org_docgen, report_docgen
from .test_html_report import visible_text


def fail(account: str, severity: str, status: str = "FAIL") -> dict[str, Any]:
    return {"status": status, "severity": severity, "account_id": account}


def run_point(n: int, **fails: int) -> dict[str, Any]:
    return {
        "run_id": f"run-{n:02d}",
        "started_at": f"2026-11-{n:02d}T02:00:00Z",
        "complete": True,
        "fail_by_severity": fails,
        "new": n,
        "resolved": 1,
    }


CURRENT = {
    "run_id": "now",
    "started_at": "2026-12-01T02:00:00Z",
    "complete": True,
    "fail_by_severity": {"critical": 1},
    "new": 0,
    "resolved": 0,
}


# --------------------------------------------------------------------------- accounts


def test_one_critical_outranks_many_lows() -> None:
    findings = [fail("A", "low") for _ in range(50)] + [fail("B", "critical")]
    findings += [fail("C", "high"), fail("C", "high"), fail("B", "low", status="PASS")]
    chart = account_stack(findings, {"B": "prod"})
    assert [i["label"] for i in chart["items"]] == ["B (prod)", "C", "A"]
    assert [i["total"] for i in chart["items"]] == [1, 2, 50]
    assert [p["severity"] for p in chart["items"][0]["parts"]] == ["critical"]


def test_top_accounts_then_one_bar_for_the_others() -> None:
    findings = [fail(f"{n:012d}", "high") for n in range(40) for _ in range(n % 5 + 1)]
    findings += [fail(f"{n:012d}", "critical") for n in range(3)]
    chart = account_stack(findings, {})
    items = chart["items"]
    assert len(items) == ACCOUNT_TOP + 1 and chart["accounts"] == 40
    assert [i["label"] for i in items[:3]] == [f"{n:012d}" for n in (2, 1, 0)]
    other = items[-1]
    assert other["other"] and other["label"] == f"{40 - ACCOUNT_TOP} other accounts"
    assert other["total"] == len(findings) - sum(i["total"] for i in items[:-1])
    # the others' sum is far above any top account: drawn full width and marked as cut
    assert other["cut"]
    assert abs(sum(float(p["w"]) for p in other["parts"]) - 240) < 1


def test_one_other_account_and_unknown_severities() -> None:
    findings = [fail(f"a{n:02d}", "medium") for n in range(ACCOUNT_TOP + 1)]
    findings.append(fail("a00", "catastrophic"))
    items = account_stack(findings, {})["items"]
    assert items[-1]["label"] == "1 other account" and not items[-1]["cut"]
    assert [p["severity"] for p in items[0]["parts"]] == ["medium", "other"]
    assert account_stack([fail("x", "low", status="PASS")], {})["items"] == []


# --------------------------------------------------------------------------- coverage


def test_region_summary_counts_every_state() -> None:
    run = {
        "regions": ["eu-west-1", "us-east-1"],
        "accounts": [{"account_id": a} for a in ("1", "2", "3", "4")],
        "scopes": [
            {"account_id": "1", "region": "eu-west-1", "status": "scanned", "resources": 2},
            {"account_id": "1", "region": "us-east-1", "status": "scanned", "resources": 1},
            {"account_id": "2", "region": "eu-west-1", "status": "error"},
            {
                "account_id": "2",
                "region": "us-east-1",
                "status": "scanned",
                "not_offered": ["tracking-server", "app"],
            },
            {"account_id": "3", "region": "ap-south-1", "status": "scanned", "resources": 4},
        ],
    }
    errors = [
        {"account_id": "4", "region": None},
        {"account_id": "3", "region": "us-east-1"},
    ]
    summary = region_summary(run, errors)
    cards = {c["region"]: c for c in summary["cards"]}
    assert list(cards) == ["eu-west-1", "us-east-1", "ap-south-1"]
    assert cards["eu-west-1"] == {
        "region": "eu-west-1",
        "scanned": 1,
        "error": 1,
        "not_offered": 0,
        "missing": 2,
        "resources": 2,
    }
    assert (cards["us-east-1"]["scanned"], cards["us-east-1"]["error"]) == (1, 1)
    assert cards["us-east-1"]["not_offered"] == 1 and cards["us-east-1"]["missing"] == 1
    assert cards["ap-south-1"]["resources"] == 4 and cards["ap-south-1"]["missing"] == 3
    assert (summary["accounts"], summary["unreachable"], summary["error_regions"]) == (4, 1, 2)


def test_coverage_line_is_true_when_no_account_has_a_problem() -> None:
    doc = org_docgen.org_doc(200, 3, error_accounts=0)
    text = visible_text(render_html(doc))
    assert "only the 0" not in text
    assert "None of the 200 accounts in scope had a scope that could not be read" in text
    assert 'class="coverage-grid"' not in render_html(doc)


def test_large_org_lists_problem_accounts_behind_details() -> None:
    page = render_html(org_docgen.org_doc(200, 5, error_accounts=4))
    grid = page[page.index('<details class="coverage-grid"') :]
    assert grid.startswith('<details class="coverage-grid">')  # closed
    assert re.search(r"the 4 accounts\s+with a problem, of 200 in scope", visible_text(grid))
    assert grid.count('<tr class="problem">') == 4


# --------------------------------------------------------------------------- trend


def test_trend_points_skip_bad_entries_and_end_with_this_run() -> None:
    raw = [
        run_point(1, critical=2, high=1),
        "not a run",
        {"run_id": "bad", "fail_by_severity": {"critical": -3, "high": "7", "low": True}},
        run_point(2, critical=1),
    ]
    points = trend_points(raw, CURRENT)
    assert [p["run_id"] for p in points] == ["run-01", "bad", "run-02", "now"]
    assert points[1]["fails"] == {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0}
    assert points[0]["fails"]["critical"] == 2 and points[0]["new"] == 1


def test_trend_keeps_the_newest_runs_and_no_duplicate_of_this_run() -> None:
    raw = [run_point(n, high=n) for n in range(1, 41)]
    points = trend_points([*raw, {**CURRENT, "fail_by_severity": {"low": 9}}], CURRENT)
    assert len(points) == TREND_RUNS
    assert points[-1]["run_id"] == "now" and points[-1]["fails"]["critical"] == 1
    assert points[-2]["run_id"] == "run-40"


def test_trend_chart_needs_an_earlier_run_and_scales_to_the_peak() -> None:
    assert trend_chart(trend_points([], CURRENT)) is None
    chart = trend_chart(trend_points([run_point(1, critical=4, low=4)], CURRENT))
    assert chart is not None and chart["peak"] == 8
    first, last = chart["columns"]
    assert [p["severity"] for p in first["parts"]] == ["critical", "low"]
    assert abs(sum(float(p["h"]) for p in first["parts"]) - 150) < 0.01
    assert float(last["parts"][0]["h"]) == 150 / 8
    assert first["new"] == 1 and float(first["new_h"]) > 0 and last["new_h"] == "0.00"


# --------------------------------------------------------------------------- the page


def test_trusted_accounts_inline_when_few_collapsed_when_many() -> None:
    page = render_html(report_docgen.sample_doc())
    assert "111111111111, 222222222222, 333333333333</dd>" in page
    many = org_docgen.org_doc(30, 2)
    page = render_html(many)
    assert "<summary>30 trusted accounts</summary>" in page


def test_trend_chart_from_history_or_argument() -> None:
    doc = report_docgen.sample_doc()
    assert "<svg" in render_html(doc) and 'class="trend"' not in render_html(doc)
    trend = [run_point(n, critical=n, medium=1) for n in (20, 21, 22)]
    page = render_html(doc, trend=trend)
    assert page.count('class="trend-run') == 4 and page.count("<svg") == 4
    assert "run-22 (2026-11-22T02:00:00Z): 23 open failing; critical 22; medium 1" in page
    doc["history"]["trend"] = trend
    assert render_html(doc) == page


def test_trend_strings_are_escaped() -> None:
    doc = report_docgen.sample_doc()
    evil = report_docgen.PAYLOADS[0]
    doc["history"]["trend"] = [{**run_point(1, high=1), "run_id": evil, "started_at": evil}]
    page = render_html(doc)
    assert evil not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page


def test_org_document_summary_counts() -> None:
    doc = org_docgen.org_doc(1000, 17)
    assert len(doc["run"]["accounts"]) == 1000 and len(doc["run"]["regions"]) == 17
    page = render_html(copy.deepcopy(doc))
    assert page.count('class="acct-bar') == ACCOUNT_TOP + 1
    assert page.count('<li class="region') == 17
    assert page.count('class="trend-run') == len(doc["history"]["trend"]) + 1
