"""Security Hub in the simulation, and the importer end to end through botocore.

Each documented behaviour the sim adds to moto has its own test (see auditor/sim/securityhub.py
for the AWS pages relied on); the importer tests run auditor.integrations.securityhub against it and read
the findings back with GetFindings.
"""

from __future__ import annotations

import copy

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from auditor.integrations.securityhub import import_findings
from auditor.report.formats import asff
from auditor.sim import securityhub as sim_hub

from .conftest import OTHER, PROD

NO_RETRY = Config(retries={"mode": "standard", "max_attempts": 1})


@pytest.fixture(autouse=True)
def _clean_hub():
    sim_hub.reset()
    yield
    sim_hub.reset()


def hub(sim, account, region="us-east-1", config=None):
    return sim.session_for(account, region).client("securityhub", region, config=config)


def enable(sim, account, region="us-east-1"):
    hub(sim, account, region).enable_security_hub()


def run_doc(accounts_regions, started="2026-11-27T02:00:00Z", resolved=(), findings=None):
    findings = (
        findings
        if findings is not None
        else [finding(a, r, f"srv-{a}-{r}-{i}") for a, r in accounts_regions for i in range(3)]
    )
    return {
        "schema_version": "1.1",
        "run": {
            "id": f"run-{started}",
            "started_at": started,
            "finished_at": started.replace(":00Z", ":09Z"),
            "scopes": [
                {"account_id": a, "region": r, "status": "scanned", "resources": 3}
                for a, r in accounts_regions
            ],
        },
        "findings": findings,
        "history": {"resolved": list(resolved)},
    }


def finding(account, region, name, status="FAIL", check="mlflow_s3_owner_verification_enabled"):
    return {
        "check_id": check,
        "title": "Owner verification is enabled",
        "status": status,
        "severity": "high",
        "account_id": account,
        "region": region,
        "resource_type": "mlflow-tracking-server",
        "resource_name": name,
        "resource_arn": f"arn:aws:sagemaker:{region}:{account}:mlflow-tracking-server/{name}",
        "artifact_store_uri": f"s3://bucket-{name}/x",
        "bucket": f"bucket-{name}",
        "expected_owner": account,
        "actual_owner": None,
        "message": f"{name} does not verify its bucket owner.",
        "evidence": [],
        "remediation": {
            "text": "Enable verification.",
            "command": "aws sagemaker ...",
            "auto": True,
        },
        "muted_reason": None,
        "change": "new",
    }


def all_findings(client):
    out = []
    for page in client.get_paginator("get_findings").paginate():
        out.extend(page["Findings"])
    return out


def client_for(sim, config=None):
    return lambda account, region: hub(sim, account, region, config)


# ---------------------------------------------------------------- sim behaviours


def test_not_enabled_answers_invalid_access_401(sim):
    client = hub(sim, PROD)
    record = asff.render(run_doc([(PROD, "us-east-1")]))[0]
    with pytest.raises(ClientError) as exc:
        client.batch_import_findings(Findings=[record])
    assert exc.value.response["Error"]["Code"] == "InvalidAccessException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    with pytest.raises(ClientError) as exc:
        client.get_findings()
    assert exc.value.response["Error"]["Code"] == "InvalidAccessException"
    enable(sim, PROD)
    assert client.batch_import_findings(Findings=[record])["SuccessCount"] == 1


def test_default_product_arn_requires_the_calling_account(sim):
    enable(sim, PROD)
    enable(sim, OTHER)
    other_record = asff.render(run_doc([(OTHER, "us-east-1")]))[0]
    with pytest.raises(ClientError) as exc:  # PROD sends OTHER's finding
        hub(sim, PROD).batch_import_findings(Findings=[other_record])
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert other_record["ProductArn"] in exc.value.response["Error"]["Message"]
    forged = dict(other_record, AwsAccountId=PROD)  # own account id, foreign product ARN
    with pytest.raises(ClientError):
        hub(sim, PROD).batch_import_findings(Findings=[forged])
    assert all_findings(hub(sim, PROD)) == []
    assert hub(sim, OTHER).batch_import_findings(Findings=[other_record])["SuccessCount"] == 1


def test_more_than_100_findings_is_invalid_input(sim):
    enable(sim, PROD)
    record = asff.render(run_doc([(PROD, "us-east-1")]))[0]
    many = [dict(record, Id=f"id-{i}") for i in range(101)]
    with pytest.raises(ClientError) as exc:
        hub(sim, PROD).batch_import_findings(Findings=many)
    assert exc.value.response["Error"]["Code"] == "InvalidInputException"


def test_injected_failed_finding_and_oversized_finding(sim):
    enable(sim, PROD)
    records = asff.render(run_doc([(PROD, "us-east-1")]))
    big = copy.deepcopy(records[1])
    big["ProductFields"]["padding"] = "x" * (241 * 1024)
    sim_hub.fail_next(records[0]["Id"], "InvalidInput", message="bad")
    answer = hub(sim, PROD).batch_import_findings(Findings=[records[0], big, records[2]])
    assert answer["SuccessCount"] == 1
    assert {(f["Id"], f["ErrorCode"]) for f in answer["FailedFindings"]} == {
        (records[0]["Id"], "InvalidInput"),
        (big["Id"], "InvalidInput"),
    }


def test_rate_limit_answers_429_beyond_the_burst(sim):
    enable(sim, PROD)
    sim_hub.enforce_rate_limit(rate=0.001, burst=2)
    record = asff.render(run_doc([(PROD, "us-east-1")]))[0]
    client = hub(sim, PROD, config=NO_RETRY)
    client.batch_import_findings(Findings=[record])
    client.batch_import_findings(Findings=[record])
    with pytest.raises(ClientError) as exc:
        client.batch_import_findings(Findings=[record])
    assert exc.value.response["Error"]["Code"] == "LimitExceededException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


# ---------------------------------------------------------------- importer end to end


def test_import_then_reimport_updates_the_same_ids(sim):
    scopes = [(PROD, "us-east-1"), (PROD, "eu-west-1"), (OTHER, "us-east-1")]
    for account, region in scopes:
        enable(sim, account, region)
    night1 = run_doc(scopes)
    result = import_findings(asff.render(night1), client_for(sim))
    assert (result["imported"], result["failed"], result["skipped"]) == (9, 0, 0)
    assert {(s["account_id"], s["region"], s["imported"]) for s in result["scopes"]} == {
        (a, r, 3) for a, r in scopes
    }
    seen = [
        dict(f, change="unchanged", first_seen=night1["run"]["started_at"])
        for f in night1["findings"]
    ]
    night2 = run_doc(scopes, started="2026-11-28T02:00:00Z", findings=seen)
    again = import_findings(asff.render(night2), client_for(sim))
    assert again["imported"] == 9
    stored = all_findings(hub(sim, PROD, "us-east-1"))
    assert len(stored) == 3  # updated, not duplicated
    assert {f["UpdatedAt"] for f in stored} == {"2026-11-28T02:00:09Z"}


def test_resolved_findings_are_archived_and_only_those(sim):
    scopes = [(PROD, "us-east-1")]
    enable(sim, PROD)
    night1 = run_doc(scopes)
    import_findings(asff.render(night1), client_for(sim))
    fixed = dict(night1["findings"][0], status="PASS", change=None)
    resolved = [dict(night1["findings"][0], now="PASS")]
    night2 = run_doc(scopes, "2026-11-28T02:00:00Z", resolved, [fixed, *night1["findings"][1:]])
    result = import_findings(asff.render(night2), client_for(sim))
    assert result["imported"] == 3
    stored = {f["Id"]: f for f in all_findings(hub(sim, PROD))}
    archived = {i for i, f in stored.items() if f["RecordState"] == "ARCHIVED"}
    fixed_id = asff.finding_id(fixed["check_id"], fixed["resource_arn"])
    assert archived == {fixed_id}
    assert stored[fixed_id]["Compliance"]["Status"] == "PASSED"
    assert all(f["Compliance"]["Status"] == "FAILED" for i, f in stored.items() if i != fixed_id)


def test_a_scope_not_scanned_is_never_archived(sim):
    enable(sim, PROD)
    enable(sim, OTHER)
    both = [(PROD, "us-east-1"), (OTHER, "us-east-1")]
    import_findings(asff.render(run_doc(both)), client_for(sim))
    # Night 2 is shard 1/2 (PROD only) but a stale resolved entry names OTHER's finding.
    night1_other = finding(OTHER, "us-east-1", f"srv-{OTHER}-us-east-1-0")
    doc = run_doc([(PROD, "us-east-1")], "2026-11-28T02:00:00Z", [dict(night1_other, now=None)])
    records = asff.render(doc)
    assert all(r["RecordState"] == "ACTIVE" for r in records)  # the renderer drops it
    stale = asff.to_asff(night1_other, run=doc["run"], record_state="ARCHIVED")
    result = import_findings(
        [*records, stale], client_for(sim), scanned={(PROD, "us-east-1")}
    )  # and the importer refuses it even when handed one
    assert result["skipped"] == 1
    assert any("not archived" in w for w in result["warnings"])
    assert {f["RecordState"] for f in all_findings(hub(sim, OTHER))} == {"ACTIVE"}


def test_not_enabled_scope_is_a_warning_not_a_failure(sim):
    enable(sim, PROD)  # OTHER has no Security Hub
    result = import_findings(
        asff.render(run_doc([(PROD, "us-east-1"), (OTHER, "us-east-1")])), client_for(sim)
    )
    by_scope = {s["account_id"]: s for s in result["scopes"]}
    assert by_scope[PROD]["imported"] == 3
    assert by_scope[OTHER]["status"] == "not_enabled"
    assert (by_scope[OTHER]["skipped"], by_scope[OTHER]["failed"]) == (3, 0)
    assert result["failed"] == 0
    assert any(OTHER in w and "not enabled" in w for w in result["warnings"])


def test_throttled_imports_are_retried_until_every_finding_is_in(sim):
    enable(sim, PROD)
    doc = run_doc(
        [(PROD, "us-east-1")], findings=[finding(PROD, "us-east-1", f"srv-{i}") for i in range(250)]
    )
    sim.faults.seed(7)
    sim.faults.throttle_rate = 0.5
    result = import_findings(
        asff.render(doc), client_for(sim, NO_RETRY), sleep=lambda s: None, max_attempts=20
    )
    sim.faults.throttle_rate = 0.0
    assert result["throttled"] > 0
    assert (result["imported"], result["failed"]) == (250, 0)
    assert result["calls"] == 3 + result["throttled"]  # 3 batches of <=100
    assert len(all_findings(hub(sim, PROD))) == 250


def test_retryable_failed_entries_are_retried_and_the_rest_reported(sim):
    enable(sim, PROD)
    records = asff.render(run_doc([(PROD, "us-east-1")]))
    sim_hub.fail_next(records[0]["Id"], "InternalException", times=2)
    sim_hub.fail_next(records[1]["Id"], "InvalidInput", message="Finding is malformed")
    result = import_findings(records, client_for(sim), sleep=lambda s: None)
    scope = result["scopes"][0]
    assert (scope["imported"], scope["failed"], scope["status"]) == (2, 1, "partial")
    assert scope["failures"] == [
        {"id": records[1]["Id"], "code": "InvalidInput", "message": "Finding is malformed"}
    ]
    assert scope["retried_findings"] == 2
    assert {f["Id"] for f in all_findings(hub(sim, PROD))} == {records[0]["Id"], records[2]["Id"]}


def test_access_denied_in_one_account_is_reported_for_that_scope_only(sim):
    enable(sim, PROD)
    enable(sim, OTHER)
    sim.faults.deny(OTHER, "us-east-1", "securityhub")  # e.g. the optional statement missing
    result = import_findings(
        asff.render(run_doc([(PROD, "us-east-1"), (OTHER, "us-east-1")])), client_for(sim)
    )
    by_scope = {s["account_id"]: s for s in result["scopes"]}
    assert (by_scope[PROD]["status"], by_scope[PROD]["imported"]) == ("imported", 3)
    denied = by_scope[OTHER]
    assert (denied["status"], denied["failed"], denied["calls"]) == ("failed", 3, 1)
    assert denied["error"]["code"] == "AccessDeniedException"
