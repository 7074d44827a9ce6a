"""`mlflow-audit scan --org` over the demo organisation: the execution-role checks.

Every planted resource gets exactly its expected verdict on both role checks, each with
evidence naming the statement that decides; a role is read once whatever the number of
resources using it; a resource whose role cannot write outside the trusted accounts
keeps its FAIL with a message saying so, and is listed after exploitable resources
without that control; one that can write anywhere and registers models automatically is
listed first.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from auditor.cli import main
from tests.e2e.conftest import verdicts

WRITE = "mlflow_execution_role_s3_write_scoped"
TRUST = "mlflow_execution_role_trust_scoped"
# Planted case -> (S3 write verdict, trust verdict). Cases not listed use their account's
# sound default role (s3:ResourceAccount, aws:SourceAccount): PASS, PASS.
ROLE_CASES = {
    "sniped-unverified": ("FAIL", "PASS"),  # S3 full access (customer managed copy)
    "verification-disabled": ("PASS", "PASS"),  # named buckets of prod only
    "app-missing-bucket": ("PASS", "PASS"),  # aws:ResourceOrgID of the organisation
    "stuck-updating": ("PASS", "FAIL"),  # trust without a source condition
    "app-sniped": ("UNKNOWN", "UNKNOWN"),  # dev's IAM is denied
}


@pytest.fixture(scope="module")
def role_scan(demo_org, tmp_path_factory):
    sim, org = demo_org
    key, secret = sim.credentials_for(org.management_account_id)
    out = tmp_path_factory.mktemp("role-scan")
    sim.reset_calls()
    result = CliRunner(env={"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}).invoke(
        main, ["scan", "--org", "--output-dir", str(out), "--format", "json"]
    )
    doc = json.loads((out / "findings.json").read_text())
    return result, doc, sim, org


def by_check(doc, org, case, check):
    name = org.case(case).resource_name
    return next(f for f in doc["findings"] if f["resource_name"] == name and f["check_id"] == check)


def test_every_planted_case_gets_exactly_its_role_verdicts(role_scan):
    _, doc, _, org = role_scan
    got = verdicts(doc)
    for case in org.cases:
        if case.name == "dev-eu":  # its scope is denied: not described, no findings
            continue
        want = ROLE_CASES.get(case.name, ("PASS", "PASS"))
        have = (got.get((case.resource_name, WRITE)), got.get((case.resource_name, TRUST)))
        assert have == want, case.name


def test_full_access_fails_with_the_granting_statement_and_a_deny_fix(role_scan):
    _, doc, _, org = role_scan
    f = by_check(doc, org, "sniped-unverified", WRITE)
    assert f["severity"] == "critical"  # it registers models automatically
    assert "Model Registry" in f["message"] and "S3FullAccessCopy" in f["message"]
    deciding = [
        e for e in f["evidence"] if e["params"].get("Policy", "").endswith("S3FullAccessCopy")
    ]
    assert deciding and deciding[0]["conclusion"].startswith("grants")
    assert '"s3:*"' in deciding[0]["answer"]
    (describe,) = [e for e in f["evidence"] if e["answer"].startswith("RoleArn=")]
    assert describe["call"] == "sagemaker:DescribeMlflowTrackingServer"
    assert describe["answer"].startswith("RoleArn=arn:aws:iam::")
    assert "automatic model registration on" in describe["answer"]
    assert {"iam:GetRole", "iam:ListAttachedRolePolicies", "iam:GetPolicyVersion"} <= {
        e["call"] for e in f["evidence"]
    }
    assert not f["remediation"]["auto"]
    # a scan of the organisation denies writes outside it (else outside the accounts)
    assert '"StringNotEqualsIfExists": {"aws:ResourceOrgID"' in f["remediation"]["text"]
    assert "put-role-policy --role-name MlflowS3FullAccessRole" in f["remediation"]["command"]


@pytest.mark.parametrize(
    ("case", "policy", "condition"),
    [
        ("compliant", "inline:MlflowArtifacts", "s3:ResourceAccount"),
        ("app-missing-bucket", "inline:OrganisationBuckets", "aws:ResourceOrgID"),
        ("verification-disabled", "inline:NamedBuckets", "mlflow-models-"),
    ],
)
def test_scoped_roles_pass_naming_the_statement_that_limits_them(
    role_scan, case, policy, condition
):
    _, doc, _, org = role_scan
    f = by_check(doc, org, case, WRITE)
    assert f["status"] == "PASS" and policy in f["message"]
    deciding = [e for e in f["evidence"] if e["params"].get("Policy") == policy]
    assert deciding and condition in deciding[0]["answer"]


def test_open_trust_fails_naming_the_statement_and_the_documented_fix(role_scan):
    _, doc, _, org = role_scan
    f = by_check(doc, org, "stuck-updating", TRUST)
    assert "MlflowOpenTrustRole" in f["message"] and "aws:SourceAccount" in f["message"]
    deciding = [e for e in f["evidence"] if e["params"].get("Policy") == "trust policy"]
    assert deciding and "sagemaker.amazonaws.com" in deciding[0]["answer"]
    assert "aws:SourceAccount" in f["remediation"]["text"]
    assert f["remediation"]["command"].startswith(
        "aws iam update-assume-role-policy --role-name MlflowOpenTrustRole"
    )


def test_unreadable_role_is_unknown_with_the_denied_call(role_scan):
    _, doc, _, org = role_scan
    for check in (WRITE, TRUST):
        f = by_check(doc, org, "app-sniped", check)
        assert "iam:GetRole" in f["message"] and "denied" in f["message"]
        assert any(
            e["call"] == "iam:GetRole" and "AccessDenied" in e["answer"] for e in f["evidence"]
        )


def test_each_role_is_read_once_whatever_its_resources(role_scan):
    _, doc, sim, _ = role_scan
    roles = {
        e["answer"].split(",")[0]
        for f in doc["findings"]
        if f["check_id"] == WRITE
        for e in f["evidence"]
        if e["answer"].startswith("RoleArn=")
    }
    users = sum(1 for f in doc["findings"] if f["check_id"] == WRITE)
    assert users > len(roles)  # prod's default role serves many resources
    assert doc["run"]["stats"]["execution_roles"] == len(roles)
    assert sim.count(service="iam", operation="GetRole") == len(roles)
    # the one managed policy is read once, though only one role attaches it
    assert sim.count(service="iam", operation="GetPolicyVersion") == 1
    assert doc["run"]["stats"]["managed_policies_read"] == 1


def test_scoped_role_is_a_compensating_control_in_message_and_order(role_scan):
    result, doc, _, org = role_scan
    verification = by_check(
        doc, org, "verification-disabled", "mlflow_s3_owner_verification_enabled"
    )
    assert verification["status"] == "FAIL"
    assert (
        "mitigates" in verification["message"]
        and "MlflowBucketScopedRole" in verification["message"]
    )
    missing_app = by_check(doc, org, "app-missing-bucket", "mlflow_artifact_bucket_exists")
    assert missing_app["status"] == "FAIL" and "mitigates" in missing_app["message"]
    unknown_app = by_check(doc, org, "app-sniped", "mlflow_artifact_bucket_owner_trusted")
    assert "mitigates" not in unknown_app["message"]
    unmitigated = by_check(doc, org, "sniped-unverified", "mlflow_s3_owner_verification_enabled")
    assert "mitigates" not in unmitigated["message"]
    # worst first: role writes anywhere + automatic registration, then no compensating
    # control known, then the IAM-mitigated App, then everything else
    order = []
    for f in doc["findings"]:
        if f["status"] == "FAIL" and f["resource_name"] not in order:
            order.append(f["resource_name"])
    names = [
        org.case(c).resource_name for c in ("sniped-unverified", "app-sniped", "app-missing-bucket")
    ]
    assert order[:3] == names
    assert result.exit_code == 1


# Last in the module: it changes the shared organisation (role_scan is already cached).
def test_a_role_policy_event_rechecks_every_known_user_of_the_role(role_scan, tmp_path):
    _, _, sim, org = role_scan
    prod = org.accounts["prod"]
    key, secret = sim.credentials_for(org.management_account_id)
    runner = CliRunner(env={"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})
    db = tmp_path / "history.sqlite"
    args = ["scan", "--org", "--region", "us-east-1", "--history", str(db), "--quiet"]
    night = runner.invoke(main, [*args, "--output-dir", str(tmp_path / "night")])
    assert night.exit_code == 1, night.output[-2000:]
    # an administrator grants the open-trust role S3 full access
    iam = sim.session_for(prod).client("iam")
    iam.attach_role_policy(
        RoleName="MlflowOpenTrustRole",
        PolicyArn=f"arn:aws:iam::{prod}:policy/S3FullAccessCopy",
    )
    record = {
        "eventSource": "iam.amazonaws.com",
        "eventName": "AttachRolePolicy",
        "eventID": "attach-1",
        "awsRegion": "us-east-1",
        "recipientAccountId": prod,
        "requestParameters": {
            "roleName": "MlflowOpenTrustRole",
            "policyArn": f"arn:aws:iam::{prod}:policy/S3FullAccessCopy",
        },
    }
    event = {
        "version": "0",
        "id": "eb-attach-1",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": prod,
        "region": "us-east-1",
        "detail": record,
    }
    sim.reset_calls()
    result = runner.invoke(
        main, ["event", "--org", "--history", str(db), "-"], input=json.dumps(event)
    )
    doc = json.loads(result.stdout)
    stuck = org.case("stuck-updating")
    assert {f["resource_arn"] for f in doc["findings"]} == {stuck.resource_arn}
    assert verdicts(doc)[(stuck.resource_name, WRITE)] == "FAIL"
    assert doc["run"]["stats"]["execution_roles"] == 1
    assert sim.count(service="iam", operation="GetRole") == 1
    # no known user: nothing to do, and no AWS call
    sim.reset_calls()
    record.update(eventID="attach-2", requestParameters={"roleName": "UnusedRole"})
    nothing = runner.invoke(
        main, ["event", "--org", "--history", str(db), "-"], input=json.dumps(record)
    )
    assert "no known resource uses role UnusedRole" in nothing.output
    assert sim.count() == 0
