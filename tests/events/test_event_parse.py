"""auditor.events.parse on events shaped as AWS documents them.

Where each fixture's shape comes from (tests/events/):

- s3_log_file_putbucketacl.json: the CloudTrail log file example of the Amazon S3 User
  Guide, "CloudTrail log file entries for Amazon S3 and S3 on Outposts" (ListBuckets,
  PutBucketAcl, GetBucketVersioning records in one {"Records": [...]}), with the bucket
  name the page elides filled in.
- eventbridge_delete_bucket.json / eventbridge_delete_bucket_failed.json: the EventBridge
  envelope of "AWS service event metadata" (EventBridge User Guide: version, id,
  detail-type "AWS API Call via CloudTrail", source, account, time, region, resources,
  detail) around an S3 management-event record with the fields of the same S3 page
  (requestParameters.bucketName and Host, responseElements null, additionalEventData,
  recipientAccountId) and the CloudTrail record contents fields (errorCode/errorMessage,
  managementEvent, eventCategory, tlsDetails) of "CloudTrail record contents for
  management, data, and network activity events".
- eventbridge_create_tracking_server.json, record_update_tracking_server.json,
  records_mlflow_app.json: the SageMaker record shape of "Understand SageMaker AI log file
  entries" (its CreateEndpoint example: requestParameters with lower-camel member names,
  responseElements with the returned ARN, recipientAccountId), with the MLflow operations'
  members from botocore's sagemaker model (TrackingServerName, TrackingServerArn; Name,
  Arn for MLflow Apps).
- eventbridge_sagemaker_state_change.json: the "SageMaker Model State Change" example of
  "Events that Amazon SageMaker AI sends to Amazon EventBridge" (not a CloudTrail event).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import botocore.session
import pytest

from auditor.core.model import MLFLOW_APP, TRACKING_SERVER
from auditor.events import parse_events, parse_text
from auditor.events.parse import BUCKET_EVENTS, MLFLOW_EVENTS, targets_of
from auditor.events.roles import POLICY_EVENTS, ROLE_EVENTS

IAM_EVENTS = ROLE_EVENTS | POLICY_EVENTS

EVENTS = Path(__file__).resolve().parents[1] / "events"


def load(name: str):
    return json.loads((EVENTS / name).read_text())


def test_mlflow_event_names_are_real_sagemaker_operations():
    model = botocore.session.get_session().get_service_model("sagemaker")
    assert set(MLFLOW_EVENTS) <= set(model.operation_names)


def test_eventbridge_delete_bucket_gives_the_bucket_of_the_recipient_account():
    result = parse_events(load("eventbridge_delete_bucket.json"))
    assert result.resources == [] and result.errors == [] and result.skipped == []
    [target] = result.buckets
    assert (target.account_id, target.region, target.bucket) == (
        "111122223333",
        "us-west-2",
        "ml-artifacts-prod",
    )
    assert target.event_name == "DeleteBucket"
    assert target.event_id == "0d3c9f5e-8a61-4c36-bb3a-2f1f0e7c9a41"
    assert not result.nothing_to_do
    assert result.summary() == "re-check 1 bucket(s)"


def test_raw_record_and_eventbridge_event_give_the_same_target():
    event = load("eventbridge_delete_bucket.json")
    from_record = parse_events(event["detail"]).buckets
    assert from_record == parse_events(event).buckets


def test_cloudtrail_log_file_keeps_only_the_bucket_change():
    result = parse_events(load("s3_log_file_putbucketacl.json"))
    assert [(b.event_name, b.bucket, b.region) for b in result.buckets] == [
        ("PutBucketAcl", "DOC-EXAMPLE-BUCKET1", "us-west-2")
    ]
    assert sorted(s.event_name for s in result.skipped) == ["GetBucketVersioning", "ListBuckets"]
    assert all("not an event mlflow-audit acts on" in s.reason for s in result.skipped)


def test_create_tracking_server_gives_the_server_from_its_arn():
    result = parse_events(load("eventbridge_create_tracking_server.json"))
    [target] = result.resources
    assert target.kind == TRACKING_SERVER
    assert (target.account_id, target.region, target.name) == (
        "444455556666",
        "eu-west-1",
        "team-a-experiments",
    )
    assert target.arn == (
        "arn:aws:sagemaker:eu-west-1:444455556666:mlflow-tracking-server/team-a-experiments"
    )
    assert target.effect == "configured"


def test_update_record_without_response_still_names_the_server():
    record = load("record_update_tracking_server.json")
    record["responseElements"] = None
    [target] = parse_events(record).resources
    assert (target.name, target.arn, target.account_id, target.region) == (
        "team-a-experiments",
        None,
        "444455556666",
        "eu-west-1",
    )


def test_start_and_delete_tracking_server_effects():
    record = load("record_update_tracking_server.json")
    started = dict(record, eventName="StartMlflowTrackingServer", eventID="e-start")
    deleted = dict(record, eventName="DeleteMlflowTrackingServer", eventID="e-delete")
    result = parse_events([started, deleted])
    assert [(t.event_name, t.effect) for t in result.resources] == [
        ("StartMlflowTrackingServer", "started"),
        ("DeleteMlflowTrackingServer", "deleted"),
    ]


def test_mlflow_app_events_and_stop_is_ignored():
    result = parse_events(load("records_mlflow_app.json"))
    assert [(t.kind, t.event_name, t.name, t.arn) for t in result.resources] == [
        (
            MLFLOW_APP,
            "CreateMlflowApp",
            "shared-registry",
            "arn:aws:sagemaker:us-east-1:444455556666:mlflow-app/app-0a1b2c3d4e5f",
        ),
        (
            MLFLOW_APP,
            "UpdateMlflowApp",
            None,
            "arn:aws:sagemaker:us-east-1:444455556666:mlflow-app/app-0a1b2c3d4e5f",
        ),
    ]
    assert [s.event_name for s in result.skipped] == ["StopMlflowTrackingServer"]


def test_arn_decides_account_and_region():
    record = load("record_update_tracking_server.json")
    record["recipientAccountId"] = "999999999999"
    record["awsRegion"] = "ap-south-1"
    [target] = parse_events(record).resources
    assert (target.account_id, target.region) == ("444455556666", "eu-west-1")


def test_arn_of_the_wrong_kind_is_an_error():
    record = load("record_update_tracking_server.json")
    record["responseElements"]["trackingServerArn"] = (
        "arn:aws:sagemaker:eu-west-1:444455556666:mlflow-app/app-1"
    )
    result = parse_events(record)
    assert result.resources == []
    assert result.errors == [
        "UpdateMlflowTrackingServer c3d1a2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d: "
        "'arn:aws:sagemaker:eu-west-1:444455556666:mlflow-app/app-1' is not an "
        "mlflow-tracking-server ARN"
    ]


def test_failed_call_is_nothing_to_do():
    result = parse_events(load("eventbridge_delete_bucket_failed.json"))
    assert result.nothing_to_do
    assert result.summary() == (
        "nothing to do: DeleteBucket failed ('BucketNotEmpty'): nothing changed"
    )


def test_non_cloudtrail_eventbridge_event_is_nothing_to_do():
    result = parse_events(load("eventbridge_sagemaker_state_change.json"))
    assert result.nothing_to_do and result.errors == []
    assert "'SageMaker Model State Change'" in result.summary()


def test_duplicate_delivery_is_counted_once():
    event = load("eventbridge_delete_bucket.json")
    again = copy.deepcopy(event)
    again["id"] = "another-eventbridge-id"  # a redelivery; the CloudTrail eventID is the same
    result = parse_events([event, again, event["detail"]])
    assert len(result.buckets) == 1
    assert result.duplicates == 2
    assert result.summary() == "re-check 1 bucket(s) (2 record(s) ignored)"


def test_seen_ids_deduplicate_across_inputs():
    seen: set[str] = set()
    first = parse_events(load("eventbridge_delete_bucket.json"), seen)
    second = parse_events(load("eventbridge_delete_bucket.json"), seen)
    assert len(first.buckets) == 1
    assert second.nothing_to_do and second.duplicates == 1
    assert second.summary() == "nothing to do: 1 duplicate deliveries"
    merged = targets_of([first, second])
    assert len(merged.buckets) == 1 and merged.duplicates == 1


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{not json", "input is not JSON"),
        ("42", "expected a JSON object, got int"),
        ('"DeleteBucket"', "expected a JSON object, got str"),
        ('{"Records": {"eventName": "DeleteBucket"}}', "'Records' is not a list"),
        ('{"Records": [7]}', "a CloudTrail record is not a JSON object"),
        ('{"hello": "world"}', "neither an EventBridge event nor a CloudTrail record"),
        ('[[{"eventName": "x"}]]', "a list inside a list is not an event"),
        (
            '{"detail-type": "AWS API Call via CloudTrail", "detail": "x"}',
            "EventBridge event has no 'detail' object",
        ),
        ('{"eventName": "DeleteBucket"}', "CloudTrail record without eventName/eventSource"),
        (
            '{"eventName": "DeleteBucket", "eventSource": "s3.amazonaws.com"}',
            "DeleteBucket record without eventID",
        ),
    ],
)
def test_malformed_input_is_one_error_line(text, error):
    result = parse_text(text)
    assert result.nothing_to_do
    assert len(result.errors) == 1 and error in result.errors[0]
    assert "\n" not in result.summary() and result.summary().startswith("nothing to do: ")


def test_bucket_event_with_missing_fields_is_an_error_not_a_target():
    base = load("eventbridge_delete_bucket.json")["detail"]
    no_bucket = dict(base, requestParameters={"Host": "s3.amazonaws.com"}, eventID="a")
    bad_account = dict(base, recipientAccountId="12345", eventID="b")
    bad_account["userIdentity"] = {"type": "AWSService"}
    bad_region = dict(base, awsRegion="not a region\x1b[2J", eventID="c")
    result = parse_events([no_bucket, bad_account, bad_region])
    assert result.buckets == []
    assert result.errors[0] == "DeleteBucket a: no bucketName in requestParameters"
    assert result.errors[1] == "DeleteBucket b: no valid account id ('12345')"
    assert result.errors[2] == "DeleteBucket c: no valid region ('not a region?[2J')"


def test_mlflow_event_without_name_or_arn_is_an_error():
    record = load("record_update_tracking_server.json")
    record["requestParameters"] = None
    record["responseElements"] = None
    result = parse_events(record)
    assert result.resources == []
    assert result.errors == [
        "UpdateMlflowTrackingServer c3d1a2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d: "
        "no resource name or ARN in the record"
    ]


def test_every_bucket_event_name_is_recognised():
    base = load("eventbridge_delete_bucket.json")["detail"]
    records = [dict(base, eventName=n, eventID=n) for n in sorted(BUCKET_EVENTS)]
    result = parse_events({"Records": records})
    assert sorted(b.event_name for b in result.buckets) == sorted(BUCKET_EVENTS)


def test_bytes_input_and_empty_list():
    raw = (EVENTS / "eventbridge_delete_bucket.json").read_bytes()
    assert len(parse_text(raw).buckets) == 1
    assert parse_text(b"\xff\xfe{").errors[0].startswith("input is not JSON")
    assert parse_text("[]").summary() == "nothing to do: no events in the input"


# ------------------------------------------------- deploy/: the rules match what we parse

ROOT = Path(__file__).resolve().parents[2]


def _templates() -> dict[str, dict]:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return {
        name: yaml.load((ROOT / "deploy" / name).read_text(), Loader=Loader)
        for name in ("central.cfn.yaml", "member.cfn.yaml")
    }


def test_every_deployed_rule_matches_exactly_the_events_the_parser_acts_on():
    patterns = [
        (name, logical, resource["Properties"]["EventPattern"])
        for name, template in _templates().items()
        for logical, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Events::Rule"
    ]
    assert {(n, lg) for n, lg, _ in patterns} == {
        ("central.cfn.yaml", "EventRule"),
        ("central.cfn.yaml", "LocalForwardRule"),
        ("member.cfn.yaml", "ForwardRule"),
    }
    for _, _, pattern in patterns:
        assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
        detail = pattern["detail"]
        assert set(detail["eventSource"]) == {
            "sagemaker.amazonaws.com",
            "s3.amazonaws.com",
            "iam.amazonaws.com",
        }
        assert set(detail["eventName"]) == set(MLFLOW_EVENTS) | BUCKET_EVENTS | IAM_EVENTS
        assert len(detail["eventName"]) == len(set(detail["eventName"]))
        assert detail["errorCode"] == [{"exists": False}]  # failed calls never invoke us


def test_member_audit_role_grants_what_docs_iam_grants():
    resources = _templates()["member.cfn.yaml"]["Resources"]
    role = resources["AuditRole"]["Properties"]
    shipped = json.loads((ROOT / "docs" / "iam" / "audit-readonly-policy.json").read_text())
    required = [s for s in shipped["Statement"] if not s["Sid"].startswith("Optional")]
    assert role["Policies"][0]["PolicyDocument"]["Statement"] == required
    # the optional Security Hub import is a policy of its own, off unless asked for
    optional = resources["SecurityHubImportPolicy"]
    assert optional["Condition"] == "ImportToSecurityHub"
    (statement,) = optional["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "securityhub:BatchImportFindings"


def test_policy_check_refuses_an_unexplained_wildcard():
    import importlib.util

    import parliament

    spec = importlib.util.spec_from_file_location("check", ROOT / "deploy" / "check_policies.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    wide = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    findings = parliament.analyze_policy_string(json.dumps(wide)).findings
    assert findings and all(check.explain(f, set(), wide) is None for f in findings)
    assume_any = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    assert not check._only_assumes_roles(assume_any)
    assert check.main([]) == 0  # and everything we ship is clean


# ------------------------------------------------- IAM: execution roles and their policies


def iam_record(name: str, event_id: str = "iam-1", **request):
    return {
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "eventID": event_id,
        "awsRegion": "us-east-1",
        "recipientAccountId": "444455556666",
        "requestParameters": request,
    }


def test_iam_event_names_are_real_iam_operations():
    model = botocore.session.get_session().get_service_model("iam")
    assert set(IAM_EVENTS) <= set(model.operation_names)


@pytest.mark.parametrize("name", sorted(ROLE_EVENTS))
def test_role_events_name_the_role_of_the_recipient_account(name):
    result = parse_events(iam_record(name, roleName="MlflowServerRole", policyName="p"))
    (target,) = result.roles
    assert (target.account_id, target.role_name, target.event_name) == (
        "444455556666",
        "MlflowServerRole",
        name,
    )
    assert result.summary() == "re-check 1 role(s)"


@pytest.mark.parametrize("name", sorted(POLICY_EVENTS))
def test_policy_version_events_target_every_role_of_the_policys_account(name):
    arn = "arn:aws:iam::111122223333:policy/team/MlflowArtifacts"
    (target,) = parse_events(iam_record(name, policyArn=arn, versionId="v2")).roles
    assert (target.account_id, target.role_name) == ("111122223333", None)


def test_iam_events_without_a_role_or_customer_policy_are_errors():
    aws_managed = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
    result = parse_events(
        [
            iam_record("PutRolePolicy", "a"),
            iam_record("AttachRolePolicy", "b", roleName="bad name!"),
            iam_record("CreatePolicyVersion", "c", policyArn=aws_managed),
        ]
    )
    assert result.nothing_to_do and len(result.errors) == 3
    unrelated = parse_events(iam_record("CreateUser", userName="u"))
    assert unrelated.nothing_to_do and "not an event" in unrelated.skipped[0].reason
