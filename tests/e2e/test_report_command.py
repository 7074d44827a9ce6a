"""``report`` re-renders a findings document: it validates it first and names the field
that is wrong, and removes stale temporaries of its own only (the CLI as its own process,
on the findings of one scan of the served demo)."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

pytestmark = pytest.mark.slow


def test_report_removes_stale_temporaries_of_ours_only(served, demo_scan, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(demo_scan, out / "findings.json")
    stale = out / ".report.html.k1ll3d.tmp"
    stale.write_bytes(b"x" * 1_000_000)  # what a killed `report` leaves behind
    fresh = out / ".findings.csv.running.tmp"  # another run, writing right now
    fresh.write_text("partial")
    foreign = out / ".notes.tmp"
    foreign.write_text("not ours")
    two_hours_ago = time.time() - 7200
    for path in (stale, foreign):
        os.utime(path, (two_hours_ago, two_hours_ago))
    proc = served.run("report", str(out / "findings.json"))
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists()
    assert fresh.exists() and foreign.exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["findings"][0].update(evidence="x"),
            "findings[0].evidence: expected array, got string",
        ),
        (
            lambda d: d["findings"][3].update(severity="urgent"),
            "findings[3].severity: unknown value 'urgent'",
        ),
        (
            lambda d: d["findings"][1].update(status="BROKEN"),
            "findings[1].status: unknown value 'BROKEN'",
        ),
        (lambda d: d["run"].update(accounts={"a": 1}), "run.accounts: expected array, got object"),
        (lambda d: d["findings"][0].update(evidence="@DEEP@"), "nested too deeply"),
    ],
    ids=["wrong-type", "unknown-severity", "unknown-status", "run-field", "deep-nesting"],
)
def test_report_validates_the_document_and_names_the_field(
    served, demo_scan, tmp_path, mutate, message
):
    doc = json.loads(demo_scan.read_text())
    mutate(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc).replace('"@DEEP@"', "[" * 100_000 + "]" * 100_000))
    proc = served.run("report", str(bad), "--output-dir", str(tmp_path / "r"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "unexpected" not in proc.stderr and "Traceback" not in proc.stderr
