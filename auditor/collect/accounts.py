"""Which accounts a run audits: the caller, ``--account``, ``--org``, and ``--shard``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from botocore.credentials import Credentials

from auditor.aws.clients import ClientCache
from auditor.collect.scope import Account, organization_accounts
from auditor.core.request import ScanRequest


@dataclass(slots=True)
class AccountSelection:
    scan: list[Account]  # listed, described, evaluated
    inventory_only: list[Account]  # other shards' accounts: ListBuckets only (proofs)
    organization: list[str]  # every ACTIVE account of the Organization (--org), else []
    organization_ids: list[str]  # the Organization's id (o-...), from its account ARNs


def shard_of(account_id: str, total: int) -> int:
    """The 1-based shard an account belongs to: stable across runs and machines."""
    digest = hashlib.sha256(account_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % total + 1


def select_accounts(
    clients: ClientCache, caller_creds: Credentials, caller: str, request: ScanRequest
) -> AccountSelection:
    """The accounts to scan, the other accounts to inventory only, the Organization."""
    org_ids: list[str] = []
    org_units: set[str] = set()
    accounts: dict[str, Account] = {}
    if request.org:
        for acct in organization_accounts(clients, caller_creds):
            accounts[acct.account_id] = acct
            if acct.organization_id:
                org_units.add(acct.organization_id)
        org_ids = sorted(accounts)
    for account_id in request.accounts:
        accounts.setdefault(account_id, Account(account_id=account_id))
    if not accounts:
        accounts[caller] = Account(account_id=caller)
    selected = sorted(accounts.values(), key=lambda a: a.account_id)
    others: list[Account] = []
    if request.shard:
        k, n = request.shard
        others = [a for a in selected if shard_of(a.account_id, n) != k]
        selected = [a for a in selected if shard_of(a.account_id, n) == k]
    return AccountSelection(selected, others, org_ids, sorted(org_units))
