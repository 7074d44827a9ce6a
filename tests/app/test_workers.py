"""How ``scan --processes`` splits a scan: whole accounts, each in exactly one process."""

from __future__ import annotations

import pytest

from auditor.app.workers import process_count, shares
from auditor.core.model import Account
from auditor.core.request import ScanRequest


def _accounts(n: int) -> list[Account]:
    # Given out of order: the split is of the sorted ids, the single-process order.
    return [Account(account_id=f"{(i * 7919) % 1000:012d}") for i in range(n)]


@pytest.mark.parametrize(("n_accounts", "n"), [(1, 2), (2, 2), (5, 2), (200, 2), (7, 3), (3, 8)])
def test_every_account_is_in_exactly_one_contiguous_share(n_accounts, n):
    accounts = _accounts(n_accounts)
    parts = shares(accounts, n)
    assert len(parts) == min(n, n_accounts)  # never an empty worker
    ids = sorted(a.account_id for a in accounts)
    assert [i for part in parts for i in sorted(part)] == ids  # a partition, in order
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_no_more_processes_than_accounts_and_at_least_one():
    request = ScanRequest(processes=4)
    assert process_count(request, 2) == 2
    assert process_count(request, 0) == 1
    assert process_count(ScanRequest(processes=1), 50) == 1
