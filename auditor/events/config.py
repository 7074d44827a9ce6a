"""AWS Config custom-rule invocations: which tracking servers a rule asks about, and how
to answer (the result token, the ordering timestamp).

AWS Config invokes a custom Lambda rule with an event whose ``invokingEvent`` is a JSON
*string* ("Example Events for AWS Config Rules",
https://docs.aws.amazon.com/config/latest/developerguide/evaluate-config_develop-rules_example-events.html):

- ``ConfigurationItemChangeNotification``: ``configurationItem`` (``resourceType``,
  ``resourceId``, ``ARN``, ``awsAccountId``, ``awsRegion``, ``configurationItemStatus``,
  ``configurationItemCaptureTime``);
- ``OversizedConfigurationItemChangeNotification``: the same fields in
  ``configurationItemSummary`` (the item was too large to deliver; we re-read the resource
  from SageMaker anyway, so the summary is all we need);
- ``ScheduledNotification``: a periodic run (``awsAccountId``, ``notificationCreationTime``):
  every tracking server of the account, in the rule's region (``configRuleArn``).

Beside it: ``resultToken`` (handed back to ``PutEvaluations``), ``ruleParameters`` (a JSON
string), ``eventLeftScope`` (the resource left the rule's scope: NOT_APPLICABLE, as AWS's
sample functions answer, like a deleted resource), ``configRuleName``/``configRuleArn``,
``accountId``. Every value is untrusted: anything missing or of the wrong shape is one
:class:`ConfigEventError` with one line saying what, and nothing is evaluated.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from auditor.core.model import ACCOUNT_ID_RE

MLFLOW_TRACKING_SERVER = "AWS::SageMaker::MlflowTrackingServer"
CHANGE = "ConfigurationItemChangeNotification"
OVERSIZED = "OversizedConfigurationItemChangeNotification"
SCHEDULED = "ScheduledNotification"
MESSAGE_TYPES = (CHANGE, OVERSIZED, SCHEDULED)
#: configurationItemStatus values of a resource that no longer exists.
DELETED_STATUSES = frozenset({"ResourceDeleted", "ResourceDeletedNotRecorded"})
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
RULE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:config:([a-z0-9-]+):(\d{12}):config-rule/[\w/-]+$")
MAX_TOKEN = 10_000  # far above any real token; guards the log line and the request


class ConfigEventError(ValueError):
    """A Config invocation we cannot answer: ``str()`` is one line."""


@dataclass(frozen=True, slots=True)
class ConfigResource:
    """One resource Config asks about."""

    resource_type: str
    resource_id: str
    account_id: str
    region: str
    arn: str | None
    ordering_timestamp: dt.datetime
    deleted: bool = False

    @property
    def applicable(self) -> bool:
        return self.resource_type == MLFLOW_TRACKING_SERVER and not self.deleted


@dataclass(frozen=True, slots=True)
class ConfigInvocation:
    """One invocation of the rule: what to evaluate and where the answer goes."""

    message_type: str
    result_token: str
    rule_name: str
    account_id: str
    region: str
    ordering_timestamp: dt.datetime
    #: the named resource (change notifications); empty for a periodic run.
    resources: tuple[ConfigResource, ...] = ()
    left_scope: bool = False
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def scheduled(self) -> bool:
        return self.message_type == SCHEDULED


def is_config_event(event: Any) -> bool:
    """Whether ``event`` is shaped like a Config rule invocation (and not EventBridge)."""
    return isinstance(event, dict) and "invokingEvent" in event and "resultToken" in event


def _text(container: dict[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigEventError(f"Config event: {where}.{key} is missing or not a string")
    return value.strip()


def _time(value: Any, where: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    raise ConfigEventError(f"Config event: {where} is not an ISO 8601 time")


def _json_object(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, dict):  # a test harness may pass it decoded
        return raw
    if raw in (None, ""):
        return {}
    if not isinstance(raw, str):
        raise ConfigEventError(f"Config event: {where} is not a JSON string")
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigEventError(f"Config event: {where} is not valid JSON") from None
    if not isinstance(value, dict):
        raise ConfigEventError(f"Config event: {where} is not a JSON object")
    return value


def _account(value: str, where: str) -> str:
    if not ACCOUNT_ID_RE.match(value):
        raise ConfigEventError(f"Config event: {where} is not a 12-digit account id")
    return value


def _region(value: str, where: str) -> str:
    if not REGION_RE.match(value):
        raise ConfigEventError(f"Config event: {where} is not a region name")
    return value


def _resource(item: Any, where: str) -> ConfigResource:
    if not isinstance(item, dict):
        raise ConfigEventError(f"Config event: invokingEvent.{where} is missing")
    path = f"invokingEvent.{where}"
    arn = item.get("ARN") if isinstance(item.get("ARN"), str) else None
    status = item.get("configurationItemStatus")
    return ConfigResource(
        resource_type=_text(item, "resourceType", path),
        resource_id=_text(item, "resourceId", path)[:768],
        account_id=_account(_text(item, "awsAccountId", path), f"{path}.awsAccountId"),
        region=_region(_text(item, "awsRegion", path), f"{path}.awsRegion"),
        arn=arn,
        ordering_timestamp=_time(
            item.get("configurationItemCaptureTime"), f"{path}.configurationItemCaptureTime"
        ),
        deleted=status in DELETED_STATUSES,
    )


def _parameters(raw: Any) -> dict[str, str]:
    params = _json_object(raw, "ruleParameters")
    return {str(k): str(v) for k, v in params.items() if isinstance(v, str | int | float)}


def parse_config_event(event: Any) -> ConfigInvocation:
    """The invocation ``event`` describes; :class:`ConfigEventError` when it is malformed."""
    if not isinstance(event, dict):
        raise ConfigEventError("Config event: not a JSON object")
    token = _text(event, "resultToken", "event")
    if len(token) > MAX_TOKEN:
        raise ConfigEventError("Config event: event.resultToken is implausibly long")
    invoking = _json_object(event.get("invokingEvent"), "invokingEvent")
    message_type = invoking.get("messageType")
    if message_type not in MESSAGE_TYPES:
        raise ConfigEventError(
            f"Config event: invokingEvent.messageType {str(message_type)[:80]!r} is not one "
            f"of {', '.join(MESSAGE_TYPES)}"
        )
    rule_arn = event.get("configRuleArn")
    match = RULE_ARN_RE.match(rule_arn) if isinstance(rule_arn, str) else None
    common: dict[str, Any] = {
        "message_type": message_type,
        "result_token": token,
        "rule_name": str(event.get("configRuleName") or "")[:128],
        "left_scope": event.get("eventLeftScope") is True,
        "parameters": _parameters(event.get("ruleParameters")),
    }
    if message_type == SCHEDULED:
        if match is None:
            raise ConfigEventError("Config event: event.configRuleArn is missing or malformed")
        account = invoking.get("awsAccountId") or event.get("accountId") or ""
        return ConfigInvocation(
            **common,
            account_id=_account(str(account), "invokingEvent.awsAccountId"),
            region=match.group(1),
            ordering_timestamp=_time(
                invoking.get("notificationCreationTime"), "invokingEvent.notificationCreationTime"
            ),
        )
    key = "configurationItem" if message_type == CHANGE else "configurationItemSummary"
    resource = _resource(invoking.get(key), key)
    return ConfigInvocation(
        **common,
        account_id=resource.account_id,
        region=resource.region,
        ordering_timestamp=resource.ordering_timestamp,
        resources=(resource,),
    )
