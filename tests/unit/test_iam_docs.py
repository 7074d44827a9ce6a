"""The shipped IAM policies grant exactly what the code calls (they cannot drift)."""

import json
from pathlib import Path

import yaml

from auditor.botomodels import OPERATIONS

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


def actions(policy: dict) -> set[str]:
    out: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
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
