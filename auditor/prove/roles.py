"""Read each execution role once per run, with its own account's credentials.

IAM is global: one read per distinct role, whatever the number of resources and
regions that use it. For a role: ``GetRole`` (the trust policy and the permissions
boundary's ARN), ``ListAttachedRolePolicies`` then ``GetPolicy`` and ``GetPolicyVersion``
of each policy's default version, ``ListRolePolicies`` then ``GetRolePolicy`` of each
inline policy, and the boundary's ``GetPolicy``/``GetPolicyVersion``. A managed policy's
document is read once per run by ARN: an AWS managed policy
(``arn:aws:iam::aws:policy/...``) is the same document in every account.

Every answer is kept as evidence. A call that is denied or fails leaves what depends on
it unknown, with the reason: the trust policy (``GetRole``), the permissions (a list or a
policy read) or the boundary. A role in an account the run holds no credentials for is
unknown as a whole.

https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html
https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListAttachedRolePolicies.html
https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetPolicyVersion.html
https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html#aws-managed-policies
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from auditor.aws.errors import error_code
from auditor.core.access import PolicyRead, RolePolicies
from auditor.core.model import Evidence

_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(?:[^/]+/)*([\w+=,.@-]{1,64})$")
_AWS_MANAGED_RE = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/")


def _call(
    fn: Callable[..., dict[str, Any]], **params: Any
) -> tuple[dict[str, Any] | None, str | None]:
    """(response, None) or (None, error code)."""
    try:
        return fn(**params), None
    except ClientError as exc:
        return None, error_code(exc)
    except Exception as exc:  # BotoCoreError, parser errors: no usable answer
        return None, type(exc).__name__


def _failure(call: str, who: str, code: str) -> str:
    if code in ("AccessDenied", "AccessDeniedException", "403"):
        return f"{call} from {who} was denied ({code})"
    if code == "NoSuchEntity":
        return f"{call} from {who} answered NoSuchEntity: it does not exist"
    return f"{call} from {who} failed with {code}"


def parse_role_arn(arn: str) -> tuple[str, str] | None:
    """(account id, role name) of an IAM role ARN (paths allowed), or None."""
    match = _ROLE_ARN_RE.match(arn or "")
    return (match.group(1), match.group(2)) if match else None


def _document(value: Any) -> dict[str, Any] | None:
    """A policy document: botocore decodes IAM's URL-encoded JSON; a string is decoded."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            doc = json.loads(unquote(value))
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None
    return None


def _count(doc: dict[str, Any]) -> str:
    stmts = doc.get("Statement")
    n = len(stmts) if isinstance(stmts, list) else 1
    return f"{n} statement(s)"


def read_managed_policy(iam: Any, arn: str, account: str) -> PolicyRead:
    """GetPolicy (its default version id), then GetPolicyVersion of that version."""
    out = PolicyRead(arn)
    resp, code = _call(iam.get_policy, PolicyArn=arn)
    params = {"PolicyArn": arn}
    if code is not None:
        out.unknown_reason = _failure("iam:GetPolicy", account, code)
        out.evidence.append(Evidence("iam:GetPolicy", account, code, params, "policy unknown"))
        return out
    assert resp is not None
    version = str(resp.get("Policy", {}).get("DefaultVersionId") or "")
    out.evidence.append(
        Evidence("iam:GetPolicy", account, f"DefaultVersionId={version}", params, "")
    )
    params = {"PolicyArn": arn, "VersionId": version}
    resp, code = _call(iam.get_policy_version, PolicyArn=arn, VersionId=version)
    if code is not None:
        out.unknown_reason = _failure("iam:GetPolicyVersion", account, code)
        out.evidence.append(
            Evidence("iam:GetPolicyVersion", account, code, params, "policy unknown")
        )
        return out
    assert resp is not None
    out.document = _document(resp.get("PolicyVersion", {}).get("Document"))
    if out.document is None:
        out.unknown_reason = f"iam:GetPolicyVersion of {arn} returned a document that is not JSON"
        answer = "unparsable document"
    else:
        answer = f"version {version} with {_count(out.document)}"
    out.evidence.append(Evidence("iam:GetPolicyVersion", account, answer, params, ""))
    return out


class PolicyCache:
    """Managed policy documents read once per run by ARN (thread-safe). Only complete
    reads are kept: a denied read in one account does not hide the policy from another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reads: dict[str, PolicyRead] = {}
        self._locks: dict[str, threading.Lock] = {}

    def get(self, iam: Any, arn: str, account: str) -> tuple[PolicyRead, bool]:
        """(the read, whether it came from the cache)."""
        with self._lock:
            lock = self._locks.setdefault(arn, threading.Lock())
        with lock:
            with self._lock:
                if arn in self._reads:
                    return self._reads[arn], True
            read = read_managed_policy(iam, arn, account)
            if read.document is not None:
                with self._lock:
                    self._reads[arn] = read
            return read, False

    def __len__(self) -> int:
        with self._lock:
            return len(self._reads)


def _pages(iam_call: Callable[..., dict[str, Any]], key: str, **params: Any):
    """Every item of a Marker-paginated IAM list, or (None, error code)."""
    items: list[Any] = []
    marker: str | None = None
    while True:
        resp, code = _call(iam_call, **params, **({"Marker": marker} if marker else {}))
        if code is not None:
            return None, code
        assert resp is not None
        items.extend(resp.get(key) or [])
        marker = resp.get("Marker") if resp.get("IsTruncated") else None
        if not marker:
            return items, None


def _read_trust(out: RolePolicies, iam: Any, account: str) -> dict[str, Any] | None:
    params = {"RoleName": out.name or ""}
    resp, code = _call(iam.get_role, RoleName=out.name)
    if code is not None:
        reason = _failure("iam:GetRole", account, code)
        for key in ("trust", "permissions", "boundary"):
            out.unknown[key] = reason
        out.evidence.append(Evidence("iam:GetRole", account, code, params, "the role is unknown"))
        return None
    assert resp is not None
    role = resp.get("Role") or {}
    out.trust = _document(role.get("AssumeRolePolicyDocument"))
    if out.trust is None:
        out.unknown["trust"] = "iam:GetRole returned a trust policy that is not JSON"
    out.boundary_arn = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    answer = f"trust policy with {_count(out.trust or {})}; boundary {out.boundary_arn or 'none'}"
    out.evidence.append(Evidence("iam:GetRole", account, answer, params, ""))
    return role


def _read_attached(out: RolePolicies, iam: Any, account: str, cache: PolicyCache) -> bool:
    params = {"RoleName": out.name or ""}
    attached, code = _pages(iam.list_attached_role_policies, "AttachedPolicies", **params)
    call = "iam:ListAttachedRolePolicies"
    if attached is None:
        out.unknown["permissions"] = _failure(call, account, str(code))
        out.evidence.append(Evidence(call, account, str(code), params, "permissions unknown"))
        return False
    arns = [str(p.get("PolicyArn")) for p in attached]
    out.evidence.append(Evidence(call, account, ", ".join(arns) or "none", params, ""))
    for arn in arns:
        read, cached = cache.get(iam, arn, account)
        if not cached:
            out.evidence.extend(read.evidence)
        if read.document is None:
            out.unknown["permissions"] = read.unknown_reason or f"{arn} could not be read"
            return False
        assert out.identity is not None
        out.identity.append((arn, read.document))
    return True


def _read_inline(out: RolePolicies, iam: Any, account: str) -> None:
    params = {"RoleName": out.name or ""}
    names, code = _pages(iam.list_role_policies, "PolicyNames", **params)
    if names is None:
        out.unknown["permissions"] = _failure("iam:ListRolePolicies", account, str(code))
        out.evidence.append(
            Evidence("iam:ListRolePolicies", account, str(code), params, "permissions unknown")
        )
        return
    out.evidence.append(
        Evidence("iam:ListRolePolicies", account, ", ".join(map(str, names)) or "none", params)
    )
    for name in map(str, names):
        p = {**params, "PolicyName": name}
        resp, code = _call(iam.get_role_policy, RoleName=out.name, PolicyName=name)
        doc = _document(resp.get("PolicyDocument")) if resp is not None else None
        if doc is None:
            why = _failure("iam:GetRolePolicy", account, code) if code else "not JSON"
            out.unknown["permissions"] = f"inline policy {name}: {why}"
            out.evidence.append(Evidence("iam:GetRolePolicy", account, code or why, p, ""))
            return
        out.evidence.append(Evidence("iam:GetRolePolicy", account, _count(doc), p, ""))
        assert out.identity is not None
        out.identity.append((f"inline:{name}", doc))


def _read_boundary(out: RolePolicies, iam: Any, account: str, cache: PolicyCache) -> None:
    if not out.boundary_arn:
        return
    read, cached = cache.get(iam, out.boundary_arn, account)
    if not cached:
        out.evidence.extend(read.evidence)
    if read.document is None:
        out.unknown["boundary"] = read.unknown_reason or "the boundary could not be read"
    out.boundary = read.document


def gather_role(role_arn: str, iam: Any | None, cache: PolicyCache) -> RolePolicies:
    """Everything the checks read about one role, with ``iam`` of the role's account."""
    parsed = parse_role_arn(role_arn)
    out = RolePolicies(role_arn, *(parsed or (None, None)))
    if parsed is None or iam is None:
        reason = (
            f"{role_arn or '(none)'} is not an IAM role ARN"
            if parsed is None
            else f"the run holds no credentials for account {parsed[0]}, which owns the role"
        )
        out.unknown = dict.fromkeys(("trust", "permissions", "boundary"), reason)
        return out
    account = parsed[0]
    if _read_trust(out, iam, account) is None:
        return out
    out.identity = []
    if _read_attached(out, iam, account, cache):
        _read_inline(out, iam, account)
    if "permissions" in out.unknown:
        out.identity = None
    _read_boundary(out, iam, account, cache)
    return out


class RoleReader:
    """One read per distinct role per run, shared by every resource that uses it
    (thread-safe: concurrent resources of one role wait for the first read)."""

    def __init__(self, client_for: Callable[[str], Any | None]) -> None:
        self._client_for = client_for  # account id -> IAM client, or None
        self._lock = threading.Lock()
        self._roles: dict[str, RolePolicies] = {}
        self._locks: dict[str, threading.Lock] = {}
        self.policies = PolicyCache()

    def read(self, role_arn: str) -> RolePolicies:
        with self._lock:
            lock = self._locks.setdefault(role_arn, threading.Lock())
        with lock:
            with self._lock:
                if role_arn in self._roles:
                    return self._roles[role_arn]
            parsed = parse_role_arn(role_arn)
            iam = self._client_for(parsed[0]) if parsed else None
            role = gather_role(role_arn, iam, self.policies)
            with self._lock:
                self._roles[role_arn] = role
            return role

    @property
    def roles(self) -> dict[str, RolePolicies]:
        with self._lock:
            return dict(self._roles)
