"""The Config custom rule end to end through botocore: a Config invocation naming a tracking
server of the demo organisation, its re-checked findings, and PutEvaluations answered by the
simulation (moto answers TestMode only; see auditor/sim/config.py), read back per account."""

from __future__ import annotations

import json

import pytest

from auditor.core.model import Severity
from auditor.events.config import CHANGE, MLFLOW_TRACKING_SERVER, SCHEDULED
from auditor.integrations import config_rule
from auditor.sim import config as sim_config
from auditor.sim import simulated_aws
from tests.report.demo_document import demo_document

RULE = "mlflow-artifact-bucket-owner"


@pytest.fixture(scope="module")
def findings() -> list[dict]:
    return demo_document()["findings"]


@pytest.fixture
def sim():
    sim_config.reset()
    with simulated_aws() as s:
        yield s
    sim_config.reset()


def server(findings, name):
    return next(
        f
        for f in findings
        if f["resource_name"] == name and f["resource_type"] == "mlflow-tracking-server"
    )


def change_event(f: dict, token: str, status: str = "OK", **params) -> dict:
    item = {
        "configurationItemCaptureTime": "2026-12-01T10:00:00.000Z",
        "awsAccountId": f["account_id"],
        "configurationItemStatus": status,
        "resourceId": f["resource_name"],
        "resourceName": f["resource_name"],
        "ARN": f["resource_arn"],
        "awsRegion": f["region"],
        "resourceType": MLFLOW_TRACKING_SERVER,
    }
    return {
        "invokingEvent": json.dumps({"configurationItem": item, "messageType": CHANGE}),
        "ruleParameters": json.dumps(params),
        "resultToken": token,
        "eventLeftScope": False,
        "configRuleArn": f"arn:aws:config:{f['region']}:{f['account_id']}:config-rule/config-rule-1",
        "configRuleName": RULE,
        "accountId": f["account_id"],
    }


def run(sim, event, findings, calls=None):
    def recheck(invocation):
        if calls is not None:
            calls.append(invocation)
        return findings

    def config_for(invocation):
        session = sim.session_for(invocation.account_id, invocation.region)
        return session.client("config", region_name=invocation.region)

    return config_rule.handle_event(event, recheck, config_for)


def token_for(f):
    return sim_config.issue_token(f["account_id"], f["region"], RULE)


def test_non_compliant_server_gets_one_evaluation_naming_the_worst_failing_check(sim, findings):
    target = server(findings, "verification-disabled")
    summary = run(sim, change_event(target, token_for(target)), findings)
    (kept,) = sim_config.recorded(target["account_id"], target["region"])
    own = [f for f in findings if f["resource_arn"] == target["resource_arn"]]
    failing = [f for f in own if f["status"] == "FAIL" and Severity(f["severity"]).rank >= 1]
    worst = max(failing, key=lambda f: (Severity(f["severity"]).rank, f["check_id"]))
    assert kept["ComplianceType"] == "NON_COMPLIANT"
    assert kept["ComplianceResourceId"] == "verification-disabled"
    assert kept["ComplianceResourceType"] == MLFLOW_TRACKING_SERVER
    assert kept["Annotation"].startswith(f"{worst['check_id']} FAIL ({worst['severity']})")
    assert len(kept["Annotation"]) <= 256 and kept["ConfigRuleName"] == RULE
    assert summary["sent"] == 1 and summary["calls"] == 1 and summary["failed"] == []


def test_compliant_server(sim, findings):
    target = server(findings, "compliant-namespace")
    run(sim, change_event(target, token_for(target)), findings)
    (kept,) = sim_config.recorded(target["account_id"], target["region"])
    assert kept["ComplianceType"] == "COMPLIANT"
    assert kept["Annotation"].startswith("all ") and "pass" in kept["Annotation"]


def test_threshold_parameter_ignores_checks_below_it(sim, findings):
    # 'compliant' fails one low-severity check only: non-compliant at low, compliant at high
    target = server(findings, "compliant")
    fails = {f["severity"] for f in findings if f["resource_arn"] == target["resource_arn"]
             and f["status"] == "FAIL"}  # fmt: skip
    assert fails and all(Severity(s).rank < Severity.HIGH.rank for s in fails)
    run(sim, change_event(target, token_for(target), severity="high"), findings)
    (kept,) = sim_config.recorded(target["account_id"], target["region"])
    assert kept["ComplianceType"] == "COMPLIANT"


def test_deleted_server_is_not_applicable_without_a_recheck(sim, findings):
    target = server(findings, "verification-disabled")
    calls: list = []
    run(sim, change_event(target, token_for(target), status="ResourceDeleted"), findings, calls)
    (kept,) = sim_config.recorded(target["account_id"], target["region"])
    assert kept["ComplianceType"] == "NOT_APPLICABLE" and calls == []


def test_unknown_verdict_is_withheld_not_sent(sim, findings):
    target = dict(server(findings, "compliant-namespace"), status="UNKNOWN", message="denied")
    summary = run(sim, change_event(target, token_for(target)), [target])
    assert sim_config.recorded(target["account_id"], target["region"]) == []
    assert summary["withheld"][0]["ComplianceResourceId"] == "compliant-namespace"
    assert summary["sent"] == 0 and summary["calls"] == 0


def test_malformed_event_is_one_line_and_no_evaluation(sim, findings):
    target = server(findings, "verification-disabled")
    event = change_event(target, token_for(target))
    event["invokingEvent"] = "{truncated"
    calls: list = []
    summary = run(sim, event, findings, calls)
    assert summary["status"] == "bad_event" and "\n" not in summary["message"]
    assert summary["message"] == "Config event: invokingEvent is not valid JSON"
    assert calls == [] and sim.count(service="config") == 0
    bad_parameter = change_event(target, token_for(target), severity="severe")
    summary = run(sim, bad_parameter, findings, calls)
    assert summary["status"] == "bad_event" and "severity='severe'" in summary["message"]
    assert sim_config.recorded(target["account_id"], target["region"]) == []


def test_periodic_run_evaluates_every_server_in_batches_of_100(sim):
    account, region = "444455556666", "eu-west-1"
    many = [
        {
            "check_id": "mlflow_s3_owner_verification_enabled",
            "status": "FAIL" if n % 2 else "PASS",
            "severity": "high",
            "account_id": account,
            "region": region,
            "resource_type": "mlflow-tracking-server",
            "resource_name": f"server-{n:03d}",
            "resource_arn": f"arn:aws:sagemaker:{region}:{account}:mlflow-tracking-server/s{n}",
            "message": "x" * 400,
        }
        for n in range(250)
    ]
    event = {
        "invokingEvent": json.dumps(
            {
                "awsAccountId": account,
                "notificationCreationTime": "2026-12-01T00:00:00.000Z",
                "messageType": SCHEDULED,
            }
        ),
        "resultToken": sim_config.issue_token(account, region, RULE),
        "configRuleArn": f"arn:aws:config:{region}:{account}:config-rule/config-rule-1",
        "configRuleName": RULE,
    }
    summary = run(sim, event, many)
    kept = sim_config.recorded(account, region)
    assert summary["calls"] == 3 and summary["sent"] == 250 == len(kept)
    assert sim.count(service="config", operation="PutEvaluations", status_code=200) == 3
    assert {k["ComplianceType"] for k in kept} == {"COMPLIANT", "NON_COMPLIANT"}
    assert max(len(k["Annotation"]) for k in kept) == 256


def test_a_rejected_call_is_a_warning(sim, findings):
    target = server(findings, "verification-disabled")
    summary = run(sim, change_event(target, "a-token-config-never-issued"), findings)
    assert summary["sent"] == 0 and summary["failed"] == ["verification-disabled"]
    assert "InvalidResultTokenException" in summary["warnings"][0]
