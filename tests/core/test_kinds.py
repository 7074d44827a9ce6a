"""Resource kinds as data: every stage that names a kind's calls reads auditor.core.kinds."""

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from auditor.aws.errors import ConfigError
from auditor.core.artifacts import parse_artifact_store_uri
from auditor.core.kinds import (
    KINDS,
    MLFLOW_APP_KIND,
    TRACKING_SERVER_KIND,
    ResourceKind,
    register_kind,
    unregister_kind,
)
from auditor.core.model import MLFLOW_APP, TRACKING_SERVER, BucketProof, Resource
from auditor.evaluate.engine import evaluate_all
from auditor.evaluate.facts import TrustContext, build_facts
from auditor.evaluate.policy import Policy
from auditor.evaluate.rules import exposure, parse_rule

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


def test_a_kind_reads_nested_values_through_its_paths():
    kind = ResourceKind(
        name="x-kind",
        label="x",
        plural="xs",
        short="x",
        service="xsvc",
        service_label="X",
        list_api="ListXs",
        describe_api="DescribeX",
        update_api=None,
        list_key="Xs",
        list_id_field="XId",
        list_arn_field="XArn",
        describe_param="XId",
        name_field="X.Name",
        arn_field="X.Arn",
        status_field="X.State",
        uri_field="X.Storage.Uri",
    )
    answer = {
        "X": {"Name": "n", "Arn": "arn:aws:xsvc:r:1:x-kind/x-1", "Storage": {"Uri": "s3://b"}}
    }
    assert kind.value(answer, "X.Storage.Uri") == "s3://b"
    assert kind.value(answer, "X.Missing.Path") is None
    assert kind.value(answer, None) is None
    # Listed by id, named by a display name: the id is the end of the ARN.
    assert kind.identifier("n", "arn:aws:xsvc:r:1:x-kind/x-1") == "x-1"
    assert kind.arn("r", "1", "x-1") == "arn:aws:xsvc:r:1:x-kind/x-1"
    assert kind.read_actions == ("xsvc:ListXs", "xsvc:DescribeX")
    assert not kind.remediable and kind.write_actions == ()


def test_shipped_kinds_are_identified_by_name_and_by_arn():
    arn = f"arn:aws:sagemaker:us-east-1:{ACCT}:mlflow-tracking-server/srv"
    assert TRACKING_SERVER_KIND.identifier("srv", arn) == "srv"
    assert MLFLOW_APP_KIND.identifier("app", "arn:app") == "arn:app"
    assert TRACKING_SERVER_KIND.arn("us-east-1", ACCT, "srv") == arn
    assert TRACKING_SERVER_KIND.remediable and not MLFLOW_APP_KIND.remediable
    assert ResourceKind.cli("S3BucketOwnerVerification") == "s3-bucket-owner-verification"


def test_a_registered_kind_is_seen_by_rule_validation_and_can_be_removed():
    kind = replace(MLFLOW_APP_KIND, name="test-only-kind")
    text = """
id: custom_kind_check
title: t
severity: low
resource_types: [test-only-kind]
reads: [uri.valid]
pass_when: uri.valid
message: {PASS: ok, FAIL: not ok}
risk: none
fix: {text: t, command: c}
"""
    with pytest.raises(ConfigError, match="resource_types must list some of"):
        parse_rule(yaml.safe_load(text), "custom.yaml")
    register_kind(kind)
    try:
        assert parse_rule(yaml.safe_load(text), "custom.yaml").resource_types == ["test-only-kind"]
        with pytest.raises(ValueError, match="already named"):
            register_kind(replace(kind, label="another"))
    finally:
        unregister_kind(kind.name)
    assert kind.name not in KINDS


def test_exposure_is_read_from_the_rules():
    checks = exposure()
    assert checks.exposing == {
        "mlflow_artifact_bucket_exists",
        "mlflow_artifact_bucket_owner_trusted",
    }
    assert checks.verifying == {"mlflow_s3_owner_verification_enabled"}
