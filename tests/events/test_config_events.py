"""AWS Config rule invocations parsed into what to evaluate; malformed ones are one line."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from auditor.events.config import (
    CHANGE,
    MLFLOW_TRACKING_SERVER,
    OVERSIZED,
    SCHEDULED,
    ConfigEventError,
    is_config_event,
    parse_config_event,
)

ACCOUNT = "123456789012"
RULE_ARN = f"arn:aws:config:eu-west-1:{ACCOUNT}:config-rule/config-rule-0123456"
ARN = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:mlflow-tracking-server/team-a"


def item(**overrides) -> dict:
    base = {
        "configurationItemCaptureTime": "2026-12-01T10:00:00.000Z",
        "awsAccountId": ACCOUNT,
        "configurationItemStatus": "OK",
        "resourceId": "team-a",
        "resourceName": "team-a",
        "ARN": ARN,
        "awsRegion": "eu-west-1",
        "resourceType": MLFLOW_TRACKING_SERVER,
        "configuration": {"ArtifactStoreUri": "s3://bucket/path"},
    }
    return {**base, **overrides}


def event(invoking: dict | str, **overrides) -> dict:
    base = {
        "version": "1.0",
        "invokingEvent": invoking if isinstance(invoking, str) else json.dumps(invoking),
        "ruleParameters": json.dumps({"severity": "high"}),
        "resultToken": "token-1",
        "eventLeftScope": False,
        "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/config-role",
        "configRuleArn": RULE_ARN,
        "configRuleName": "mlflow-artifact-bucket-owner",
        "configRuleId": "config-rule-0123456",
        "accountId": ACCOUNT,
    }
    return {**base, **overrides}


def test_change_notification():
    inv = parse_config_event(event({"configurationItem": item(), "messageType": CHANGE}))
    assert (inv.message_type, inv.result_token, inv.account_id, inv.region) == (
        CHANGE,
        "token-1",
        ACCOUNT,
        "eu-west-1",
    )
    (res,) = inv.resources
    assert (res.resource_id, res.arn, res.applicable, res.deleted) == ("team-a", ARN, True, False)
    assert res.ordering_timestamp == dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    assert inv.parameters == {"severity": "high"} and not inv.scheduled


def test_oversized_notification_reads_the_summary():
    summary = {k: v for k, v in item().items() if k != "configuration"}
    inv = parse_config_event(event({"configurationItemSummary": summary, "messageType": OVERSIZED}))
    assert inv.message_type == OVERSIZED and inv.resources[0].resource_id == "team-a"


@pytest.mark.parametrize("status", ["ResourceDeleted", "ResourceDeletedNotRecorded"])
def test_deleted_resource(status):
    inv = parse_config_event(
        event({"configurationItem": item(configurationItemStatus=status), "messageType": CHANGE})
    )
    assert inv.resources[0].deleted and not inv.resources[0].applicable


def test_scheduled_notification_takes_the_region_of_the_rule():
    inv = parse_config_event(
        event(
            {
                "awsAccountId": ACCOUNT,
                "notificationCreationTime": "2026-12-01T00:00:00.000Z",
                "messageType": SCHEDULED,
                "recordVersion": "1.0",
            }
        )
    )
    assert inv.scheduled and inv.resources == () and inv.region == "eu-west-1"
    assert inv.account_id == ACCOUNT


def test_is_config_event():
    assert is_config_event(event({"messageType": SCHEDULED}))
    assert not is_config_event({"detail-type": "AWS API Call via CloudTrail", "detail": {}})
    assert not is_config_event([1])


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("not an event", "not a JSON object"),
        (event("{not json"), "invokingEvent is not valid JSON"),
        (event("[1, 2]"), "invokingEvent is not a JSON object"),
        (event({"messageType": "Other"}), "messageType"),
        (event({"messageType": CHANGE}), "configurationItem is missing"),
        (event({"configurationItem": item(awsAccountId="12"), "messageType": CHANGE}), "12-digit"),
        (
            event({"configurationItem": item(awsRegion="../x"), "messageType": CHANGE}),
            "region",
        ),
        (
            event({"configurationItem": item(resourceId=""), "messageType": CHANGE}),
            "resourceId",
        ),
        (
            event(
                {"configurationItem": item(configurationItemCaptureTime=3), "messageType": CHANGE}
            ),
            "ISO 8601",
        ),
        (
            event({"messageType": CHANGE, "configurationItem": item()}, resultToken=""),
            "resultToken",
        ),
        (
            event(
                {"messageType": SCHEDULED, "notificationCreationTime": "2026-12-01T00:00:00Z"},
                configRuleArn="nope",
            ),
            "configRuleArn",
        ),
        (event({"messageType": CHANGE, "configurationItem": item()}, ruleParameters="{"), "JSON"),
    ],
)
def test_malformed_events_are_one_line(bad, says):
    with pytest.raises(ConfigEventError) as err:
        parse_config_event(bad)
    message = str(err.value)
    assert says in message and "\n" not in message and message.startswith("Config event:")
