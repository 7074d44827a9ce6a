"""One client per (region, service) shared by every account: each call must act as the
account bound to its thread, and a call with none bound must be refused."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.credentials import Credentials

from auditor.aws.clients import ClientCache, NoAccountBound


def test_concurrent_calls_act_as_their_own_account(demo_org):
    sim, org = demo_org
    accounts = [org.management_account_id, *org.accounts.values()]
    creds = {a: Credentials(*sim.credentials_for(a)) for a in accounts}
    clients = ClientCache(boto3.Session(region_name="us-east-1"), pool_size=8)
    sts = clients.client("us-east-1", "sts")

    def whoami(account: str) -> tuple[str, str]:
        with clients.acting_as(creds[account]):
            return account, sts.get_caller_identity()["Account"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(whoami, accounts * 25))
    assert all(bound == answered for bound, answered in answers)
    assert {a for _, a in answers} == set(accounts)
    assert clients.built == 1


def test_a_call_with_no_account_bound_is_refused(demo_org):
    clients = ClientCache(boto3.Session(region_name="us-east-1"))
    sts = clients.client("us-east-1", "sts")
    with pytest.raises(NoAccountBound):
        sts.get_caller_identity()


def test_binding_nests_and_restores(demo_org):
    sim, org = demo_org
    outer = Credentials(*sim.credentials_for(org.accounts["prod"]))
    inner = Credentials(*sim.credentials_for(org.accounts["dev"]))
    clients = ClientCache(boto3.Session(region_name="us-east-1"))
    sts = clients.client("us-east-1", "sts")
    with clients.acting_as(outer):
        with clients.acting_as(inner):
            assert sts.get_caller_identity()["Account"] == org.accounts["dev"]
        assert sts.get_caller_identity()["Account"] == org.accounts["prod"]
    with pytest.raises(NoAccountBound):
        sts.get_caller_identity()


def test_expiring_member_credentials_refresh_as_the_caller(demo_org):
    import datetime as dt

    from auditor.aws.credentials import CredentialFactory
    from auditor.core.model import Account

    sim, org = demo_org
    caller = Credentials(*sim.credentials_for(org.management_account_id))
    clients = ClientCache(boto3.Session(region_name="us-east-1"))
    factory = CredentialFactory(
        clients, caller, org.management_account_id, org.audit_role_name, None
    )
    prod = org.accounts["prod"]
    member = factory.credentials_for(Account(account_id=prod))
    sts = clients.client("us-east-1", "sts")
    with clients.acting_as(member):
        assert sts.get_caller_identity()["Account"] == prod
        # about to expire: botocore refreshes before signing; the refresh's AssumeRole
        # must be signed as the caller (the role trusts the management account only)
        member._expiry_time = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
        assert sts.get_caller_identity()["Account"] == prod
    assert factory.assume_role_calls == 2
