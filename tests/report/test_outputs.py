import csv
import io
import os

import pytest

from auditor.core.errors import ConfigError
from auditor.report.document import exit_code, sort_findings
from auditor.report.formats.csv_table import neutralise, render_csv
from auditor.report.load import load_document
from auditor.report.outputs import write_atomic


def finding(**kw):
    base = {
        "check_id": "mlflow_artifact_bucket_exists",
        "status": "FAIL",
        "severity": "critical",
        "account_id": "111111111111",
        "region": "us-east-1",
        "resource_type": "mlflow-tracking-server",
        "resource_name": "a",
        "resource_arn": "arn:a",
        "artifact_store_uri": "s3://b/x",
        "bucket": "b",
        "expected_owner": "111111111111",
        "actual_owner": None,
        "message": "m",
        "evidence": [],
        "remediation": {"command": "aws x", "auto": True, "text": "t"},
        "title": "t",
        "risk": "r",
        "muted_reason": None,
    }
    base.update(kw)
    return base


@pytest.mark.parametrize("value", ["=1+1", "+1", "-2", "@SUM(A1)", '=HYPERLINK("http://x")'])
def test_formula_cells_are_neutralised(value):
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize(
    ("value", "shown"),
    [("\tx", "\\x09x"), ("\rx", "\\x0dx"), ("a\x1b[2Jb", "a\\x1b[2Jb"), ("p\u202eq", "p\\u202eq")],
)
def test_control_and_bidi_characters_are_made_visible(value, shown):
    assert neutralise(value) == shown


def test_plain_cells_are_untouched():
    assert neutralise("s3://bucket") == "s3://bucket"
    assert neutralise(None) is None


def test_csv_has_one_row_per_finding_and_no_live_formula():
    doc = {
        "findings": [
            finding(resource_name='=HYPERLINK("http://x")', message="+cmd|' /C calc'!A0"),
            finding(status="PASS", severity="high", resource_name="b"),
        ],
        "remediations": [],
    }
    rows = list(csv.DictReader(io.StringIO("".join(render_csv(doc)))))
    assert len(rows) == 2
    assert rows[0]["resource_name"].startswith("'=")
    assert rows[0]["message"].startswith("'+")
    assert rows[0]["remediation_command"] == "aws x"
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@"))


def test_csv_is_written_in_chunks_with_one_header(monkeypatch):
    monkeypatch.setattr("auditor.report.formats.csv_table.CSV_CHUNK_ROWS", 2)
    doc = {"findings": [finding(resource_name=f"r{i}") for i in range(5)], "remediations": []}
    chunks = list(render_csv(doc))
    assert len(chunks) == 3
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert [r["resource_name"] for r in rows] == [f"r{i}" for i in range(5)]


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "findings.json"
    target.write_text("old")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.json"]


def test_exit_codes():
    fail_high = [finding(severity="high")]
    assert exit_code(fail_high, True, "high") == 1
    assert exit_code(fail_high, True, "critical") == 0
    assert exit_code(fail_high, False, "critical") == 3
    assert exit_code(fail_high, True, "none") == 0
    assert exit_code([finding(status="MUTED")], True, "info") == 0
    assert exit_code([finding(status="UNKNOWN")], True, "info") == 0
    assert exit_code(fail_high, False, "low") == 1


def test_findings_sort_worst_first():
    out = sort_findings(
        [
            finding(status="PASS"),
            finding(severity="low"),
            finding(status="UNKNOWN"),
            finding(severity="critical"),
        ]
    )
    assert [(f["status"], f["severity"]) for f in out] == [
        ("FAIL", "critical"),
        ("FAIL", "low"),
        ("UNKNOWN", "critical"),
        ("PASS", "critical"),
    ]


def test_exploitable_resources_rank_by_their_execution_role():
    """Exploitable (bucket missing, nothing verifies its owner): the role check FAILing at
    critical (it writes anywhere and registers models) first, no compensating control
    known next, a role that cannot write outside trusted accounts last of the three."""
    role = "mlflow_execution_role_s3_write_scoped"
    findings = []
    for arn, role_status, role_severity in (
        ("arn:mitigated", "PASS", "high"),
        ("arn:unknown", "UNKNOWN", "high"),
        ("arn:open", "FAIL", "high"),
        ("arn:registers", "FAIL", "critical"),
    ):
        findings.append(finding(resource_arn=arn, resource_name=arn, severity="critical"))
        findings.append(
            finding(
                check_id=role,
                resource_arn=arn,
                resource_name=arn,
                status=role_status,
                severity=role_severity,
            )
        )
    findings.append(finding(resource_arn="arn:safe", resource_name="arn:safe", severity="low"))
    # a server that verifies its owner fails closed: not exploitable
    findings.append(
        finding(
            check_id="mlflow_s3_owner_verification_enabled",
            resource_arn="arn:safe",
            resource_name="arn:safe",
            status="PASS",
        )
    )
    order = []
    for f in sort_findings(findings):
        if f["status"] == "FAIL" and f["resource_arn"] not in order:
            order.append(f["resource_arn"])
    assert order == ["arn:registers", "arn:open", "arn:unknown", "arn:mitigated", "arn:safe"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"findings": []}', "no schema_version"),
        ('{"schema_version": "9.0", "findings": []}', "not supported"),
        (b"\xff\xfe\x00", "cannot read"),
    ],
)
def test_unusable_findings_file_is_a_config_error(tmp_path, content, message):
    p = tmp_path / "findings.json"
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_document(p)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"schema_version": "1.0", "findings": [1, 2]}',
            r"findings\[0\]: expected object, got number",
        ),
        ('{"schema_version": "1.0", "findings": []}', "run: missing"),
        (
            '{"schema_version": "1.0", "findings": [], "run": {"started_at": "x", "finished_at": "y"},'
            ' "errors": {}}',
            "errors: expected array, got object",
        ),
    ],
)
def test_structurally_wrong_findings_file_is_a_config_error(tmp_path, content, message):
    p = tmp_path / "findings.json"
    p.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_document(p)


def test_a_failing_renderer_leaves_every_previous_report_intact(tmp_path, monkeypatch):
    from auditor.report.outputs import write_outputs

    doc = {
        "schema_version": "1.1",
        "run": {},
        "summary": {},
        "findings": [finding()],
        "errors": [],
        "remediations": [],
    }
    for name in ("findings.json", "findings.csv", "report.html"):
        (tmp_path / name).write_text("previous run")

    def broken_html(doc):
        yield "<html>"
        raise RuntimeError("template bug")

    monkeypatch.setattr("auditor.report.formats.html.render_html_chunks", broken_html)
    with pytest.raises(RuntimeError):
        write_outputs(doc, tmp_path, ["json", "csv", "html"])
    # json and csv rendered fine, but were not renamed in over the previous run
    for name in ("findings.json", "findings.csv", "report.html"):
        assert (tmp_path / name).read_text() == "previous run"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "findings.csv",
        "findings.json",
        "report.html",
    ]


def test_json_rendering_round_trips_with_one_finding_per_line():
    import json as _json

    from auditor.report.formats.json_doc import render_json

    doc = {
        "schema_version": "1.1",
        "run": {"accounts": [{"a": 1}]},
        "findings": [finding(resource_name="a"), finding(resource_name='b"\n<x>')],
        "errors": [],
        "remediations": [],
    }
    text = "".join(render_json(doc))
    assert _json.loads(text) == doc
    lines = text.splitlines()
    assert sum(1 for line in lines if line.strip().startswith('{"check_id"')) == 2
    empty = {**doc, "findings": []}
    assert _json.loads("".join(render_json(empty))) == empty
