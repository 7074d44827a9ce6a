"""The demo organisation: every planted case the scanner must classify, built via boto3.

Everything is created through AWS API calls as an administrator would make them (the
management account creates the Organization and the member accounts; members are reached by
assuming ``OrganizationAccountAccessRole``). Direct state writes happen only where no API
exists: credentials of the two external accounts, a pre-2026-03-05 ("legacy") server, a
server stuck in "Updating", and the denied dev/eu-west-1 SageMaker scope.
"""

from __future__ import annotations

import contextlib
import json

from .demo_integrity import plant_integrity_cases
from .demo_roles import (
    BUCKET_SCOPED_ROLE,
    FULL_ACCESS_ROLE,
    OPEN_TRUST_ROLE,
    ORG_SCOPED_ROLE,
    create_execution_role,
    create_role_cases,
    deny_iam,
)
from .identity import MANAGEMENT_ACCOUNT_ID
from .org_builder import (
    ATTACKER_ACCOUNT_ID,
    AUDIT_ROLE_NAME,
    DEMO_NO_APPS,
    DEMO_NO_MLFLOW,
    EXECUTION_ROLE_NAME,
    MARKUP_FORMULA,
    MARKUP_IMG,
    MARKUP_SCRIPT,
    PARTNER_ACCOUNT_ID,
    DemoOrg,
    OrgBuilder,
    PlantedCase,
    trust_policy,
)
from .simulated import SimulatedAWS

_HOME = "us-east-1"
# Inline, because moto does not load AWS managed policies (ReadOnlyAccess) by default.
_AUDIT_READ_ONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Resource": "*",
            "Action": [
                "sagemaker:List*",
                "sagemaker:Describe*",
                "s3:ListAllMyBuckets",
                "s3:ListBucket",
                "s3:GetBucketLocation",
                "ec2:DescribeRegions",
                "iam:GetRole",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
                "iam:GetRolePolicy",
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
            ],
        }
    ],
}


def build_demo_org(
    sim: SimulatedAWS, regions: tuple[str, ...] | list[str] = ("us-east-1", "eu-west-1")
) -> DemoOrg:
    """Create the demo Organization, its accounts and every planted case (see module doc)."""
    regions = tuple(regions)
    org = DemoOrg(MANAGEMENT_ACCOUNT_ID, {}, ATTACKER_ACCOUNT_ID, PARTNER_ACCOUNT_ID, regions)
    _limit_mlflow_regions(sim, org)
    b = OrgBuilder(sim, org)
    _create_accounts(b, org)
    _create_roles(b, org)
    org_id = b.client(MANAGEMENT_ACCOUNT_ID, "organizations").describe_organization()[
        "Organization"
    ]["Id"]
    create_role_cases(b, org, org_id)
    _plant_bucket_ownership_cases(sim, b, org)
    _plant_cross_account_cases(b, org)
    _plant_uri_and_status_cases(sim, b, org)
    _plant_app_management_and_region_cases(sim, b, org)
    plant_integrity_cases(sim, org)
    deny_iam(b, org, org.accounts["dev"])
    return org


def _limit_mlflow_regions(sim: SimulatedAWS, org: DemoOrg) -> None:
    """Managed MLflow is offered in fewer regions than SageMaker, MLflow Apps in fewer still:
    two enabled regions lack both, one more lacks Apps only."""
    regions = org.regions
    org.mlflow_not_offered = {
        "server": [r for r in DEMO_NO_MLFLOW if r not in regions],
        "app": [r for r in (*DEMO_NO_MLFLOW, DEMO_NO_APPS) if r not in regions],
    }
    for kind, not_offered in org.mlflow_not_offered.items():
        sim.set_mlflow_not_offered(not_offered, kind)


DEMO_SEED = 20261204


def _seed_moto() -> None:
    """Make moto's generated ids (member account ids among them) the same on every run, so
    two demo runs can be compared. This is what moto's documented ``/moto-api/seed``
    endpoint does in server mode; the demo builds in the process that holds moto."""
    from moto.moto_api._internal import mock_random

    mock_random.seed(DEMO_SEED)


def _create_accounts(b: OrgBuilder, org: DemoOrg) -> None:
    """The Organization and its member accounts prod, shared-services and dev (their ids
    the same on every run)."""
    _seed_moto()
    orgs = b.client(MANAGEMENT_ACCOUNT_ID, "organizations")
    with contextlib.suppress(orgs.exceptions.AlreadyInOrganizationException):
        orgs.create_organization(FeatureSet="ALL")
    for name in ("prod", "shared-services", "dev"):
        status = orgs.create_account(Email=f"{name}@example.com", AccountName=name)[
            "CreateAccountStatus"
        ]
        while status["State"] == "IN_PROGRESS":
            status = orgs.describe_create_account_status(CreateAccountRequestId=status["Id"])[
                "CreateAccountStatus"
            ]
        org.accounts[name] = status["AccountId"]


def _create_roles(b: OrgBuilder, org: DemoOrg) -> None:
    """The SageMaker execution role everywhere (S3 limited to the account's own buckets,
    and for prod to shared-services' too, whose central bucket it uses), the audit role in
    every member account."""
    prod, shared = org.accounts["prod"], org.accounts["shared-services"]
    for account in [MANAGEMENT_ACCOUNT_ID, *org.accounts.values()]:
        create_execution_role(
            b, account, sorted({account, shared} if account == prod else {account})
        )
        iam = b.client(account, "iam")
        if account != MANAGEMENT_ACCOUNT_ID:
            iam.create_role(
                RoleName=AUDIT_ROLE_NAME,
                AssumeRolePolicyDocument=trust_policy(f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:root"),
                Description="Read-only audit of SageMaker MLflow artifact buckets",
            )
            iam.put_role_policy(
                RoleName=AUDIT_ROLE_NAME,
                PolicyName="MlflowAuditReadOnly",
                PolicyDocument=json.dumps(_AUDIT_READ_ONLY_POLICY),
            )


def _plant_bucket_ownership_cases(sim: SimulatedAWS, b: OrgBuilder, org: DemoOrg) -> None:
    """prod's servers on its own, legacy, missing and sniped buckets."""
    prod, home = org.accounts["prod"], _HOME
    own = b.bucket(prod, f"mlflow-compliant-{prod}")
    b.server(
        "compliant",
        prod,
        f"s3://{own}/mlflow",
        own,
        "Own bucket, verification on, no pinned owner: passes every check.",
    )
    ns = b.bucket(prod, f"mlflow-artifacts-{prod}-{home}-an", namespace=True)
    b.server(
        "compliant-namespace",
        prod,
        f"s3://{ns}/mlflow",
        ns,
        "Own bucket in prod's account regional namespace, verification on.",
    )
    vd = b.bucket(prod, f"mlflow-verification-off-{prod}")
    b.server(
        "verification-disabled",
        prod,
        f"s3://{vd}/mlflow",
        vd,
        "Own bucket but S3BucketOwnerVerification is false; its role may write only to "
        "named buckets of prod (the IAM scope mitigates it).",
        verification=False,
        extra={"RoleName": BUCKET_SCOPED_ROLE},
    )
    lg = b.bucket(prod, f"mlflow-legacy-{prod}")
    arn = sim.create_legacy_tracking_server(
        prod,
        home,
        "legacy-server",
        f"s3://{lg}/mlflow",
        role_arn=f"arn:aws:iam::{prod}:role/{EXECUTION_ROLE_NAME}",
    )
    org.cases.append(
        PlantedCase(
            "legacy-server",
            prod,
            home,
            "mlflow-tracking-server",
            "legacy-server",
            arn,
            f"s3://{lg}/mlflow",
            lg,
            "Created before the feature: Describe omits both ownership fields.",
        )
    )
    missing = f"mlflow-missing-{prod}"
    b.server(
        "missing-bucket",
        prod,
        f"s3://{missing}/mlflow",
        missing,
        "Bucket was never created: anyone can claim it.",
    )
    missing_ns = f"mlflow-missing-{prod}-{home}-an"
    b.server(
        "missing-namespace-bucket",
        prod,
        f"s3://{missing_ns}/mlflow",
        missing_ns,
        "Missing bucket in prod's account regional namespace (only prod can create it).",
    )
    sv = b.bucket(ATTACKER_ACCOUNT_ID, f"mlflow-sniped-verified-{prod}")
    b.server(
        "sniped-verified",
        prod,
        f"s3://{sv}/mlflow",
        sv,
        "Bucket owned by an external attacker; verification on (server fails closed).",
    )
    su = b.bucket(ATTACKER_ACCOUNT_ID, f"mlflow-sniped-unverified-{prod}")
    b.server(
        "sniped-unverified",
        prod,
        f"s3://{su}/mlflow",
        su,
        "Bucket owned by an external attacker and verification off: exploitable; its role "
        "has S3 full access and it registers models automatically (ranks first).",
        verification=False,
        extra={"RoleName": FULL_ACCESS_ROLE, "AutomaticModelRegistration": True},
    )


def _plant_cross_account_cases(b: OrgBuilder, org: DemoOrg) -> None:
    """prod's servers on buckets of shared-services and of the partner (pinned owners)."""
    prod, shared, dev = org.accounts["prod"], org.accounts["shared-services"], org.accounts["dev"]
    rw = ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:GetBucketLocation"]
    central = b.bucket(shared, f"mlflow-central-{shared}", policy_for=prod, actions=rw)
    b.server(
        "central-bucket",
        prod,
        f"s3://{central}/prod",
        central,
        "Central bucket owned by shared-services, pinned to shared-services.",
        pin=shared,
    )
    wrong = b.bucket(
        shared,
        f"mlflow-wrong-owner-{shared}",
        policy_for=prod,
        actions=["s3:ListBucket", "s3:GetObject"],
    )
    b.server(
        "wrong-pinned-owner",
        prod,
        f"s3://{wrong}/prod",
        wrong,
        "Pinned to dev but the bucket is owned by shared-services.",
        pin=dev,
    )
    partner = b.bucket(
        PARTNER_ACCOUNT_ID, f"mlflow-partner-{PARTNER_ACCOUNT_ID}", policy_for=prod, actions=rw
    )
    b.server(
        "partner-bucket",
        prod,
        f"s3://{partner}/prod",
        partner,
        "Bucket of an external partner (outside the org), pinned to the partner.",
        pin=PARTNER_ACCOUNT_ID,
    )


def _plant_uri_and_status_cases(sim: SimulatedAWS, b: OrgBuilder, org: DemoOrg) -> None:
    """prod's servers with https and non-S3 URIs, a stuck status and markup in strings."""
    prod, home = org.accounts["prod"], _HOME
    vh = b.bucket(prod, f"mlflow-https-vhost-{prod}")
    b.server(
        "https-virtual-hosted",
        prod,
        f"https://{vh}.s3.{home}.amazonaws.com/mlflow",
        vh,
        "Own bucket named by a virtual-hosted-style https URL.",
    )
    ps = b.bucket(prod, f"mlflow-https-path-{prod}")
    b.server(
        "https-path-style",
        prod,
        f"https://s3.{home}.amazonaws.com/{ps}/mlflow",
        ps,
        "Own bucket named by a path-style https URL.",
    )
    b.server(
        "bad-uri",
        prod,
        "https://example.com/artifacts",
        None,
        "ArtifactStoreUri accepted by the API pattern but naming no S3 bucket.",
    )
    stuck = b.bucket(prod, f"mlflow-stuck-{prod}")
    b.server(
        "stuck-updating",
        prod,
        f"s3://{stuck}/mlflow",
        stuck,
        "Verification off and the server is stuck in Updating (remediation must wait or skip); "
        "its role's trust policy has no source condition.",
        verification=False,
        extra={"RoleName": OPEN_TRUST_ROLE},
    )
    sim.set_tracking_server_status(prod, home, "stuck-updating", "Updating")
    mk = b.bucket(prod, f"mlflow-markup-{prod}")
    b.server(
        "markup",
        prod,
        f"s3://{mk}/{MARKUP_SCRIPT}/{MARKUP_IMG}/{MARKUP_FORMULA}",
        mk,
        "Own bucket; the URI prefix carries HTML markup and a CSV formula, tags carry "
        "formula-like values (SageMaker's tag pattern forbids <, >, quotes, parentheses).",
        extra={"Tags": {"owner": "=1+1", "note": "@SUM A1", "cmd": "+cmd:/C calc", "team": "-2+3"}},
    )


def _plant_app_management_and_region_cases(sim: SimulatedAWS, b: OrgBuilder, org: DemoOrg) -> None:
    """MLflow Apps, the management account's server and dev's denied second region."""
    prod, dev, regions = org.accounts["prod"], org.accounts["dev"], org.regions
    app_bucket = b.bucket(prod, f"mlflow-app-{prod}")
    b.app(
        "app-compliant",
        prod,
        f"s3://{app_bucket}/app",
        app_bucket,
        "MLflow App with an own bucket.",
    )
    app_sniped = b.bucket(ATTACKER_ACCOUNT_ID, f"mlflow-app-sniped-{dev}")
    b.app(
        "app-sniped",
        dev,
        f"s3://{app_sniped}/app",
        app_sniped,
        "MLflow App in dev whose bucket is owned by the external attacker; dev's roles "
        "cannot be read (IAM denied): no compensating control is known.",
    )
    gone = f"mlflow-app-missing-{prod}"
    b.app(
        "app-missing-bucket",
        prod,
        f"s3://{gone}/app",
        gone,
        "MLflow App on a bucket never created (exploitable); its role may write only to "
        "buckets of the organisation (aws:ResourceOrgID), which mitigates it.",
        role=ORG_SCOPED_ROLE,
    )
    mg = b.bucket(MANAGEMENT_ACCOUNT_ID, f"mlflow-mgmt-{MANAGEMENT_ACCOUNT_ID}")
    b.server(
        "mgmt-compliant",
        MANAGEMENT_ACCOUNT_ID,
        f"s3://{mg}/mlflow",
        mg,
        "Compliant server in the management account.",
    )
    if len(regions) > 1:
        eu = regions[1]
        dev_eu = b.bucket(dev, f"mlflow-dev-eu-{dev}", region=eu)
        b.server(
            "dev-eu",
            dev,
            f"s3://{dev_eu}/mlflow",
            dev_eu,
            f"Compliant server in dev/{eu}, unreachable: SageMaker there is denied.",
            region=eu,
            name="dev-eu",
        )
        sim.faults.deny(dev, eu, "sagemaker")
        org.denied.append((dev, eu, "sagemaker"))
