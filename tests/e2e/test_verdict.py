"""The verdict describes the findings, the exit code the threshold: ``--fail-on none``
still reports FAIL; a server that fails closed says so and ranks below the exploitable
ones (the CLI as its own process against the served demo)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.served import SCOPE, read

pytestmark = pytest.mark.slow


def test_fail_on_none_still_reports_fail(served, tmp_path):
    out = tmp_path / "out"
    proc = served.run("scan", *SCOPE, "--fail-on", "none", "--no-history", "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr  # the threshold decides the exit code ...
    doc = read(out)
    criticals = doc["summary"]["fail_by_severity"]["critical"]
    assert criticals > 0
    assert doc["summary"]["verdict"] == "FAIL"  # ... the verdict describes the findings
    assert doc["summary"]["fail_on"] == "none"
    html = (out / "report.html").read_text()
    assert "No failure at or above the threshold" not in html
    assert "failing finding" in html and "--fail-on none" in html
    assert "verdict: FAIL (exit 0)" in proc.stderr


def test_a_server_that_fails_closed_says_so_and_ranks_below_exploitable_ones(demo_scan):
    doc = json.loads(demo_scan.read_text())
    by = {(f["resource_name"], f["check_id"]): (n, f) for n, f in enumerate(doc["findings"])}
    # missing-bucket verifies its own (trusted) account: a sniper's bucket is refused.
    n_closed, closed = by[("missing-bucket", "mlflow_artifact_bucket_exists")]
    assert closed["status"] == "FAIL"
    assert "fails closed" in closed["message"] and "outage" in closed["message"]
    assert "any AWS account can create it" not in closed["message"]
    assert closed["remediation"]["auto"] is False
    assert "--s3-bucket-owner-account-id" not in closed["remediation"]["command"]
    # sniped-unverified does not verify: exploitable now, listed first.
    n_open, exposed = by[("sniped-unverified", "mlflow_artifact_bucket_owner_trusted")]
    assert exposed["status"] == "FAIL" and exposed["remediation"]["auto"] is True
    assert n_open < n_closed
    assert doc["findings"][0]["resource_name"] in {"sniped-unverified", "app-sniped"}
