"""Planted cases for the artifact store integrity checks, added to a demo org.

``plant_integrity_cases(sim, org)`` runs at the end of :func:`build_demo_org`: one tracking
server or MLflow App per check whose own (prod) bucket fails exactly that check, and one
whose bucket passes all four. It also turns versioning on for the buckets of the demo's
existing compliant cases (an account that runs MLflow well does), so that they stay
compliant once the integrity rules are loaded. Everything goes through the S3 API as the
bucket owner's administrator would do it; new buckets start with AWS's defaults (Block
Public Access on, ACLs disabled), so each case undoes exactly one of them.
"""

from __future__ import annotations

import json

from .org_builder import ATTACKER_ACCOUNT_ID, DemoOrg, OrgBuilder, PlantedCase
from .s3 import bucket_owner
from .simulated import SimulatedAWS

# Existing cases whose buckets belong to an audited account and are meant to pass.
COMPLIANT_CASES = (
    "compliant",
    "compliant-namespace",
    "central-bucket",
    "https-virtual-hosted",
    "https-path-style",
    "mgmt-compliant",
    "app-compliant",
)
# case name -> the check it fails (every other integrity check passes on it)
INTEGRITY_CASES = {
    "integrity-public": "mlflow_artifact_bucket_not_public",
    "integrity-foreign-writer": "mlflow_artifact_bucket_no_foreign_writers",
    "app-integrity-acls-enabled": "mlflow_artifact_bucket_acls_disabled",
    "integrity-unversioned": "mlflow_artifact_bucket_versioning_enabled",
    "integrity-compliant": None,
}


def _enable_versioning(b: OrgBuilder, account_id: str, bucket: str) -> None:
    b.client(account_id, "s3").put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
    )


def plant_integrity_cases(sim: SimulatedAWS, org: DemoOrg) -> list[PlantedCase]:
    """Plant the integrity cases into ``org`` (built by build_demo_org on ``sim``)."""
    b = OrgBuilder(sim, org)
    prod = org.accounts["prod"]
    for case in COMPLIANT_CASES:
        with_bucket = [c for c in org.cases if c.name == case and c.bucket]
        for c in with_bucket:
            owner = bucket_owner(c.bucket or "")
            if owner is not None:
                _enable_versioning(b, owner, c.bucket or "")
    planted: list[PlantedCase] = []
    s3 = b.client(prod, "s3")

    public = b.bucket(prod, f"mlflow-integrity-public-{prod}")
    _enable_versioning(b, prod, public)
    s3.delete_public_access_block(Bucket=public)
    s3.put_bucket_policy(
        Bucket=public,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "PublicModelDownloads",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{public}/*",
                    }
                ],
            }
        ),
    )
    planted.append(
        b.server(
            "integrity-public",
            prod,
            f"s3://{public}/mlflow",
            public,
            "Own bucket made public: Block Public Access removed and a policy lets anyone "
            "read the models.",
        )
    )

    foreign = b.bucket(prod, f"mlflow-integrity-foreign-{prod}")
    _enable_versioning(b, prod, foreign)
    s3.put_bucket_policy(
        Bucket=foreign,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "VendorUploads",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ATTACKER_ACCOUNT_ID}:root"},
                        "Action": ["s3:PutObject", "s3:GetObject"],
                        "Resource": f"arn:aws:s3:::{foreign}/*",
                    }
                ],
            }
        ),
    )
    planted.append(
        b.server(
            "integrity-foreign-writer",
            prod,
            f"s3://{foreign}/mlflow",
            foreign,
            "Own bucket whose policy lets an account outside the organisation upload objects.",
        )
    )

    acl = f"mlflow-integrity-acls-{prod}"
    s3.create_bucket(Bucket=acl, ObjectOwnership="ObjectWriter")
    _enable_versioning(b, prod, acl)
    planted.append(
        b.app(
            "app-integrity-acls-enabled",
            prod,
            f"s3://{acl}/app",
            acl,
            "MLflow App whose own bucket keeps ACLs (Object Ownership ObjectWriter).",
        )
    )

    unversioned = b.bucket(prod, f"mlflow-integrity-unversioned-{prod}")
    planted.append(
        b.server(
            "integrity-unversioned",
            prod,
            f"s3://{unversioned}/mlflow",
            unversioned,
            "Own bucket without versioning: an overwritten model cannot be recovered.",
        )
    )

    good = f"mlflow-integrity-compliant-{prod}"
    s3.create_bucket(Bucket=good, ObjectLockEnabledForBucket=True)  # turns versioning on
    s3.put_bucket_policy(
        Bucket=good,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyWritesOutsideTheAccount",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": ["s3:PutObject", "s3:DeleteObject"],
                        "Resource": f"arn:aws:s3:::{good}/*",
                        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": prod}},
                    }
                ],
            }
        ),
    )
    planted.append(
        b.server(
            "integrity-compliant",
            prod,
            f"s3://{good}/mlflow",
            good,
            "Own bucket, private, ACLs disabled, versioning and object lock on, foreign "
            "writes denied: passes every integrity check.",
        )
    )
    return planted
