"""Who may write to a bucket, from its bucket policy: the foreign-writer evaluation.

policyuniverse (Netflix's IAM policy library) parses each statement: its principals,
``NotPrincipal``, and the actions it covers with wildcards and ``NotAction`` expanded
against AWS's action list, each with its IAM access level. On top of that this module
applies the parts of IAM evaluation that decide "outside the trusted set":

- an Allow statement grants writes when it covers an S3 action whose access level is
  Write or Permissions management (``s3:PutObject``, ``s3:DeleteObject``,
  ``s3:PutBucketPolicy``, ...; ``s3:*``/``s3:Put*`` expand to them);
- a principal is trusted when it is a trusted account (12 digits, or an IAM/STS ARN in
  it); ``*``, an ARN with a wildcard account, ``NotPrincipal``, a service or federated
  principal are anyone, unless a condition limits the request to the trusted set: a
  ``StringEquals``/``StringLike``/``ArnEquals``/``ArnLike`` (never ``...IfExists`` or
  ``ForAllValues``, which pass when the key is absent, as for anonymous requests) on
  ``aws:PrincipalOrgID``/``aws:PrincipalOrgPaths`` naming trusted organisations, or
  on ``aws:PrincipalAccount``/``aws:SourceAccount``/``aws:SourceOwner``/
  ``aws:PrincipalArn``/``aws:SourceArn`` naming only trusted accounts. Conditions of a
  statement are ANDed, so one such key suffices;
- an explicit Deny overrides: a Deny for the same write actions and resources, for
  ``*`` (or that principal), unconditional or conditioned only on the requester being
  outside the trusted set (``StringNotEquals aws:PrincipalOrgID``, ...; optionally with
  ``Bool aws:PrincipalIsAWSService false``).

Anything else is kept as a foreign grant (never guessed away). A ``CanonicalUser``
principal cannot be mapped to an account from the policy alone: it is unresolved.
An organisation id is trusted on the understanding that the trusted accounts include
every account of it (``--org``).

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

_WRITE_LEVELS = frozenset({"Write", "Permissions"})
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_ARN_ACCOUNT_RE = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::([^:]*):")
# Names of S3 actions newer than policyuniverse's data: mutating by their verb.
_WRITE_VERBS = ("put", "delete", "create", "restore", "replicate", "abort", "update", "rename")
_POSITIVE_OPS = frozenset(
    {
        "stringequals",
        "stringlike",
        "stringequalsignorecase",
        "arnequals",
        "arnlike",
        "foranyvalue:stringequals",
        "foranyvalue:stringlike",
    }
)
_NEGATED_OPS = frozenset(
    {
        "stringnotequals",
        "stringnotlike",
        "stringnotequalsignorecase",
        "arnnotequals",
        "arnnotlike",
        "stringnotequalsifexists",
        "stringnotlikeifexists",
        "arnnotequalsifexists",
        "arnnotlikeifexists",
        "foranyvalue:stringnotlike",
        "foranyvalue:stringnotequals",
    }
)
_ACCOUNT_KEYS = frozenset({"aws:principalaccount", "aws:sourceaccount", "aws:sourceowner"})
_ARN_KEYS = frozenset({"aws:principalarn", "aws:sourcearn"})
_ORG_KEYS = frozenset({"aws:principalorgid"})
_ORG_PATH_KEYS = frozenset({"aws:principalorgpaths"})


@dataclass(frozen=True, slots=True)
class WriteGrant:
    """An Allow statement that lets someone outside the trusted set write."""

    sid: str | None
    principals: tuple[str, ...]  # "*", account ids, "service:...", "federated:..."
    actions: tuple[str, ...]  # the write actions granted (lower case, expanded)
    anyone: bool  # granted to any AWS account or anonymous, not one named account
    statement: str  # the statement as written (compact JSON), kept as evidence

    def to_dict(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "principals": list(self.principals),
            "actions": list(self.actions),
            "anyone": self.anyone,
            "statement": self.statement,
        }


@dataclass(slots=True)
class WriterVerdict:
    """The foreign write grants of one policy for one trusted set."""

    grants: list[WriteGrant] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # why some grant is undecidable


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _is_write(action: str) -> bool:
    if not action.startswith("s3:"):
        return False
    # policyuniverse loads its action data on import (~0.15 s): only when a policy is read,
    # not on every cold start of a scan or event run
    from policyuniverse.action_categories import categories_for_actions

    level = next(iter(categories_for_actions([action])["s3"]))
    if level is not None:
        return level in _WRITE_LEVELS
    name = action[3:]
    if "*" in name or "?" in name:  # a wildcard policyuniverse could not expand
        return True
    from policyuniverse import all_permissions

    return action not in all_permissions and name.startswith(_WRITE_VERBS)


def write_actions(statement: dict[str, Any]) -> set[str]:
    """S3 write actions a statement covers (wildcards and NotAction expanded)."""
    # Only Action and NotAction decide it, and an organisation's bucket policies repeat the
    # same few: expanding a wildcard matches it against every IAM action (milliseconds),
    # so each distinct pair is expanded once per process.
    key = json.dumps([statement.get("Action"), statement.get("NotAction")], sort_keys=True)
    return set(_write_actions(key))


@functools.lru_cache(maxsize=4096)
def _write_actions(key: str) -> frozenset[str]:
    from policyuniverse.statement import Statement

    action, not_action = json.loads(key)
    statement: dict[str, Any] = {"Effect": "Allow"}
    if action is not None:
        statement["Action"] = action
    if not_action is not None:
        statement["NotAction"] = not_action
    return frozenset(a for a in Statement(statement).actions_expanded if _is_write(a.lower()))


def _principal_entries(statement: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) for each principal: kind is account, anyone, service, federated,
    canonical; NotPrincipal counts as anyone (it grants to every principal not listed)."""
    if "NotPrincipal" in statement:
        return [("anyone", "NotPrincipal")]
    principal = statement.get("Principal")
    if principal is None:
        return []
    if not isinstance(principal, dict):
        principal = {"AWS": principal}
    out: list[tuple[str, str]] = []
    for value in _as_list(principal.get("AWS")):
        out.append(_aws_principal(str(value)))
    for value in _as_list(principal.get("Service")):
        out.append(("service", str(value)))
    for value in _as_list(principal.get("Federated")):
        match = _ARN_ACCOUNT_RE.match(str(value))
        if match and _ACCOUNT_RE.match(match.group(1)):
            out.append(("account", match.group(1)))
        else:
            out.append(("federated", str(value)))
    for value in _as_list(principal.get("CanonicalUser")):
        out.append(("canonical", str(value)))
    return out


def _aws_principal(value: str) -> tuple[str, str]:
    if value == "*":
        return ("anyone", "*")
    if _ACCOUNT_RE.match(value):
        return ("account", value)
    match = _ARN_ACCOUNT_RE.match(value)
    if match and _ACCOUNT_RE.match(match.group(1)):
        return ("account", match.group(1))
    return ("anyone", value)  # wildcard account or unparsable: not limited to anyone


def _arn_account(value: str) -> str | None:
    parts = value.split(":")
    if len(parts) >= 5 and _ACCOUNT_RE.match(parts[4]):
        return parts[4]
    return None


def _values_trusted(
    key: str, values: list[Any], accounts: Collection[str], orgs: Collection[str]
) -> bool:
    """Whether a condition key's values name only trusted accounts / organisations."""
    if not values:
        return False
    texts = [str(v) for v in values]
    if key in _ORG_KEYS:
        return all(v in orgs for v in texts)
    if key in _ORG_PATH_KEYS:
        return all(v.split("/", 1)[0] in orgs and "/" in v for v in texts)
    if key in _ACCOUNT_KEYS:
        return all(v in accounts for v in texts)
    if key in _ARN_KEYS:
        return all((_arn_account(v) or "") in accounts for v in texts)
    return False


def _limited_to_trusted(condition: Any, accounts: Collection[str], orgs: Collection[str]) -> bool:
    """One ANDed condition key that only trusted requesters can satisfy."""
    if not isinstance(condition, dict):
        return False
    for operator, block in condition.items():
        if str(operator).lower() not in _POSITIVE_OPS or not isinstance(block, dict):
            continue
        for key, values in block.items():
            if _values_trusted(str(key).lower(), _as_list(values), accounts, orgs):
                return True
    return False


def _deny_applies_to(
    deny: dict[str, Any], kind: str, accounts: Collection[str], orgs: Collection[str]
) -> bool:
    """Whether a Deny's condition is true for every untrusted requester of ``kind``."""
    condition = deny.get("Condition")
    if not condition:
        return True
    if not isinstance(condition, dict):
        return False
    for operator, block in condition.items():
        op = str(operator).lower()
        if not isinstance(block, dict):
            return False
        for key, values in block.items():
            key = str(key).lower()
            vals = _as_list(values)
            if op in _NEGATED_OPS and _values_trusted(key, vals, accounts, orgs):
                continue  # "requester not in the trusted set": true for this requester
            if (
                op == "bool"
                and key == "aws:principalisawsservice"
                and [str(v).lower() for v in vals] == ["false"]
                and kind not in ("service",)
            ):
                continue
            return False  # any other condition may be false: the Deny is not certain
    return True


def _raw_principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if not isinstance(principal, dict):
        principal = {"AWS": principal}
    return [str(v) for values in principal.values() for v in _as_list(values)]


def _deny_covers_principal(
    deny: dict[str, Any], allow: dict[str, Any], kind: str, value: str
) -> bool:
    """A Deny for ``*``, for the whole account (id or ``:root``), or naming every
    principal of the Allow exactly: a Deny of one role does not cover its account."""
    if "NotPrincipal" in deny:
        return False  # exclusions we would have to match exactly: do not rely on it
    denied = set(_raw_principals(deny))
    if "*" in denied:
        return True
    if kind == "account" and (
        value in denied or any(d.endswith(f"::{value}:root") for d in denied)
    ):
        return True
    granted = [p for p in _raw_principals(allow) if _principal_value(p) == value]
    return bool(granted) and all(p in denied for p in granted)


def _principal_value(raw: str) -> str:
    return _aws_principal(raw)[1]


def _resources_covered(allow: dict[str, Any], deny: dict[str, Any]) -> bool:
    if "NotResource" in deny or "NotResource" in allow:
        return False
    patterns = [str(r) for r in _as_list(deny.get("Resource"))]
    wanted = [str(r) for r in _as_list(allow.get("Resource"))]
    return bool(wanted) and all(any(fnmatch.fnmatchcase(w, p) for p in patterns) for w in wanted)


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _as_list(policy.get("Statement")) if isinstance(s, dict)]


def foreign_writers(
    policy: dict[str, Any], trusted_accounts: Collection[str], trusted_orgs: Iterable[str] = ()
) -> WriterVerdict:
    """The Allow statements of ``policy`` that let a principal outside the trusted set
    (accounts, and organisation ids whose accounts are all trusted) write to the bucket."""
    orgs = frozenset(trusted_orgs)
    stmts = statements(policy)
    denies = [s for s in stmts if str(s.get("Effect")).lower() == "deny"]
    deny_actions = [(d, write_actions(d)) for d in denies]
    verdict = WriterVerdict()
    for stmt in stmts:
        if str(stmt.get("Effect")).lower() != "allow":
            continue
        writes = write_actions(stmt)
        if not writes or _limited_to_trusted(stmt.get("Condition"), trusted_accounts, orgs):
            continue
        foreign: list[str] = []
        remaining: set[str] = set()
        anyone = False
        for kind, value in _principal_entries(stmt):
            if kind == "account" and value in trusted_accounts:
                continue
            if kind == "canonical":
                verdict.unresolved.append(
                    f"statement {stmt.get('Sid') or '(no Sid)'} grants writes to canonical "
                    f"user {value}, which the policy alone does not map to an account"
                )
                continue
            left = set(writes)
            for deny, denied in deny_actions:
                if (
                    _deny_covers_principal(deny, stmt, kind, value)
                    and _deny_applies_to(deny, kind, trusted_accounts, orgs)
                    and _resources_covered(stmt, deny)
                ):
                    left -= denied
            if left:
                foreign.append(value if kind in ("account", "anyone") else f"{kind}:{value}")
                remaining |= left
                anyone = anyone or kind != "account"
        if foreign:
            verdict.grants.append(
                WriteGrant(
                    sid=str(stmt["Sid"]) if stmt.get("Sid") is not None else None,
                    principals=tuple(foreign),
                    actions=tuple(sorted(remaining)),
                    anyone=anyone,
                    statement=json.dumps(stmt, sort_keys=True, separators=(",", ":")),
                )
            )
    return verdict
