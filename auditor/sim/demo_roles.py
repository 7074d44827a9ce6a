"""The execution roles of the demo organisation: one per case the role checks decide.

Every account's default execution role (``MlflowTrackingServerRole``) is the sound one:
SageMaker may assume it only for its own account (``aws:SourceAccount``) and its S3
access is limited to the organisation's buckets by ``s3:ResourceAccount``. The planted
roles each differ from it in one way, and a planted resource uses each:

- ``MlflowS3FullAccessRole`` (prod): a customer managed copy of ``AmazonS3FullAccess``
  (``s3:*`` on ``*``); moto loads AWS managed policies only when asked, and slowly, so
  the demo attaches the same document as its own policy;
- ``MlflowBucketScopedRole`` (prod): S3 access to named buckets of prod only (the
  artifact bucket and one more, whose owner the scan proves for the verdict);
- ``MlflowOrgScopedRole`` (prod): ``s3:*`` on ``*`` limited by ``aws:ResourceOrgID``;
- ``MlflowOpenTrustRole`` (prod): a trust policy without any source condition;
- dev's roles cannot be read: its IAM answers AccessDenied (denied by :func:`deny_iam`
  once the demo is built, like an audit role deployed without the IAM read actions).

Everything goes through the IAM API as an administrator would do it.
"""

from __future__ import annotations

import json
from typing import Any

from .org_builder import EXECUTION_ROLE_NAME, DemoOrg, OrgBuilder

FULL_ACCESS_ROLE = "MlflowS3FullAccessRole"
BUCKET_SCOPED_ROLE = "MlflowBucketScopedRole"
ORG_SCOPED_ROLE = "MlflowOrgScopedRole"
OPEN_TRUST_ROLE = "MlflowOpenTrustRole"
# AmazonS3FullAccess's document (version 2), attached as a customer managed policy.
S3_FULL_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*", "s3-object-lambda:*"], "Resource": "*"}],
}
_ARTIFACT_ACTIONS = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ListBucket",
    "s3:GetBucketLocation",
]


def _trust(account: str | None) -> str:
    """SageMaker may assume the role; only for ``account`` when one is given."""
    stmt: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    if account:
        stmt["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return json.dumps({"Version": "2012-10-17", "Statement": [stmt]})


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _scoped_by_account(accounts: list[str]) -> dict[str, Any]:
    return {
        "Sid": "ArtifactsInOrganisationBuckets",
        "Effect": "Allow",
        "Action": _ARTIFACT_ACTIONS,
        "Resource": "*",
        "Condition": {"StringEquals": {"s3:ResourceAccount": accounts}},
    }


def create_execution_role(b: OrgBuilder, account: str, trusted: list[str]) -> None:
    """The default execution role of ``account``: sound trust, S3 limited to ``trusted``."""
    iam = b.client(account, "iam")
    iam.create_role(RoleName=EXECUTION_ROLE_NAME, AssumeRolePolicyDocument=_trust(account))
    iam.put_role_policy(
        RoleName=EXECUTION_ROLE_NAME,
        PolicyName="MlflowArtifacts",
        PolicyDocument=_policy(_scoped_by_account(trusted)),
    )


def create_role_cases(b: OrgBuilder, org: DemoOrg, org_id: str) -> dict[str, str]:
    """The planted roles (see the module doc); role name -> ARN."""
    prod = org.accounts["prod"]
    arns: dict[str, str] = {}
    iam = b.client(prod, "iam")
    policy = iam.create_policy(
        PolicyName="S3FullAccessCopy", PolicyDocument=json.dumps(S3_FULL_ACCESS)
    )["Policy"]["Arn"]
    arns[FULL_ACCESS_ROLE] = iam.create_role(
        RoleName=FULL_ACCESS_ROLE, AssumeRolePolicyDocument=_trust(prod)
    )["Role"]["Arn"]
    iam.attach_role_policy(RoleName=FULL_ACCESS_ROLE, PolicyArn=policy)

    buckets = [f"mlflow-verification-off-{prod}", f"mlflow-models-{prod}"]
    arns[BUCKET_SCOPED_ROLE] = iam.create_role(
        RoleName=BUCKET_SCOPED_ROLE, AssumeRolePolicyDocument=_trust(prod)
    )["Role"]["Arn"]
    named = [f"arn:aws:s3:::{n}" for n in buckets] + [f"arn:aws:s3:::{n}/*" for n in buckets]
    iam.put_role_policy(
        RoleName=BUCKET_SCOPED_ROLE,
        PolicyName="NamedBuckets",
        PolicyDocument=_policy(
            {"Sid": "OwnArtifactBuckets", "Effect": "Allow", "Action": _ARTIFACT_ACTIONS}
            | {"Resource": named}
        ),
    )
    b.bucket(prod, buckets[1])  # named by the role, used by no server: proven for it

    arns[OPEN_TRUST_ROLE] = iam.create_role(
        RoleName=OPEN_TRUST_ROLE, AssumeRolePolicyDocument=_trust(None)
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=OPEN_TRUST_ROLE,
        PolicyName="MlflowArtifacts",
        PolicyDocument=_policy(_scoped_by_account([prod])),
    )

    arns[ORG_SCOPED_ROLE] = iam.create_role(
        RoleName=ORG_SCOPED_ROLE, AssumeRolePolicyDocument=_trust(prod)
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=ORG_SCOPED_ROLE,
        PolicyName="OrganisationBuckets",
        PolicyDocument=_policy(
            {
                "Sid": "AnyBucketOfTheOrganisation",
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceOrgID": org_id}},
            }
        ),
    )
    return arns


def deny_iam(b: OrgBuilder, org: DemoOrg, account: str) -> None:
    """``account``'s IAM answers AccessDenied from now on: the execution roles of its
    resources cannot be read (the role checks are UNKNOWN with the reason)."""
    b.sim.faults.deny(account, None, "iam")
    org.denied.append((account, None, "iam"))
