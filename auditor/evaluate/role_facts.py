"""The ``role`` section of a facts record: what the two execution-role checks read.

Plain data over :class:`RolePolicies`, decided for one resource's trusted set and the
bucket owners the run proved (memoised per role, so a role used by many resources is
evaluated once per trusted set). ``role.s3_write_scoped`` and ``role.trust_scoped`` are
``None`` with a reason in ``unknown["role.<key>"]`` when they cannot be decided.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from auditor.core.access import RolePolicies
from auditor.core.model import Evidence
from auditor.evaluate.role_policy import Decision, s3_write_decision
from auditor.evaluate.role_trust import trust_decision

RULE_FACTS = ("s3_write_scoped", "trust_scoped")
_KEYS = (
    "arn",
    "read",
    *RULE_FACTS,
    "s3_write_reasons",
    "s3_write_actions",
    "s3_write_statements",
    "s3_write_fix",
    "trust_reasons",
    "trust_statements",
    "trust_fix",
)
_CALLS = {"trust policy": "iam:GetRole", "permissions boundary": "iam:GetPolicyVersion"}


def _statement_evidence(role: RolePolicies, decision: Decision) -> list[dict[str, Any]]:
    """One evidence entry per deciding statement, naming the policy it is in."""
    out = []
    for note in decision.statements:
        source = note["source"]
        call = _CALLS.get(
            source, "iam:GetRolePolicy" if source.startswith("inline:") else "iam:GetPolicyVersion"
        )
        params = {"RoleName": role.name or "", "Policy": source}
        conclusion = f"{note['role']}{': ' + note['why'] if note.get('why') else ''}"
        out.append(Evidence(call, role.account_id, note["statement"], params, conclusion).to_dict())
    return out


def _decisions(
    role: RolePolicies,
    accounts: frozenset[str],
    orgs: frozenset[str],
    owners: Mapping[str, str | None],
) -> tuple[Decision | None, Decision | None]:
    key = (accounts, orgs, tuple(sorted(owners.items(), key=lambda kv: kv[0])))
    if key not in role.memo:
        trusted = accounts | {role.account_id} if role.account_id else accounts
        writes = None
        if role.identity is not None and "boundary" not in role.unknown:
            writes = s3_write_decision(role.identity, role.boundary, trusted, orgs, owners)
        elif role.identity is not None:
            # An unread boundary only narrows: a PASS without it stands.
            unbounded = s3_write_decision(role.identity, None, trusted, orgs, owners)
            writes = unbounded if unbounded.status == "PASS" else None
        trust = None
        if role.trust is not None and role.account_id:
            trust = trust_decision(role.trust, role.account_id, trusted, orgs)
        role.memo[key] = (writes, trust)
    return role.memo[key]


def role_section(
    role_arn: str | None,
    role: RolePolicies | None,
    trusted_accounts: Collection[str],
    trusted_orgs: Collection[str] = (),
    bucket_owners: Mapping[str, str | None] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(section, unknown reasons keyed ``role.<key>``) for one resource."""
    section: dict[str, Any] = dict.fromkeys(_KEYS)
    section.update(arn=role_arn, read=False, evidence_for={k: [] for k in RULE_FACTS})
    section.update(s3_write_actions=[], s3_write_statements=[], trust_statements=[])
    section.update(s3_write_reasons=[], trust_reasons=[], s3_write_fix="", trust_fix="")
    if not role_arn:
        reason = "the resource reports no execution role"
        return section, {f"role.{k}": reason for k in RULE_FACTS}
    if role is None:
        reason = f"the execution role {role_arn} was not read"
        return section, {f"role.{k}": reason for k in RULE_FACTS}
    section["read"] = True
    accounts = frozenset(trusted_accounts)
    writes, trust = _decisions(role, accounts, frozenset(trusted_orgs), bucket_owners or {})
    unknown: dict[str, str] = {}
    calls = [e.to_dict() for e in role.evidence]
    # the calls made, the denied or failed ones included, whatever is decided below
    section["evidence_for"] = {
        "s3_write_scoped": calls,
        "trust_scoped": [c for c in calls if c["call"] == "iam:GetRole"],
    }
    if writes is None or writes.status == "UNKNOWN":
        unknown["role.s3_write_scoped"] = (
            "; ".join(writes.reasons)
            if writes is not None
            else role.unknown.get("permissions") or role.unknown.get("boundary") or "not known"
        )
    else:
        section["s3_write_scoped"] = writes.status == "PASS"
    if writes is not None:
        section.update(
            s3_write_reasons=writes.reasons,
            s3_write_actions=writes.actions,
            s3_write_statements=writes.statements,
            s3_write_fix=writes.fix,
        )
        section["evidence_for"]["s3_write_scoped"] = calls + _statement_evidence(role, writes)
    if trust is None or trust.status == "UNKNOWN":
        unknown["role.trust_scoped"] = (
            "; ".join(trust.reasons)
            if trust is not None
            else role.unknown.get("trust") or "not known"
        )
    else:
        section["trust_scoped"] = trust.status == "PASS"
    if trust is not None:
        section.update(
            trust_reasons=trust.reasons,
            trust_statements=trust.statements,
            trust_fix=trust.fix,
        )
        get_role = [c for c in calls if c["call"] == "iam:GetRole"]
        section["evidence_for"]["trust_scoped"] = get_role + _statement_evidence(role, trust)
    return section, unknown


def sample_roles(account: str) -> list[tuple[str, RolePolicies]]:
    """A failing, a passing and an unread role, for rehearsing rules at load time."""
    arn = f"arn:aws:iam::{account}:role/sample"
    assume = {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}
    assume["Action"] = "sts:AssumeRole"
    write = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}
    scoped_write = {**write, "Condition": {"StringEquals": {"s3:ResourceAccount": account}}}
    scoped_trust = {**assume, "Condition": {"StringEquals": {"aws:SourceAccount": account}}}
    bad = RolePolicies(arn, account, "sample", trust={"Statement": [assume]})
    bad.identity = [("AmazonS3FullAccess", {"Statement": [write]})]
    good = RolePolicies(arn, account, "sample", trust={"Statement": [scoped_trust]})
    good.identity = [("inline:scoped", {"Statement": [scoped_write]})]
    unread = RolePolicies(arn, account, "sample")
    unread.unknown = {"trust": "denied", "permissions": "denied"}
    return [(arn, bad), (arn, good), (arn, unread)]
