"""The building blocks of the demo organisation: its records, constants and builder.

``demo_org`` plants the ownership cases with them, ``demo_integrity`` the artifact store
integrity cases; both only go through the AWS APIs an administrator would use.
"""

from __future__ import annotations

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


def trust_policy(principal_arn: str | None = None, service: str | None = None) -> str:
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


class OrgBuilder:
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
        extra: dict[str, Any] | None = None,
    ) -> PlantedCase:
        """A tracking server; ``extra``: more CreateMlflowTrackingServer parameters
        (``Tags`` as a mapping, ``RoleName`` for an execution role other than the default,
        ``AutomaticModelRegistration``)."""
        name = name or case
        sm = self.client(account_id, "sagemaker", region)
        extra = dict(extra or {})
        tags = extra.pop("Tags", None)
        role = extra.pop("RoleName", EXECUTION_ROLE_NAME)
        kwargs: dict[str, Any] = {
            "TrackingServerName": name,
            "ArtifactStoreUri": uri,
            "RoleArn": f"arn:aws:iam::{account_id}:role/{role}",
            **extra,
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
        role: str = EXECUTION_ROLE_NAME,
    ) -> PlantedCase:
        sm = self.client(account_id, "sagemaker", region)
        arn = sm.create_mlflow_app(
            Name=case, ArtifactStoreUri=uri, RoleArn=f"arn:aws:iam::{account_id}:role/{role}"
        )["Arn"]
        planted = PlantedCase(
            case, account_id, region, "mlflow-app", case, arn, uri, bucket, description
        )
        self.org.cases.append(planted)
        return planted
