"""May an execution role write to buckets outside the trusted accounts?

policyuniverse expands each statement's ``Action``/``NotAction`` against AWS's action
list with IAM access levels; an S3 write is an ``s3:`` action at level Write. The rest
of IAM's evaluation that decides "outside the trusted set" is ours:

- a request is allowed when an identity policy allows it, the permissions boundary (if
  any) allows it too, and no statement of either denies it;
- each Allow's resources become sample ARNs: any bucket (``*``, a wildcard in the bucket
  name, or a ``NotResource``), a named bucket (whose owner the run proved, or not), or an
  account's S3 resource (an access point); a policy variable in the bucket or account
  is undecidable;
- the conditions on the bucket owner (``auditor.evaluate.role_conditions``) say which
  untrusted owners each Allow admits and whether a Deny holds for all of them.

FAIL when some write certainly reaches a bucket of an untrusted account, UNKNOWN when one
might (the statement quoted), PASS otherwise. Service control policies, session policies
and the foreign bucket's own policy are not evaluated.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_understand-policy-summary-access-level-summaries.html
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from auditor.evaluate.role_conditions import (
    ACCOUNT_RE,
    DOUBT,
    NONE,
    SURE_ANY,
    SURE_NONE,
    Reach,
    Span,
    Trusted,
    allow_span,
    as_list,
    deny_strength,
    sure,
    wild,
)
from auditor.evaluate.writers import statements

ABSENT = "absent"  # a bucket->owner value: the bucket is proven not to exist
_VAR_RE = re.compile(r"\$\{[^}]*\}")
_WRITE_VERBS = ("put", "delete", "create", "restore", "replicate", "abort", "update", "rename")
# S3 actions on objects (the rest act on buckets, jobs or account settings).
_OBJECT_WORDS = ("object", "multipartupload", "replicatedelete", "replicatetags")
# Any bucket, and its objects: what an open grant reaches.
PROBES = ("arn:aws:s3:::zz9-any-bucket", "arn:aws:s3:::zz9-any-bucket/zz9-key")


@dataclass(slots=True)
class Decision:
    """One verdict: PASS, FAIL or UNKNOWN, the statements it rests on, and the fix."""

    status: str
    reasons: list[str] = field(default_factory=list)
    statements: list[dict[str, str]] = field(default_factory=list)  # source, role, statement
    actions: list[str] = field(default_factory=list)  # the writes that reach outside
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reasons": list(self.reasons),
            "statements": list(self.statements),
            "actions": list(self.actions),
            "fix": self.fix,
        }


def quote(stmt: dict[str, Any]) -> str:
    return json.dumps(stmt, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=4096)
def _is_s3_write(action: str) -> bool:
    if not action.startswith("s3:"):
        return False
    from policyuniverse.action_categories import categories_for_actions

    level = next(iter(categories_for_actions([action])["s3"]))
    if level is not None:
        return level == "Write"
    from policyuniverse import all_permissions

    name = action[3:]  # newer than policyuniverse's data: mutating by its verb
    return wild(name) or (action not in all_permissions and name.startswith(_WRITE_VERBS))


def s3_writes(stmt: dict[str, Any]) -> frozenset[str]:
    """The S3 Write-level actions a statement covers (wildcards and NotAction expanded)."""
    picked = {k: stmt[k] for k in ("Action", "NotAction") if stmt.get(k) is not None}
    return _writes_of(quote(picked)) if picked else frozenset()


@lru_cache(maxsize=1024)
def _writes_of(actions: str) -> frozenset[str]:
    from policyuniverse.statement import Statement

    doc = {"Effect": "Allow", "Resource": "*", **json.loads(actions)}
    return frozenset(a for a in Statement(doc).actions_expanded if _is_s3_write(a.lower()))


@lru_cache(maxsize=4096)
def _pattern(text: str) -> re.Pattern[str]:
    body = re.escape(text).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(f"^{body}$", re.DOTALL)


def matches(pattern: str, arn: str) -> bool:
    """IAM's resource match: ``*`` and ``?`` wildcards, case sensitive."""
    return bool(_pattern(_VAR_RE.sub("*", pattern)).match(arn))


def _probes(stmt: dict[str, Any], trusted: Trusted) -> tuple[list[tuple[str, Span]], list[str]]:
    """(sample ARN, its untrusted owners) for each S3 resource the Allow reaches; reasons
    for the resources that cannot be decided."""
    if "NotResource" in stmt:
        excluded = [str(p) for p in as_list(stmt["NotResource"])]
        return [(p, SURE_ANY) for p in PROBES if not any(matches(x, p) for x in excluded)], []
    out: list[tuple[str, Span]] = []
    doubts: list[str] = []
    for pattern in (str(p) for p in as_list(stmt.get("Resource"))):
        masked = _VAR_RE.sub("\x00", pattern)  # a variable may hold a "/"
        parts = masked.split(":", 5)
        s3 = len(parts) == 6 and parts[2] == "s3"
        probe = masked.replace("\x00", "zz9").replace("*", "zz9").replace("?", "z")
        if s3 and ("\x00" in parts[4] or "\x00" in parts[5].split("/", 1)[0]):
            doubts.append(f"resource {pattern} names its bucket or account with a policy variable")
            out.append((probe, DOUBT))
            continue
        hits = [p for p in PROBES if matches(pattern, p)]
        if hits:
            out.extend((p, SURE_ANY) for p in hits)
        elif s3:
            out.append((probe, _owners(parts[4], parts[5].split("/", 1)[0], trusted, doubts)))
    return out, doubts


def _owners(account: str, bucket: str, trusted: Trusted, doubts: list[str]) -> Span:
    """The untrusted owners of an S3 ARN: its account's, or its bucket's."""
    if account:
        if wild(account) or not ACCOUNT_RE.match(account):
            return SURE_ANY
        return SURE_NONE if trusted.account(account) else sure(Reach(accounts=frozenset({account})))
    if wild(bucket):
        return SURE_ANY  # reaches buckets beyond the named ones
    return _named_bucket(bucket, trusted, doubts)


def named_buckets(identity: Collection[tuple[str, dict[str, Any]]]) -> set[str]:
    """The buckets the Allows name exactly: the run proves their owners for the verdict."""
    names: set[str] = set()
    for _, doc in identity:
        for stmt in statements(doc):
            if str(stmt.get("Effect")).lower() != "allow":
                continue
            for pattern in (str(p) for p in as_list(stmt.get("Resource"))):
                parts = pattern.split(":", 5)
                if len(parts) == 6 and parts[2] == "s3" and not parts[4]:
                    bucket = parts[5].split("/", 1)[0]
                    if bucket and not wild(bucket) and not _VAR_RE.search(bucket):
                        names.add(bucket)
    return names


def _named_bucket(bucket: str, trusted: Trusted, doubts: list[str]) -> Span:
    owner = trusted.bucket_owners.get(bucket)
    if owner == ABSENT:
        return SURE_ANY  # anyone may create it
    if owner is None:
        doubts.append(f"the owner of bucket {bucket} was not proven")
        return DOUBT
    if trusted.account(owner):
        return SURE_NONE
    return sure(Reach(accounts=frozenset({owner})))


@dataclass(slots=True)
class _Doc:
    source: str  # "boundary" or the identity policy's name
    stmts: list[dict[str, Any]]


def applies(action: str, arn: str) -> bool:
    """Whether an S3 action acts on this kind of ARN: object actions on ``bucket/key``,
    the others on the bucket; an account's resources (access points) take both."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[4]:
        return True
    name = action.split(":", 1)[-1]
    on_object = any(w in name for w in _OBJECT_WORDS)
    return on_object == ("/" in parts[5])


def _deny_covers(deny: dict[str, Any], probe: str) -> bool | None:
    if "NotResource" in deny:
        return not any(matches(str(p), probe) for p in as_list(deny["NotResource"]))
    patterns = [str(p) for p in as_list(deny.get("Resource"))]
    if any(_VAR_RE.search(p) and matches(p, probe) for p in patterns):
        return None  # matches only for some values of the variable
    return any(matches(p, probe) for p in patterns)


def _allowed(
    docs: list[_Doc], action: str, probe: str, trusted: Trusted, notes: list[dict[str, str]]
) -> Span:
    """What the Allows of ``docs`` admit for one action on one sample ARN."""
    span = SURE_NONE
    for doc in docs:
        for stmt in doc.stmts:
            if str(stmt.get("Effect")).lower() != "allow" or action not in s3_writes(stmt):
                continue
            covered = (
                not any(matches(str(p), probe) for p in as_list(stmt["NotResource"]))
                if "NotResource" in stmt
                else any(matches(str(p), probe) for p in as_list(stmt.get("Resource")))
            )
            if covered:
                got, doubts = allow_span(stmt, trusted)
                span = span | got
                if doubts:
                    notes.append(_note(doc.source, "undecidable", stmt, "; ".join(doubts)))
    return span


def _note(source: str, role: str, stmt: dict[str, Any], why: str = "") -> dict[str, str]:
    return {"source": source, "role": role, "statement": quote(stmt), "why": why}


def _apply_denies(
    span: Span, docs: list[_Doc], action: str, probe: str, trusted: Trusted, notes: list
) -> Span:
    for doc in docs:
        for stmt in doc.stmts:
            if str(stmt.get("Effect")).lower() != "deny" or action not in s3_writes(stmt):
                continue
            covers = _deny_covers(stmt, probe)
            strength, why = deny_strength(stmt, trusted)
            if covers and strength == "all":
                notes.append(_note(doc.source, "denies", stmt))
                return SURE_NONE
            if covers is not False and strength != "no":
                span = Span(NONE, span.possible)  # may be denied: no longer certain
                notes.append(_note(doc.source, "undecidable", stmt, why or "resource variable"))
    return span


def _fix(actions: Collection[str], trusted: Trusted) -> str:
    verbs = sorted({"s3:" + re.split(r"(?<=[a-z])(?=[A-Z])", a)[0] + "*" for a in actions})
    if trusted.orgs:
        cond = {"StringNotEqualsIfExists": {"aws:ResourceOrgID": sorted(trusted.orgs)}}
    else:
        cond = {"StringNotEquals": {"s3:ResourceAccount": sorted(trusted.accounts)}}
    stmt = {
        "Sid": "DenyS3WritesOutsideTrustedAccounts",
        "Effect": "Deny",
        "Action": verbs or ["s3:Put*", "s3:Delete*"],
        "Resource": "*",
        "Condition": cond,
    }
    return json.dumps(stmt, sort_keys=False, separators=(", ", ": "))


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    from policyuniverse import service_data  # the action names as IAM documents them

    s3 = [v for v in service_data.values() if v.get("prefix") == "s3"]
    return {f"s3:{name.lower()}": name for entry in s3 for name in entry.get("actions", {})}


def _camel(action: str) -> str:
    """``s3:putobject`` as IAM documents it, for the fix (policyuniverse lowers names)."""
    return _names().get(action, action.split(":", 1)[1])


def s3_write_decision(
    identity: Collection[tuple[str, dict[str, Any]]],
    boundary: dict[str, Any] | None,
    trusted_accounts: Collection[str],
    trusted_orgs: Collection[str] = (),
    bucket_owners: Mapping[str, str | None] | None = None,
) -> Decision:
    """Whether the role's S3 writes stay within the trusted accounts.

    ``identity`` is (policy name, document) for every attached and inline policy, each
    read in full; ``boundary`` the permissions boundary's document (``None``: none).
    ``bucket_owners`` maps a bucket name to its proven owner, :data:`ABSENT`, or ``None``.
    """
    trusted = Trusted(frozenset(trusted_accounts), frozenset(trusted_orgs), bucket_owners or {})
    docs = [_Doc(name, statements(doc)) for name, doc in identity]
    bound = [_Doc("permissions boundary", statements(boundary))] if boundary is not None else []
    notes: list[dict[str, str]] = []
    certain: dict[str, Reach] = {}
    possible = False
    for doc in docs:
        for stmt in doc.stmts:
            writes = s3_writes(stmt) if str(stmt.get("Effect")).lower() == "allow" else ()
            if not writes:
                continue
            probes, doubts = _probes(stmt, trusted)
            condition, cond_doubts = allow_span(stmt, trusted)
            if doubts or cond_doubts:
                why = "; ".join(doubts + cond_doubts)
                notes.append(_note(doc.source, "undecidable", stmt, why))
            reached = widest = False
            for probe, owners in probes:
                base = owners & condition
                widest = widest or bool(base.possible)
                for action in sorted(writes) if base.possible else ():
                    if not applies(action, probe):
                        continue
                    span = base & _allowed(bound, action, probe, trusted, notes) if bound else base
                    span = _apply_denies(span, docs + bound, action, probe, trusted, notes)
                    if span.certain:
                        certain[action] = certain.get(action, NONE) | span.certain
                    reached = reached or bool(span.possible)
                    possible = possible or bool(span.possible)
            role = "grants" if reached else "denied" if widest else "scoped"
            notes.append(_note(doc.source, role, stmt))
    return _decide(certain, possible, notes, trusted)


def _decide(
    certain: dict[str, Reach], possible: bool, notes: list[dict[str, str]], trusted: Trusted
) -> Decision:
    unique = list({(n["source"], n["role"], n["statement"]): n for n in notes}.values())
    if certain:
        reach = NONE
        for r in certain.values():
            reach = reach | r
        actions = sorted(certain)
        return Decision(
            "FAIL",
            [f"{len(actions)} S3 write action(s) reach buckets of {reach.describe()}"],
            [n for n in unique if n["role"] == "grants"],
            [f"s3:{_camel(a)}" for a in actions],
            _fix([_camel(a) for a in actions], trusted),
        )
    if possible:
        doubts = [n for n in unique if n["role"] == "undecidable"]
        reasons = [f"{n['source']}: {n['why']} in {n['statement']}" for n in doubts]
        return Decision("UNKNOWN", reasons or ["a write may reach an untrusted owner"], doubts)
    return Decision(
        "PASS",
        ["every S3 write the role is granted is limited to trusted owners"],
        [n for n in unique if n["role"] in ("scoped", "denied", "denies")],
    )
