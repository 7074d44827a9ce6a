"""The terminal's failure list: worst first, every critical and high named, the rest counted."""

from __future__ import annotations

from auditor.report.console import SUMMARY_LIST_LIMIT, failure_lines

EXISTS = "mlflow_artifact_bucket_exists"
OWNER_TRUSTED = "mlflow_artifact_bucket_owner_trusted"
VERIFIES = "mlflow_s3_owner_verification_enabled"


def finding(n: int, severity: str, check: str = EXISTS, status: str = "FAIL", **extra):
    name = f"srv-{n:04d}"
    return {
        "check_id": check,
        "status": status,
        "severity": severity,
        "account_id": f"{100000000000 + n}",
        "region": "us-east-1",
        "resource_name": name,
        "resource_arn": f"arn:aws:sagemaker:us-east-1:{100000000000 + n}:mlflow-tracking-server/{name}",
        "caused_by": None,
        **extra,
    }


def test_every_critical_and_high_is_named_before_the_rest_is_counted():
    lows = [finding(n, "low", "mlflow_artifact_bucket_account_namespace") for n in range(400)]
    highs = [finding(1000 + n, "high", VERIFIES) for n in range(30)]
    criticals = [finding(2000 + n, "critical") for n in range(24)]
    mediums = [
        finding(3000 + n, "medium", "mlflow_artifact_bucket_acls_disabled") for n in range(3)
    ]
    fails = lows + mediums + highs + criticals  # unsorted, lows first
    lines = failure_lines(fails, fails)
    severities = [line.split()[0] for line in lines[:-1]]
    assert severities == ["critical"] * 24 + ["high"] * 30
    assert lines[-1] == "  ... and 403 more: 3 medium, 400 low (see the reports)"


def test_the_rest_is_named_while_it_fits_and_exploitable_comes_first_within_a_severity():
    # srv-0002's bucket is foreign and it does not verify the owner: exploitable now.
    exposed = [
        finding(2, "critical", OWNER_TRUSTED),
        finding(2, "high", VERIFIES),
    ]
    safe = finding(1, "critical", OWNER_TRUSTED)
    verified = finding(1, "high", VERIFIES, status="PASS")
    lows = [finding(10 + n, "low") for n in range(SUMMARY_LIST_LIMIT)]
    fails = [safe, *exposed, *lows]
    lines = failure_lines(fails, [*fails, verified])
    assert lines[0].split()[2:] == [f"{100000000002}/us-east-1", "srv-0002"]  # exposed first
    assert lines[1].split()[3] == "srv-0001"
    assert len([line for line in lines if line.startswith("  low ")]) == SUMMARY_LIST_LIMIT - 3
    assert lines[-1] == "  ... and 3 more: 3 low (see the reports)"


def test_follow_on_unknowns_are_shown_under_their_root():
    root = finding(1, "critical")
    follow = [
        finding(1, "high", "mlflow_artifact_bucket_not_public", status="UNKNOWN", caused_by=EXISTS),
        finding(
            1,
            "low",
            "mlflow_artifact_bucket_versioning_enabled",
            status="UNKNOWN",
            caused_by=EXISTS,
        ),
    ]
    lines = failure_lines([root], [root, *follow])
    assert lines == [
        f"  critical {EXISTS} 100000000001/us-east-1 srv-0001",
        "    + 2 UNKNOWN following from it: mlflow_artifact_bucket_not_public, "
        "mlflow_artifact_bucket_versioning_enabled",
    ]
