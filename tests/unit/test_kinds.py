"""Resource kinds as data: every stage that names a kind's calls reads auditor.core.kinds."""

import datetime as dt
import json
from pathlib import Path

import yaml

from auditor.core.artifacts import parse_artifact_store_uri
from auditor.core.kinds import KINDS, MLFLOW_APP_KIND, TRACKING_SERVER_KIND, ResourceKind
from auditor.core.model import MLFLOW_APP, TRACKING_SERVER, BucketProof, Resource
from auditor.evaluate.engine import evaluate_all
from auditor.evaluate.facts import TrustContext, build_facts
from auditor.evaluate.policy import Policy
from auditor.evaluate.rules import parse_rule

IAM = Path(__file__).resolve().parents[2] / "docs" / "iam"
ACCT = "111111111111"


def test_every_resource_type_has_exactly_one_kind():
    assert tuple(KINDS) == (TRACKING_SERVER, MLFLOW_APP)


def test_boto3_method_names_follow_the_api_names():
    assert ResourceKind.method("ListMlflowTrackingServers") == "list_mlflow_tracking_servers"
    assert ResourceKind.method("DescribeMlflowApp") == "describe_mlflow_app"


def test_only_kinds_with_an_update_operation_have_write_actions():
    assert TRACKING_SERVER_KIND.write_actions == ("sagemaker:UpdateMlflowTrackingServer",)
    assert MLFLOW_APP_KIND.write_actions == ()
    assert not MLFLOW_APP_KIND.has_owner_verification


def test_shipped_policies_grant_every_kind_its_read_and_write_actions():
    readonly = json.loads((IAM / "audit-readonly-policy.json").read_text())
    granted = {
        a for s in readonly["Statement"] for a in s["Action"] if isinstance(s["Action"], list)
    }
    remediation = json.loads((IAM / "remediation-policy.json").read_text())
    writes = {
        a
        for s in remediation["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    for kind in KINDS.values():
        assert set(kind.read_actions) <= granted, kind.name
        assert set(kind.write_actions) <= writes, kind.name


def _facts(kind, name="app-1"):
    resource = Resource(
        resource_type=kind,
        account_id=ACCT,
        region="us-east-1",
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:{ACCT}:{kind}/{name}",
        artifact_store_uri="s3://bucket-a/p",
        status="Created",
    )
    uri = parse_artifact_store_uri(resource.artifact_store_uri)
    trust = TrustContext(frozenset({ACCT}), frozenset({ACCT}))
    return build_facts(resource, uri, BucketProof("bucket-a", True, ACCT), trust)


def test_app_evidence_names_the_app_describe_call_not_the_servers():
    rule = parse_rule(
        yaml.safe_load(
            """
id: custom_app_has_uri
title: The app names an artifact store
severity: low
resource_types: [mlflow-app]
reads: [resource.artifact_store_uri]
pass_when: resource.artifact_store_uri != ''
message: {PASS: ok, FAIL: no uri}
risk: none
fix: {text: set it, command: none}
"""
        ),
        "custom.yaml",
    )
    findings, _ = evaluate_all([rule], [_facts(MLFLOW_APP_KIND.name)], Policy(), dt.date.today())
    (evidence,) = findings[0]["evidence"]
    assert evidence["call"] == "sagemaker:DescribeMlflowApp"
    assert evidence["params"] == {"Arn": f"arn:aws:sagemaker:us-east-1:{ACCT}:mlflow-app/app-1"}
