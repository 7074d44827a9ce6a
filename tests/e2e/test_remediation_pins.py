"""Remediation never replaces a bucket-owner pin that S3 proves correct: an owner in the
Organization is left alone (and the reason says how to trust it when membership is
unknown), a foreign pin of a foreign bucket still fails closed, and the re-scan after
``--remediate --yes`` says a server already fails closed instead of offering the pin
again (the CLI as its own process; the remediation changes the servers)."""

from __future__ import annotations

import pytest

from tests.e2e.served import read

pytestmark = pytest.mark.slow


def test_remediation_never_replaces_a_pin_s3_proves_correct(own_demo, tmp_path):
    prod = own_demo.account("prod")
    shared = own_demo.account("shared-services")
    mgmt = own_demo.info["management_account_id"]
    args = ("scan", "--account", prod, "--region", "us-east-1", "--no-history")
    # Nothing here is about waiting: "stuck-updating" (prod) is skipped at once rather than
    # waited for for the default minute on each run.
    remediate = ("--remediate", "--yes", "--stable-wait", "0")

    # Organizations unreadable: membership unknown -> skipped, and the reason says how
    # to trust the owner.
    own_demo.control("/_sim/faults", {"deny": [[mgmt, None, "organizations"]]})
    try:
        own_demo.run(*args, *remediate, "--output-dir", str(tmp_path / "a"))
    finally:
        own_demo.reset()
    rem = {r["resource_name"]: r for r in read(tmp_path / "a")["remediations"]}
    assert rem["central-bucket"]["status"] == "skipped"
    assert f"--trusted-account {shared}" in rem["central-bucket"]["reason"]
    assert "--org" in rem["central-bucket"]["reason"]

    # Organizations readable: the owner is a member -> still left alone.
    own_demo.run(*args, *remediate, "--output-dir", str(tmp_path / "b"))
    rem = {r["resource_name"]: r for r in read(tmp_path / "b")["remediations"]}
    assert rem["central-bucket"]["status"] == "skipped"
    assert "member of your Organization" in rem["central-bucket"]["reason"]
    # ... while a foreign pin of a foreign bucket (the partner, outside the org) still
    # fails closed to the server's own account.
    assert rem["partner-bucket"]["status"] == "verified"

    own_demo.run(*args, "--output-dir", str(tmp_path / "c"))
    findings = read(tmp_path / "c")["findings"]
    after = {f["resource_name"]: f for f in findings}
    assert after["central-bucket"]["expected_owner"] == shared
    # 6. the re-scan after --remediate --yes: sniped-unverified now verifies prod, so it
    # fails closed; it says so and is not offered the applied pin again.
    sniped = next(
        f
        for f in findings
        if f["resource_name"] == "sniped-unverified"
        and f["check_id"] == "mlflow_artifact_bucket_owner_trusted"
    )
    assert sniped["status"] == "FAIL" and "outage" in sniped["message"]
    assert sniped["remediation"]["auto"] is False
    assert "already fails closed" in sniped["remediation"]["text"]
    assert "--s3-bucket-owner-account-id" not in sniped["remediation"]["command"]
