"""The conditions of an execution role's S3 statements: which bucket owners they admit.

A request's owner is "untrusted" when it is outside the trusted accounts and not in a
trusted organisation. For an Allow we ask which untrusted owners its conditions still
admit; for a Deny, whether its conditions hold for every untrusted owner.

- ``s3:ResourceAccount`` and ``aws:ResourceAccount`` are the bucket owner's account,
  taken to be in every S3 request's context (AWS documents ``aws:ResourceAccount`` as
  present for most actions, and S3 always knows the owner), so ``ForAllValues`` and
  ``...IfExists`` on them limit; ``aws:ResourceOrgID`` and ``aws:ResourceOrgPaths`` are
  present only when that account is in an organisation.
- A key absent from the request makes a positive operator false and a negated one
  (``StringNotEquals``, ...) true; ``...IfExists`` and ``ForAllValues`` are true when it
  is absent, so on the organisation keys they admit every account in no organisation.
  ``ForAnyValue`` is false when the key is absent.
- Values with wildcards admit owners nobody listed; several values of one key are ORed,
  several keys and operators ANDed.
- Keys a writer of any bucket controls or satisfies whoever owns it (TLS, encryption and
  ACL headers, tags) limit nothing; ``aws:PrincipalIsAWSService``/``aws:ViaAWSService``
  are false for the role's own requests. Any other key is undecidable: never a guess.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceaccount
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceorgid
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html#amazons3-policy-keys
https://aws.amazon.com/blogs/security/how-to-control-access-to-aws-resources-based-on-aws-account-ou-or-organization/
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ACCOUNT_RE = re.compile(r"^\d{12}$")
_ACCOUNT_KEYS = frozenset({"s3:resourceaccount", "aws:resourceaccount"})
_ORG_KEYS = frozenset({"aws:resourceorgid", "aws:resourceorgpaths"})
# Keys whose value the writer of any bucket controls or satisfies whoever owns it.
_NEUTRAL_PREFIXES = (
    "aws:securetransport",
    "aws:currenttime",
    "aws:epochtime",
    "aws:requestedregion",
    "aws:resourcetag/",
    "aws:requesttag/",
    "aws:tagkeys",
    "s3:x-amz-",
    "s3:tlsversion",
    "s3:signatureversion",
    "s3:authtype",
    "s3:signatureage",
    "s3:requestobjecttag",
    "s3:existingobjecttag/",
    "s3:object-lock-",
    "s3:versionid",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
)
# "false" for a request the role's session makes itself, as the tracking server does.
_DIRECT_KEYS = frozenset({"aws:principalisawsservice", "aws:viaawsservice"})
_OPS = ("stringequals", "stringlike", "stringnotequals", "stringnotlike")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def wild(text: str) -> bool:
    return "*" in text or "?" in text


@dataclass(frozen=True, slots=True)
class Reach:
    """Untrusted owners: any account, or the listed ones."""

    any: bool = False
    accounts: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return self.any or bool(self.accounts)

    def __and__(self, other: Reach) -> Reach:
        if self.any:
            return other
        if other.any:
            return self
        return Reach(False, self.accounts & other.accounts)

    def __or__(self, other: Reach) -> Reach:
        return Reach(self.any or other.any, self.accounts | other.accounts)

    def describe(self) -> str:
        return "any account" if self.any else ", ".join(sorted(self.accounts))


NONE = Reach()
ANY = Reach(any=True)


@dataclass(frozen=True, slots=True)
class Span:
    """What is certainly reached, and what may be (``certain`` within ``possible``)."""

    certain: Reach
    possible: Reach

    def __and__(self, other: Span) -> Span:
        return Span(self.certain & other.certain, self.possible & other.possible)

    def __or__(self, other: Span) -> Span:
        return Span(self.certain | other.certain, self.possible | other.possible)


def sure(reach: Reach) -> Span:
    return Span(reach, reach)


SURE_ANY = Span(ANY, ANY)
SURE_NONE = Span(NONE, NONE)
DOUBT = Span(NONE, ANY)


@dataclass(frozen=True, slots=True)
class Trusted:
    accounts: frozenset[str]
    orgs: frozenset[str]
    bucket_owners: Mapping[str, str | None]

    def account(self, value: str) -> bool:
        return value in self.accounts

    def org(self, value: str) -> bool:
        return value in self.orgs

    def org_path(self, value: str) -> bool:
        head, sep, _ = value.partition("/")
        return bool(sep) and head in self.orgs and not wild(head)


def _split_op(operator: str) -> tuple[str, str, bool]:
    """(set operator or '', base operator, IfExists) in lower case."""
    op = operator.lower()
    prefix = ""
    if ":" in op:
        prefix, op = op.split(":", 1)
    exists = op.endswith("ifexists")
    return prefix, op.removesuffix("ifexists"), exists


def _values_trusted(key: str, values: list[str], trusted: Trusted) -> bool:
    if not values:
        return False
    if key in _ACCOUNT_KEYS:
        return all(not wild(v) and trusted.account(v) for v in values)
    if key == "aws:resourceorgid":
        return all(not wild(v) and trusted.org(v) for v in values)
    return all(trusted.org_path(v) for v in values)


def _named_untrusted(key: str, values: list[str], trusted: Trusted) -> Reach:
    """The untrusted owners a positive condition admits."""
    if key not in _ACCOUNT_KEYS or any(wild(v) or not ACCOUNT_RE.match(v) for v in values):
        return ANY  # a pattern, or an organisation: its accounts are not listed here
    return Reach(accounts=frozenset(v for v in values if not trusted.account(v)))


def _condition_terms(condition: Any) -> list[tuple[str, str, list[str]]] | None:
    if not isinstance(condition, dict):
        return None
    terms = []
    for operator, block in condition.items():
        if not isinstance(block, dict):
            return None
        for key, values in block.items():
            terms.append((str(operator), str(key).lower(), [str(v) for v in as_list(values)]))
    return terms


def _neutral(key: str) -> bool:
    return key.startswith(_NEUTRAL_PREFIXES)


def allow_span(stmt: dict[str, Any], trusted: Trusted) -> tuple[Span, list[str]]:
    """The untrusted owners an Allow's conditions admit (ANDed), and what is undecidable."""
    if not stmt.get("Condition"):
        return SURE_ANY, []
    terms = _condition_terms(stmt["Condition"])
    if terms is None:
        return DOUBT, ["the Condition block is not a mapping of operators to keys"]
    span, doubts = SURE_ANY, []
    for operator, key, values in terms:
        prefix, base, exists = _split_op(operator)
        if key not in _ACCOUNT_KEYS | _ORG_KEYS:
            if not _neutral(key):
                span = span & DOUBT
                doubts.append(f"condition key {key} may limit the request in ways not evaluated")
            continue
        if base not in _OPS or prefix not in ("", "foranyvalue", "forallvalues"):
            span = span & DOUBT
            doubts.append(f"operator {operator} on {key} is not evaluated")
            continue
        absent_passes = key in _ORG_KEYS and (exists or prefix == "forallvalues")
        if base.startswith("stringnot") or absent_passes:
            continue  # admits owners outside the named ones, or any owner in no organisation
        if _values_trusted(key, values, trusted):
            return SURE_NONE, []  # one conjunct limits the owner to trusted ones
        span = span & sure(_named_untrusted(key, values, trusted))
    return span, doubts


def deny_strength(stmt: dict[str, Any], trusted: Trusted) -> tuple[str, str]:
    """('all' | 'maybe' | 'no', reason): whether a Deny's conditions hold for every
    request to an untrusted owner's bucket."""
    if not stmt.get("Condition"):
        return "all", ""
    terms = _condition_terms(stmt["Condition"])
    if terms is None:
        return "maybe", "its Condition block is not a mapping of operators to keys"
    strength, why = "all", ""
    for operator, key, values in terms:
        prefix, base, exists = _split_op(operator)
        if key in _ACCOUNT_KEYS | _ORG_KEYS and base.startswith("stringnot"):
            if prefix == "foranyvalue" and key in _ORG_KEYS and not exists:
                strength, why = "maybe", f"{operator} is false when {key} is absent"
                continue
            elif prefix in ("", "foranyvalue", "forallvalues") and base in _OPS:
                if not _values_trusted(key, values, trusted):
                    strength, why = "maybe", f"{key} names owners outside the trusted set"
                continue
        if key in _DIRECT_KEYS and base == "bool" and [v.lower() for v in values] == ["false"]:
            continue  # true for the role's own requests to S3
        if _neutral(key):
            return "no", f"it applies only when {key} matches, which a writer controls"
        strength, why = "maybe", f"condition {operator} on {key} is not evaluated"
    return strength, why
