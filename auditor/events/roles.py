"""IAM events that change what an execution role may do, or who may assume it.

``AttachRolePolicy``, ``DetachRolePolicy``, ``PutRolePolicy``, ``DeleteRolePolicy`` and
``UpdateAssumeRolePolicy`` name the role (``requestParameters.roleName``);
``CreatePolicyVersion`` and ``SetDefaultPolicyVersion`` name a customer managed policy
(``requestParameters.policyArn``), which any role of its account may attach. Each becomes
a ``RoleTarget``: every resource the history knows uses that role (or, for a policy, any
role of its account) is re-checked. IAM is global: CloudTrail records these events in
us-east-1, and EventBridge delivers them there.

https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html
https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-iam.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from auditor.core.model import ACCOUNT_ID_RE

IAM_SOURCE = "iam.amazonaws.com"
ROLE_EVENTS: frozenset[str] = frozenset(
    {
        "AttachRolePolicy",
        "DetachRolePolicy",
        "PutRolePolicy",
        "DeleteRolePolicy",
        "UpdateAssumeRolePolicy",
    }
)
POLICY_EVENTS: frozenset[str] = frozenset({"CreatePolicyVersion", "SetDefaultPolicyVersion"})
_POLICY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):policy/")
_ROLE_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$")


@dataclass(frozen=True, slots=True)
class RoleTarget:
    """An execution role an event touched: re-check every resource known to use it
    (``role_name`` None: every role of the account, for a managed policy's new version)."""

    account_id: str
    role_name: str | None
    event_name: str
    event_id: str


def role_target(
    request: dict[str, Any], account: str | None, name: str, event_id: str
) -> RoleTarget | str:
    """The target of one IAM record (``request``: its requestParameters, keys in lower
    case; ``account``: the recipient account), or why there is none."""
    role: str | None = request.get("rolename") if isinstance(request.get("rolename"), str) else ""
    if name in POLICY_EVENTS:
        policy = request.get("policyarn")
        match = _POLICY_ARN_RE.match(policy) if isinstance(policy, str) else None
        if match is None:
            return "no customer managed policyArn in requestParameters"
        account, role = match["account"], None  # the ARN is authoritative
    elif not role or not _ROLE_NAME_RE.match(role):
        return "no valid roleName in requestParameters"
    if not account or not ACCOUNT_ID_RE.match(account):
        return "no valid account id"
    return RoleTarget(account, role, name, event_id)
