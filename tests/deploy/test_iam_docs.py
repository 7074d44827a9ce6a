"""The shipped IAM policies grant exactly what the code calls (they cannot drift)."""

import json
from pathlib import Path

import yaml

from auditor.aws.models import OPERATIONS
from auditor.integrations import sns as notify
from auditor.integrations.securityhub import import_findings
from auditor.report.formats import asff
from auditor.sim import simulated_aws

IAM = Path(__file__).resolve().parents[2] / "docs" / "iam"
# API operation -> IAM action (S3's differ from their operation names).
ACTION_FOR = {
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "GetObjectLockConfiguration"): "s3:GetBucketObjectLockConfiguration",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
}
NO_PERMISSION_NEEDED = {("sts", "GetCallerIdentity")}
CALLER_ONLY = {("organizations", "ListAccounts"), ("sts", "AssumeRole")}
REMEDIATION_ONLY = {("sagemaker", "UpdateMlflowTrackingServer")}
# Integrations (--security-hub, --notify): statements whose Sid starts with "Optional".
OPTIONAL_MEMBER = {("securityhub", "BatchImportFindings")}
OPTIONAL_CALLER = {("securityhub", "BatchImportFindings"), ("sns", "Publish")}
# --history s3://bucket/key (auditor.history.s3): the caller reads and writes the object;
# s3:ListBucket lets a missing object answer 404 rather than 403 (docs/events.md).
HISTORY_CALLER = {("s3", "GetObject"), ("s3", "PutObject")}
# Results under s3://bucket/prefix/ (auditor.app.results): the same object calls, and
# ListObjectsV2 (s3:ListBucket, granted with the history's statements) to find the shards.
RESULTS_CALLER = {("s3", "ListObjectsV2")}
# The AWS Config rule's answer (auditor.integrations.config_rule): PutEvaluations in the
# account that invoked the rule, as the caller there or as the member role elsewhere.
CONFIG_RULE = {("config", "PutEvaluations")}
# --security-lake assumes the custom source's provider role (the caller's sts:AssumeRole,
# in an optional statement scoped to AmazonSecurityLake-Provider-* roles).
SECURITY_LAKE_CALLER = {("sts", "AssumeRole")}


def actions(policy: dict, optional: bool = False) -> set[str]:
    """Actions of the required statements, or (``optional=True``) of the optional ones."""
    out: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        if statement.get("Sid", "").startswith("Optional") != optional:
            continue
        acts = statement["Action"]
        out.update([acts] if isinstance(acts, str) else acts)
    return out


def needed(kind: set) -> set[str]:
    return {
        ACTION_FOR.get((svc, op), f"{svc}:{op}")
        for svc, ops in OPERATIONS.items()
        for op in ops
        if (svc, op) in kind
    }


def test_policies_cover_every_call_and_nothing_more():
    every = {(svc, op) for svc, ops in OPERATIONS.items() for op in ops}
    # optional statements, tested below
    every -= OPTIONAL_CALLER | HISTORY_CALLER | RESULTS_CALLER | CONFIG_RULE
    readonly = every - NO_PERMISSION_NEEDED - CALLER_ONLY - REMEDIATION_ONLY
    assert actions(json.loads((IAM / "audit-readonly-policy.json").read_text())) == needed(readonly)
    assert actions(json.loads((IAM / "auditor-caller-policy.json").read_text())) == needed(
        CALLER_ONLY
    )
    assert actions(json.loads((IAM / "remediation-policy.json").read_text())) == needed(
        REMEDIATION_ONLY
    )


class _CfnLoader(yaml.SafeLoader):
    pass


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_cloudformation_role_matches_the_policies():
    template = yaml.load((IAM / "member-role.cfn.yaml").read_text(), Loader=_CfnLoader)
    resources = template["Resources"]
    role_policy = resources["AuditRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    readonly = json.loads((IAM / "audit-readonly-policy.json").read_text())
    assert actions(role_policy) == actions(readonly)
    assert actions(resources["RemediationPolicy"]["Properties"]["PolicyDocument"]) == {
        "sagemaker:UpdateMlflowTrackingServer"
    }
    assert resources["RemediationPolicy"]["Condition"] == "Remediate"
    assert template["Parameters"]["EnableRemediation"]["Default"] == "false"


def _integration_calls() -> set[tuple[str, str]]:
    """Run the Security Hub import and the SNS notification against the simulation and
    record every operation they call through botocore."""
    calls: set[tuple[str, str]] = set()

    def watch(client):
        def record(model, **_):
            calls.add((client.meta.service_model.service_name, model.name))

        client.meta.events.register("before-call.*.*", record)
        return client

    doc = {
        "run": {
            "id": "r",
            "started_at": "2026-12-01T02:00:00Z",
            "finished_at": "2026-12-01T02:00:09Z",
            "fail_on": "high",
        },
        "summary": {"verdict": "FAIL", "by_status": {"FAIL": 1}},
        "findings": [
            {
                "check_id": "mlflow_artifact_bucket_exists",
                "status": "FAIL",
                "severity": "critical",
                "account_id": "111111111111",
                "region": "us-east-1",
                "resource_name": "s",
                "resource_arn": "arn:aws:sagemaker:us-east-1:111111111111:mlflow-tracking-server/s",
                "message": "m",
            }
        ],
    }
    with simulated_aws() as sim:
        session = sim.session_for("111111111111")
        hub = watch(session.client("securityhub"))
        hub.enable_security_hub()
        calls.clear()  # setting up the hub is not a call of the product
        import_findings(asff.render(doc), lambda account, region: hub)
        sns = session.client("sns")
        topic = sns.create_topic(Name="mlflow-audit")["TopicArn"]
        assert notify.publish(doc, topic, watch(sns))["status"] == "published"
    return calls


def test_optional_statements_grant_exactly_the_integration_calls():
    calls = _integration_calls()
    assert calls == OPTIONAL_CALLER
    member = json.loads((IAM / "audit-readonly-policy.json").read_text())
    caller = json.loads((IAM / "auditor-caller-policy.json").read_text())
    assert actions(member, optional=True) == needed_of(OPTIONAL_MEMBER | CONFIG_RULE)
    history = needed_of(HISTORY_CALLER) | {"s3:ListBucket"}
    assert (
        actions(caller, optional=True)
        == needed_of(OPTIONAL_CALLER | CONFIG_RULE | SECURITY_LAKE_CALLER) | history
    )
    template = yaml.load((IAM / "member-role.cfn.yaml").read_text(), Loader=_CfnLoader)
    resources = template["Resources"]
    hub_policy = resources["SecurityHubImportPolicy"]
    assert hub_policy["Condition"] == "ImportToSecurityHub"
    assert actions(hub_policy["Properties"]["PolicyDocument"], optional=True) == needed_of(
        OPTIONAL_MEMBER
    )
    assert template["Parameters"]["EnableSecurityHubImport"]["Default"] == "false"
    config_policy = resources["ConfigRulePolicy"]
    assert config_policy["Condition"] == "AnswerConfigRule"
    assert actions(config_policy["Properties"]["PolicyDocument"], optional=True) == needed_of(
        CONFIG_RULE
    )
    assert template["Parameters"]["EnableConfigRule"]["Default"] == "false"
    caller_lake = [s for s in caller["Statement"] if s["Sid"] == "OptionalSecurityLakeProvider"]
    assert caller_lake[0]["Resource"] == "arn:aws:iam::*:role/AmazonSecurityLake-Provider-*"
    readme = (IAM / "README.md").read_text()
    assert "securityhub:BatchImportFindings" in readme and "sns:Publish" in readme
    assert "config:PutEvaluations" in readme and "AmazonSecurityLake-Provider-" in readme


def needed_of(pairs: set) -> set[str]:
    return {f"{svc}:{op}" for svc, op in pairs}
