"""The AWS Config custom rule through the Lambda entry point, on the simulated organisation.

Config invokes ``auditor.app.aws_lambda.lambda_handler`` with the event shapes of "Example
Events for AWS Config Rules" (tests/events/test_config_events.py has their sources); the
function re-checks the named tracking server with scan's rules and proofs and answers
with ``PutEvaluations`` in the invoking account (auditor.sim.config keeps what it got).
"""

from __future__ import annotations

import json
import os

import pytest

from auditor.app.aws_lambda import lambda_handler
from auditor.events.config import CHANGE, MLFLOW_TRACKING_SERVER, SCHEDULED
from auditor.sim import build_demo_org, simulated_aws
from auditor.sim import config as sim_config

REGION = "us-east-1"
RULE = "mlflow-artifact-bucket-owner"
VERIFY = "mlflow_s3_owner_verification_enabled"


@pytest.fixture(scope="module")
def org():
    with simulated_aws() as sim:
        yield sim, build_demo_org(sim, regions=(REGION,))


@pytest.fixture
def lambda_env(org, monkeypatch):
    sim, demo = org
    key, secret = sim.credentials_for(demo.management_account_id)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    for name in list(os.environ):
        if name.startswith("MLFLOW_AUDIT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_AUDIT_ORG", "true")
    monkeypatch.setenv("MLFLOW_AUDIT_ROLE_NAME", demo.audit_role_name)
    sim_config.reset()
    sim.reset_calls()
    yield sim, demo
    sim_config.reset()


def change_event(account: str, name: str, status: str = "OK", **overrides) -> dict:
    """A ConfigurationItemChangeNotification for one tracking server, with a token Config
    issued for this invocation."""
    item = {
        "configurationItemCaptureTime": "2026-12-01T10:00:00.000Z",
        "awsAccountId": account,
        "configurationItemStatus": status,
        "resourceId": name,
        "resourceName": name,
        "ARN": f"arn:aws:sagemaker:{REGION}:{account}:mlflow-tracking-server/{name}",
        "awsRegion": REGION,
        "resourceType": MLFLOW_TRACKING_SERVER,
    }
    event = {
        "invokingEvent": json.dumps({"configurationItem": item, "messageType": CHANGE}),
        "ruleParameters": json.dumps({"severity": "low"}),
        "resultToken": sim_config.issue_token(account, REGION, RULE),
        "eventLeftScope": False,
        "configRuleArn": f"arn:aws:config:{REGION}:{account}:config-rule/config-rule-abc123",
        "configRuleName": RULE,
        "accountId": account,
    }
    return {**event, **overrides}


def evaluations(account: str) -> dict[str, dict]:
    return {e["ComplianceResourceId"]: e for e in sim_config.recorded(account, REGION)}


def test_change_notifications_answer_non_compliant_compliant_and_deleted(lambda_env):
    sim, demo = lambda_env
    bad = demo.case("verification-disabled")
    good = demo.case("compliant-namespace")
    gone = demo.case("compliant")

    summary = lambda_handler(change_event(bad.account_id, bad.resource_name), None)
    assert summary["status"] == "evaluated" and summary["sent"] == 1, summary
    (entry,) = evaluations(bad.account_id).values()
    assert entry["ComplianceResourceId"] == bad.resource_name
    assert entry["ComplianceType"] == "NON_COMPLIANT"
    assert entry["ComplianceResourceType"] == MLFLOW_TRACKING_SERVER
    # the worst failing check (high), then how many more fail (two low ones)
    assert entry["Annotation"].startswith(f"{VERIFY} FAIL (high) (+2 more failing): ")
    assert len(entry["Annotation"]) <= 256
    # answered in the server's own account, through its audit role
    assert sim.count(service="config", operation="PutEvaluations", account_id=bad.account_id) == 1

    summary = lambda_handler(change_event(good.account_id, good.resource_name), None)
    assert [e["ComplianceType"] for e in summary["evaluations"]] == ["COMPLIANT"]
    assert evaluations(good.account_id)[good.resource_name]["ComplianceType"] == "COMPLIANT"

    sim.reset_calls()
    deleted = change_event(gone.account_id, gone.resource_name, status="ResourceDeleted")
    summary = lambda_handler(deleted, None)
    assert evaluations(gone.account_id)[gone.resource_name]["ComplianceType"] == "NOT_APPLICABLE"
    # a deleted server needs no re-check: nothing but the answer was called
    assert sim.count(service="sagemaker") == 0
    assert sim.count(service="config", operation="PutEvaluations") == 1


def test_periodic_run_evaluates_every_server_of_the_account_region(lambda_env):
    _sim, demo = lambda_env
    account = demo.case("verification-disabled").account_id
    invoking = {
        "awsAccountId": account,
        "notificationCreationTime": "2026-12-01T11:00:00.000Z",
        "messageType": SCHEDULED,
        "recordVersion": "1.0",
    }
    event = {
        "invokingEvent": json.dumps(invoking),
        "ruleParameters": json.dumps({"severity": "high"}),
        "resultToken": sim_config.issue_token(account, REGION, RULE),
        "eventLeftScope": False,
        "configRuleArn": f"arn:aws:config:{REGION}:{account}:config-rule/config-rule-abc123",
        "configRuleName": RULE,
        "accountId": account,
    }
    summary = lambda_handler(event, None)
    assert summary["status"] == "evaluated", summary
    got = {k: v["ComplianceType"] for k, v in evaluations(account).items()}
    servers = {
        c.resource_name
        for c in demo.cases
        if c.account_id == account and c.resource_type == "mlflow-tracking-server"
    }
    answered = set(got) | {w["ComplianceResourceId"] for w in summary["withheld"]}
    assert answered == servers  # every server of the account-region, no App, no other
    assert got["verification-disabled"] == "NON_COMPLIANT"  # its high check fails
    assert got["compliant"] == "COMPLIANT"  # only a low check fails, below the threshold


def test_malformed_event_is_one_line_and_no_evaluation(lambda_env, capsys):
    sim, demo = lambda_env
    account = demo.case("compliant").account_id
    event = change_event(account, "compliant")
    event["invokingEvent"] = "{not json"
    summary = lambda_handler(event, None)
    assert summary["status"] == "bad_event"
    assert summary["message"] == "Config event: invokingEvent is not valid JSON"
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert json.loads(line)["mlflow_audit"]["status"] == "bad_event"
    assert sim_config.recorded(account, REGION) == []
    assert sim.calls == []  # not even an identity call


def test_an_account_outside_the_organization_is_refused(lambda_env):
    sim, _demo = lambda_env
    outsider = "999999999999"
    summary = lambda_handler(change_event(outsider, "anything"), None)
    assert summary["status"] == "refused" and outsider in summary["message"]
    assert sim.count(service="config") == 0 and sim.count(service="sagemaker") == 0
