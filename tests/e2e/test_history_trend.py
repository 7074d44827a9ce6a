"""The trend across nights: three scans of the served demo sharing one history; the third
report.html draws the two earlier runs and itself, from findings.json's `history.trend`,
and findings-schema.md names exactly the `run` and `history` keys a real document has."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from tests.e2e.served import SCOPE, read

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "findings-schema.md"
MERGED_ONLY = "merged documents only"


def documented_keys(block: str, indent: int) -> tuple[list[str], list[str]]:
    """The keys at ``indent`` of the first jsonc example in findings-schema.md that opens
    ``"<block>": {`` at the end of a line: (every key, those of merged documents only)."""
    text = SCHEMA.read_text(encoding="utf-8")
    start = text.index(f'"{block}": {{\n')
    end = text.index("\n" + " " * (indent - 2) + "}", start)
    keys, merged = [], []
    for line in text[start:end].splitlines()[1:]:
        if m := re.match(rf'^ {{{indent}}}"(\w+)":', line):
            keys.append(m.group(1))
            if MERGED_ONLY in line:
                merged.append(m.group(1))
    return keys, merged


@pytest.mark.slow
def test_findings_schema_names_the_run_keys_of_a_real_document(demo_scan):
    keys, merged = documented_keys("run", 4)
    assert merged == ["merged_from", "missing_shards"]
    doc = json.loads(demo_scan.read_text())
    assert list(doc["run"]) == [k for k in keys if k not in merged]


def trend_titles(page: str) -> list[str]:
    return [
        html.unescape(t) for t in re.findall(r'<g class="trend-run[^"]*">\s*<title>([^<]*)', page)
    ]


@pytest.mark.slow
def test_three_nights_the_third_report_draws_the_trend(served, tmp_path):
    db = tmp_path / "history.sqlite"
    docs = []
    for night in (1, 2, 3):
        out = tmp_path / f"night{night}"
        proc = served.run(
            "scan", *SCOPE, "--history", str(db), "--output-dir", str(out),
            "--format", "json,html", "--quiet",
        )  # fmt: skip
        assert proc.returncode in (0, 1), proc.stderr
        docs.append(read(out))
    first, second, third = docs
    assert first["history"]["trend"] == []
    assert 'class="chart chart-trend"' not in (tmp_path / "night1" / "report.html").read_text()

    # documented keys, in the output's order
    assert list(third["history"]) == documented_keys("history", 2)[0]
    trend = third["history"]["trend"]
    assert [t["run_id"] for t in trend] == [first["run"]["id"], second["run"]["id"]]
    for point, earlier in zip(trend, (first, second), strict=True):
        assert point["started_at"] == earlier["run"]["started_at"]
        assert point["complete"] == earlier["run"]["complete"]
        assert point["fail_by_severity"] == earlier["summary"]["fail_by_severity"]
        assert point["new"] == earlier["history"]["new"]
        assert point["resolved"] == len(earlier["history"]["resolved"])
    assert trend[0]["new"] > 0 and trend[1]["new"] == 0  # the first night saw it all

    page = (tmp_path / "night3" / "report.html").read_text()
    assert 'class="chart chart-trend"' in page
    titles = trend_titles(page)
    assert [t.split(" ")[0] for t in titles] == [d["run"]["id"] for d in docs]
    fails = sum(first["summary"]["fail_by_severity"].values())
    assert f"{fails} open failing" in titles[0] and f"{trend[0]['new']} new" in titles[0]

    # the trend is in findings.json: `report` draws it again from the JSON alone
    again = tmp_path / "again"
    proc = served.run("report", str(tmp_path / "night3" / "findings.json"),
                      "--output-dir", str(again), "--format", "html")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert trend_titles((again / "report.html").read_text()) == titles
