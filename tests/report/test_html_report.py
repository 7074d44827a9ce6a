"""Unit tests of auditor.html_report.render_html (no browser)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from auditor.report.formats.html import findings_data_json, render_html

from . import report_docgen


class _Collect(HTMLParser):
    """Collect tags/attributes and the raw content of every <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script, self._buf = dict(attrs), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_script is not None:
            self.scripts.append((self._in_script, "".join(self._buf)))
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            self._buf.append(data)


def parse(page: str) -> _Collect:
    c = _Collect()
    c.feed(page)
    return c


def decode_data(page: str) -> list[dict[str, Any]]:
    """Decode the findings-data block the way report.js does."""
    [(attrs, text)] = [(a, t) for a, t in parse(page).scripts if a.get("id") == "findings-data"]
    assert attrs.get("type") == "application/json"
    payload = json.loads(text)
    strings = payload["strings"]
    out = []
    for row in payload["rows"]:
        rec = dict(zip(payload["fields"], row, strict=True))
        f = {
            k: (strings[v] if v is not None else None)
            for k, v in rec.items()
            if k not in ("evidence", "remediation_auto")
        }
        f["remediation_auto"] = rec["remediation_auto"]
        f["evidence"] = [
            {
                "call": strings[e[0]],
                "as_account": strings[e[1]] if e[1] is not None else None,
                "params": e[2],
                "answer": strings[e[3]],
                "conclusion": strings[e[4]],
            }
            for e in rec["evidence"]
        ]
        out.append(f)
    return out


def visible_text(page: str) -> str:
    """Text outside <script>, tags removed, entities decoded."""
    without_scripts = re.sub(r"<script\b.*?</script>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]*>", "", without_scripts))


# --------------------------------------------------------------------------- structure


def test_renders_a_complete_document(sample_doc: dict[str, Any]) -> None:
    page = render_html(sample_doc)
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="en" class="no-js">' in page
    assert '<meta charset="utf-8">' in page
    for section in ("summary", "coverage", "errors", "history", "remediations", "findings"):
        assert f'<section id="{section}"' in page


def test_csp_allows_only_the_inline_script_by_hash(sample_doc: dict[str, Any]) -> None:
    page = render_html(sample_doc)
    c = parse(page)
    [csp] = [
        a["content"]
        for t, a in c.tags
        if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp is not None
    assert "default-src 'none'" in csp and "img-src data:" in csp
    assert "unsafe-eval" not in csp and "script-src 'unsafe-inline'" not in csp
    executable = [(a, t) for a, t in c.scripts if a.get("type") != "application/json"]
    assert len(executable) == 2  # the <head> class switch and the table script
    for attrs, code in executable:
        assert "src" not in attrs
        digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert re.search(r"script-src 'sha256-[^']+' 'sha256-[^']+';", csp)


def test_no_external_resources(sample_doc: dict[str, Any]) -> None:
    page = render_html(sample_doc)
    for tag, attrs in parse(page).tags:
        for name in ("src", "href", "action", "srcset", "data", "poster"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith("#"), f"<{tag} {name}={value!r}> leaves the page"
        assert tag not in ("link", "iframe", "object", "embed", "img", "base", "frame")
    assert "url(" not in page and "@import" not in page and "@font-face" not in page


def test_at_a_glance_verdict_counts_and_coverage(sample_doc: dict[str, Any]) -> None:
    page = render_html(sample_doc)
    text = visible_text(page)
    assert 'class="verdict verdict-fail"' in page
    assert "Scan incomplete" in text
    # counts by status (tiles) and failures by severity
    for status, n in (("FAIL", 5), ("UNKNOWN", 1), ("MUTED", 1), ("PASS", 4)):
        assert re.search(rf'data-value="{status}">\s*<span class="tile-n">{n}</span>', page)
    assert re.search(
        r'data-value="critical" data-status="FAIL">\s*<span class="chip '
        r'sev-critical">critical</span>\s*<span class="tile-n">2</span>',
        page,
    )
    # coverage: the broken account, the error scope, and the errors with code and message
    assert "444444444444" in text and "AccessDeniedException" in text
    assert "not authorized to perform sagemaker:ListMlflowTrackingServers" in text
    assert "sts:AssumeRole" in text
    assert 'class="cell-bad"' in page and 'class="cell-ok"' in page
    # the worst findings come first: critical FAILs before the high one
    worst = page[page.index('class="worst"') : page.index('id="coverage"')]
    assert worst.index("fraud-model-tracking") < worst.index("legacy-tracking")
    assert "typo-app" not in worst  # medium is not in the worst list


def test_charts_are_inline_svg(sample_doc: dict[str, Any]) -> None:
    page = render_html(sample_doc)
    assert page.count("<svg") == 3
    assert "<title>FAIL: 5</title>" in page
    assert "111111111111 (prod): 4 failing" in page


def test_remediations_every_status_with_before_after(sample_doc: dict[str, Any]) -> None:
    page = render_html(sample_doc)
    section = page[page.index('id="remediations"') : page.index('id="findings"')]
    for status in ("planned", "applied", "verified", "skipped", "failed"):
        assert f"rem-row-{status}" in section
    assert "ConflictException" in section and "Server is Updating" in section
    assert "owner unknown: not enough evidence" in section
    assert 'false <span aria-label="changed to">→</span> <strong>true</strong>' in section
    assert "3 attempts" in section


def test_static_findings_cover_every_non_pass_with_evidence_and_fix(
    sample_doc: dict[str, Any],
) -> None:
    page = render_html(sample_doc)
    static = page[page.index('id="static-findings"') : page.index("</main>")]
    assert static.count('class="static-row"') == 7  # 5 FAIL + UNKNOWN + MUTED, no PASS
    assert "zeta-app" not in static
    for sev in ("critical", "high", "medium", "low", "info"):
        assert f'class="chip sev-{sev}"' in static
    assert "Accepted until migration (JIRA SEC-42)" in static
    assert "s3:ListBuckets" in static and "404 NotFound" in static
    assert "Bucket=fraud-model-artifacts" in static
    assert (
        "aws sagemaker update-mlflow-tracking-server --region us-east-1 "
        "--tracking-server-name fraud-model-tracking"
    ) in static


def test_history_section_only_when_present(sample_doc: dict[str, Any]) -> None:
    page = render_html(sample_doc)
    section = visible_text(page[page.index('id="history"') : page.index('id="remediations"')])
    assert "2026-11-26T15-40-02Z-aaaaaa" in section and "old-tracking" in section
    assert re.search(r"2\s+new findings", section)
    del sample_doc["history"]
    for f in sample_doc["findings"]:
        f["change"] = None
    sample_doc["remediations"] = []
    page = render_html(sample_doc)
    assert 'id="history"' not in page and 'id="f-change"' not in page
    assert 'id="remediations"' not in page


def test_embedded_data_round_trips_every_finding(sample_doc: dict[str, Any]) -> None:
    page = render_html(sample_doc)
    decoded = decode_data(page)
    order = {"FAIL": 0, "UNKNOWN": 1, "MUTED": 2, "PASS": 3}
    sev = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    expected = sorted(
        sample_doc["findings"], key=lambda f: (order[f["status"]], sev[f["severity"]])
    )
    assert len(decoded) == len(expected)
    for got, want in zip(decoded, expected, strict=True):
        for key in (
            "check_id",
            "status",
            "severity",
            "resource_name",
            "resource_arn",
            "message",
            "risk",
            "muted_reason",
            "change",
            "evidence",
        ):
            assert got[key] == want[key], key
        assert got["remediation_command"] == want["remediation"]["command"]
        assert got["remediation_auto"] is True


def test_minimal_document_renders() -> None:
    page = render_html({"schema_version": "1.0", "run": {}, "findings": []})
    assert "Every finding passed." in page
    assert 'class="verdict verdict-pass"' in page
    assert decode_data(page) == []


def test_tolerates_unknown_values_and_fields(sample_doc: dict[str, Any]) -> None:
    f = sample_doc["findings"][0]
    f.update(
        severity="catastrophic",
        status="WEIRD",
        extra_field={"x": 1},
        evidence=None,
        remediation=None,
    )
    sample_doc["future_section"] = [1, 2]
    page = render_html(sample_doc)
    assert "catastrophic" in page and 'class="chip sev-other"' in page


def test_static_list_is_capped_for_large_runs() -> None:
    doc = report_docgen.big_doc(3000, fail_ratio=1.0)
    page = render_html(doc, static_limit=50)
    assert page.count('class="static-row"') == 50
    assert "the worst 50 shown here" in page
    assert len(decode_data(page)) == 3000


# --------------------------------------------------------------------------- injection


def test_findings_json_cannot_break_out_of_its_script() -> None:
    text = findings_data_json(
        [
            report_docgen.finding(
                "mlflow_artifact_bucket_exists",
                "FAIL",
                name="</script><script>alert(1)</script><!--",
                message="a & b > c \u2028",
            )
        ]
    )
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\\u003c/script\\u003e" in text
    payload = json.loads(text)
    assert "</script><script>alert(1)</script><!--" in payload["strings"]
    # U+2028 (a line separator) is made visible like every control character
    assert "a & b > c \\u2028" in payload["strings"]


def test_injected_markup_is_escaped_everywhere(injected_doc: dict[str, Any]) -> None:
    page = render_html(injected_doc)
    data_start = page.index('<script type="application/json" id="findings-data">')
    data_end = page.index("</script>", data_start)
    assert "<" not in page[data_start + 10 : data_end]
    markup = page[:data_start] + page[data_end:]
    for needle in (
        "<script>window",
        "<img src=x",
        "</script><script>",
        '"onmouseover=',
        'onerror="window',
    ):
        assert needle not in markup, needle
    # only the tags we wrote: one JSON block and one script
    c = parse(page)
    assert [t for t, _ in c.tags].count("script") == 3
    assert "img" not in {t for t, _ in c.tags}
    for _, attrs in c.tags:
        assert not any(name.startswith("on") for name in attrs), attrs
    # ... and the payloads are still shown literally, as text
    text = visible_text(page)
    for payload in report_docgen.PAYLOADS:
        assert payload in text
    decoded = decode_data(page)
    assert any("<script>window.__pwned=1</script>" in f["message"] for f in decoded)
    assert decoded[0]["evidence"][0]["params"]


@pytest.mark.parametrize("field", ["resource_name", "artifact_store_uri", "message"])
def test_each_untrusted_field_is_escaped(sample_doc: dict[str, Any], field: str) -> None:
    sample_doc["findings"][0][field] = "<b id=evil>x</b>"
    page = render_html(sample_doc)
    assert "<b id=evil>" not in page
    assert "&lt;b id=evil&gt;x&lt;/b&gt;" in page
