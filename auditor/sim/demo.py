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
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3

from .identity import MANAGEMENT_ACCOUNT_ID
from .simulated import SimulatedAWS

ATTACKER_ACCOUNT_ID = "999988887777"
PARTNER_ACCOUNT_ID = "444455556666"
AUDIT_ROLE_NAME = "MlflowAuditRole"
EXECUTION_ROLE_NAME = "MlflowTrackingServerRole"
# Enabled by default in the simulation (sim/org.py DEFAULT_REGIONS) but without MLflow.
DEMO_NO_MLFLOW = ("ap-northeast-3", "sa-east-1")
DEMO_NO_APPS = "ca-central-1"
MARKUP_SCRIPT = "<script>alert(1)</script>"
MARKUP_IMG = "<img src=x onerror=alert(1)>"
MARKUP_FORMULA = '=HYPERLINK("http://x")'


@dataclass
class PlantedCase:
    """One resource planted with a known verdict."""

    name: str
    account_id: str
    region: str
    resource_type: str  # "mlflow-tracking-server" | "mlflow-app"
    resource_name: str
    resource_arn: str
    artifact_store_uri: str
    bucket: str | None
    description: str


@dataclass
class DemoOrg:
    management_account_id: str
    accounts: dict[str, str]
    external_account_id: str
    partner_account_id: str
    regions: tuple[str, ...]
    audit_role_name: str = AUDIT_ROLE_NAME
    denied: list[tuple[str, str | None, str]] = field(default_factory=list)
    cases: list[PlantedCase] = field(default_factory=list)
    # Enabled regions where SageMaker does not offer the MLflow operations, per kind.
    mlflow_not_offered: dict[str, list[str]] = field(default_factory=dict)

    def case(self, name: str) -> PlantedCase:
        for c in self.cases:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["regions"] = list(self.regions)
        out["denied"] = [list(d) for d in self.denied]
        return out


def _trust(principal_arn: str | None = None, service: str | None = None) -> str:
    principal = {"AWS": principal_arn} if principal_arn else {"Service": service}
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
        }
    )


def _bucket_policy(bucket: str, account_id: str, actions: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowMlflowAccount",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": actions,
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
    )


class _Builder:
    def __init__(self, sim: SimulatedAWS, org: DemoOrg) -> None:
        self.sim, self.org = sim, org
        self.sessions: dict[tuple[str, str], boto3.Session] = {}
        self.role_creds: dict[str, dict[str, str]] = {}
        self.clients: dict[tuple[str, str, str], Any] = {}

    def client(self, account_id: str, service: str, region: str = "us-east-1") -> Any:
        key = (account_id, region, service)
        if key not in self.clients:
            self.clients[key] = self.session(account_id, region).client(service)
        return self.clients[key]

    def session(self, account_id: str, region: str = "us-east-1") -> boto3.Session:
        """Management and external accounts: their admin; members: OrganizationAccountAccessRole."""
        key = (account_id, region)
        if key not in self.sessions:
            if account_id in self.org.accounts.values():
                if account_id not in self.role_creds:
                    sts = self.client(MANAGEMENT_ACCOUNT_ID, "sts")
                    self.role_creds[account_id] = sts.assume_role(
                        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
                        RoleSessionName="mlflow-audit-demo-setup",
                    )["Credentials"]
                c = self.role_creds[account_id]
                self.sessions[key] = self.sim.session_from_credentials(
                    c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], region
                )
            else:
                self.sessions[key] = self.sim.session_for(account_id, region)
        return self.sessions[key]

    def bucket(
        self,
        account_id: str,
        name: str,
        region: str = "us-east-1",
        policy_for: str | None = None,
        actions: list[str] | None = None,
        namespace: bool = False,
    ) -> str:
        s3 = self.client(account_id, "s3", region)
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if namespace:
            kwargs["BucketNamespace"] = "account-regional"
        s3.create_bucket(**kwargs)
        if policy_for:
            s3.put_bucket_policy(
                Bucket=name,
                Policy=_bucket_policy(
                    name, policy_for, actions or ["s3:ListBucket", "s3:GetObject"]
                ),
            )
        return name

    def server(
        self,
        case: str,
        account_id: str,
        uri: str,
        bucket: str | None,
        description: str,
        region: str = "us-east-1",
        name: str | None = None,
        verification: bool | None = True,
        pin: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> PlantedCase:
        name = name or case
        sm = self.client(account_id, "sagemaker", region)
        kwargs: dict[str, Any] = {
            "TrackingServerName": name,
            "ArtifactStoreUri": uri,
            "RoleArn": f"arn:aws:iam::{account_id}:role/{EXECUTION_ROLE_NAME}",
        }
        if verification is not None:
            kwargs["S3BucketOwnerVerification"] = verification
        if pin:
            kwargs["S3BucketOwnerAccountId"] = pin
        if tags:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        arn = sm.create_mlflow_tracking_server(**kwargs)["TrackingServerArn"]
        planted = PlantedCase(
            case, account_id, region, "mlflow-tracking-server", name, arn, uri, bucket, description
        )
        self.org.cases.append(planted)
        return planted

    def app(
        self,
        case: str,
        account_id: str,
        uri: str,
        bucket: str,
        description: str,
        region: str = "us-east-1",
    ) -> PlantedCase:
        sm = self.client(account_id, "sagemaker", region)
        arn = sm.create_mlflow_app(
            Name=case,
            ArtifactStoreUri=uri,
            RoleArn=f"arn:aws:iam::{account_id}:role/{EXECUTION_ROLE_NAME}",
        )["Arn"]
        planted = PlantedCase(
            case, account_id, region, "mlflow-app", case, arn, uri, bucket, description
        )
        self.org.cases.append(planted)
        return planted


def build_demo_org(
    sim: SimulatedAWS, regions: tuple[str, ...] | list[str] = ("us-east-1", "eu-west-1")
) -> DemoOrg:
    """Create the demo Organization, its accounts and every planted case (see module doc)."""
    regions = tuple(regions)
    org = DemoOrg(MANAGEMENT_ACCOUNT_ID, {}, ATTACKER_ACCOUNT_ID, PARTNER_ACCOUNT_ID, regions)
    # Managed MLflow is offered in fewer regions than SageMaker, MLflow Apps in fewer still:
    # two enabled regions lack both, one more lacks Apps only.
    org.mlflow_not_offered = {
        "server": [r for r in DEMO_NO_MLFLOW if r not in regions],
        "app": [r for r in (*DEMO_NO_MLFLOW, DEMO_NO_APPS) if r not in regions],
    }
    for kind, not_offered in org.mlflow_not_offered.items():
        sim.set_mlflow_not_offered(not_offered, kind)
    b = _Builder(sim, org)
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
    prod, shared, dev = org.accounts["prod"], org.accounts["shared-services"], org.accounts["dev"]

    for account in [MANAGEMENT_ACCOUNT_ID, *org.accounts.values()]:
        iam = b.client(account, "iam")
        iam.create_role(
            RoleName=EXECUTION_ROLE_NAME,
            AssumeRolePolicyDocument=_trust(service="sagemaker.amazonaws.com"),
        )
        if account != MANAGEMENT_ACCOUNT_ID:
            iam.create_role(
                RoleName=AUDIT_ROLE_NAME,
                AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:root"),
                Description="Read-only audit of SageMaker MLflow artifact buckets",
            )
            # Inline, because moto does not load AWS managed policies (ReadOnlyAccess) by default.
            iam.put_role_policy(
                RoleName=AUDIT_ROLE_NAME,
                PolicyName="MlflowAuditReadOnly",
                PolicyDocument=json.dumps(
                    {
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
                                ],
                            }
                        ],
                    }
                ),
            )

    home = "us-east-1"
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
        "Own bucket but S3BucketOwnerVerification is false.",
        verification=False,
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
        "Bucket owned by an external attacker and verification off: exploitable.",
        verification=False,
    )
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
        "Verification off and the server is stuck in Updating (remediation must wait or skip).",
        verification=False,
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
        tags={"owner": "=1+1", "note": "@SUM A1", "cmd": "+cmd:/C calc", "team": "-2+3"},
    )
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
        "MLflow App in dev whose bucket is owned by the external attacker.",
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
    return org
