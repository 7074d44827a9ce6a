"""STS trust policies, Organizations accounts, and enabled regions."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from auditor.sim import MANAGEMENT_ACCOUNT_ID

from .conftest import OTHER, PROD


def _trust(principal: str, external_id: str | None = None) -> str:
    stmt: dict = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if external_id:
        stmt["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return json.dumps({"Version": "2012-10-17", "Statement": [stmt]})


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def test_assume_role_honours_trust_policy(sim):
    """AssumeRole succeeds only when the role exists and trusts the caller; the credentials
    then act in the role's account.
    https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
    """
    iam = sim.session_for(PROD).client("iam")
    iam.create_role(
        RoleName="Audit",
        AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:root"),
    )
    iam.create_role(RoleName="OnlyOther", AssumeRolePolicyDocument=_trust(OTHER))
    sts = sim.session_for(MANAGEMENT_ACCOUNT_ID).client("sts")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{PROD}:role/Audit", RoleSessionName="audit")[
        "Credentials"
    ]
    who = (
        sim.session_from_credentials(
            creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
        )
        .client("sts")
        .get_caller_identity()
    )
    assert who["Account"] == PROD
    assert who["Arn"] == f"arn:aws:sts::{PROD}:assumed-role/Audit/audit"
    for arn in (f"arn:aws:iam::{PROD}:role/OnlyOther", f"arn:aws:iam::{PROD}:role/Missing"):
        with pytest.raises(ClientError) as exc:
            sts.assume_role(RoleArn=arn, RoleSessionName="audit")
        assert _code(exc) == "AccessDenied"
    other = sim.session_for(OTHER).client("sts")
    other.assume_role(RoleArn=f"arn:aws:iam::{PROD}:role/OnlyOther", RoleSessionName="ok")


def test_assume_role_trusting_a_specific_role_arn(sim):
    """A trust policy naming a role ARN admits sessions of that role, not its account's users."""
    sim.session_for(OTHER).client("iam").create_role(
        RoleName="Scanner",
        AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:root"),
    )
    sim.session_for(PROD).client("iam").create_role(
        RoleName="Target", AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{OTHER}:role/Scanner")
    )
    mgmt_sts = sim.session_for(MANAGEMENT_ACCOUNT_ID).client("sts")
    c = mgmt_sts.assume_role(RoleArn=f"arn:aws:iam::{OTHER}:role/Scanner", RoleSessionName="scan")[
        "Credentials"
    ]
    scanner = sim.session_from_credentials(
        c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]
    ).client("sts")
    scanner.assume_role(RoleArn=f"arn:aws:iam::{PROD}:role/Target", RoleSessionName="hop")
    with pytest.raises(ClientError) as exc:
        sim.session_for(OTHER).client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{PROD}:role/Target", RoleSessionName="user"
        )
    assert _code(exc) == "AccessDenied"


def test_assume_role_external_id_condition(sim):
    """Condition StringEquals sts:ExternalId must match the ExternalId parameter.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_common-scenarios_third-party.html
    """
    sim.session_for(PROD).client("iam").create_role(
        RoleName="ThirdParty", AssumeRolePolicyDocument=_trust(MANAGEMENT_ACCOUNT_ID, "s3cr3t")
    )
    sts = sim.session_for(MANAGEMENT_ACCOUNT_ID).client("sts")
    arn = f"arn:aws:iam::{PROD}:role/ThirdParty"
    for kwargs in ({}, {"ExternalId": "wrong-id"}):
        with pytest.raises(ClientError) as exc:
            sts.assume_role(RoleArn=arn, RoleSessionName="tp", **kwargs)
        assert _code(exc) == "AccessDenied"
    sts.assume_role(RoleArn=arn, RoleSessionName="tp", ExternalId="s3cr3t")


def test_create_account_leaves_organization_account_access_role(sim):
    """CreateAccount creates OrganizationAccountAccessRole trusting the management account.
    https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_create-cross-account-role.html
    """
    orgs = sim.session_for(MANAGEMENT_ACCOUNT_ID).client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    new = orgs.create_account(Email="m@example.com", AccountName="member")["CreateAccountStatus"][
        "AccountId"
    ]
    sts = sim.session_for(MANAGEMENT_ACCOUNT_ID).client("sts")
    c = sts.assume_role(
        RoleArn=f"arn:aws:iam::{new}:role/OrganizationAccountAccessRole", RoleSessionName="admin"
    )["Credentials"]
    member = sim.session_from_credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    assert member.client("sts").get_caller_identity()["Account"] == new
    with pytest.raises(ClientError):  # an outsider is not trusted
        sim.session_for(OTHER).client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{new}:role/OrganizationAccountAccessRole",
            RoleSessionName="intruder",
        )


def test_list_accounts_reports_status(sim):
    """ListAccounts lists every account with its Status (ACTIVE, or SUSPENDED via the sim).
    https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html
    """
    orgs = sim.session_for(MANAGEMENT_ACCOUNT_ID).client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    ids = [
        orgs.create_account(Email=f"a{i}@example.com", AccountName=f"a{i}")["CreateAccountStatus"][
            "AccountId"
        ]
        for i in range(2)
    ]
    sim.suspend_account(ids[1])
    status = {
        a["Id"]: a["Status"]
        for page in orgs.get_paginator("list_accounts").paginate()
        for a in page["Accounts"]
    }
    assert status[MANAGEMENT_ACCOUNT_ID] == "ACTIVE"
    assert status[ids[0]] == "ACTIVE" and status[ids[1]] == "SUSPENDED"


def test_describe_regions_honours_enabled_regions(sim):
    """DescribeRegions without AllRegions lists only enabled regions; opt-in regions are off
    by default. https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeRegions.html
    """
    ec2 = sim.session_for(PROD).client("ec2")
    default = {r["RegionName"] for r in ec2.describe_regions()["Regions"]}
    assert {"us-east-1", "eu-west-1", "ap-southeast-2"} <= default
    assert "af-south-1" not in default
    every = {
        r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions(AllRegions=True)["Regions"]
    }
    assert every["af-south-1"] == "not-opted-in"
    assert every["us-east-1"] == "opt-in-not-required"
    sim.set_enabled_regions(PROD, ["us-east-1", "af-south-1"])
    regions = {r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions()["Regions"]}
    assert regions == {"us-east-1": "opt-in-not-required", "af-south-1": "opted-in"}
    other = sim.session_for(OTHER).client("ec2")
    assert "af-south-1" not in {r["RegionName"] for r in other.describe_regions()["Regions"]}
