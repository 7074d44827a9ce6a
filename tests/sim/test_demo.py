"""The demo organisation contains every planted case, each as described."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from auditor.sim import MANAGEMENT_ACCOUNT_ID, build_demo_org

EXPECTED_CASES = {
    "integrity-public",
    "integrity-foreign-writer",
    "app-integrity-acls-enabled",
    "integrity-unversioned",
    "integrity-compliant",
    "compliant",
    "compliant-namespace",
    "verification-disabled",
    "legacy-server",
    "missing-bucket",
    "missing-namespace-bucket",
    "sniped-verified",
    "sniped-unverified",
    "central-bucket",
    "wrong-pinned-owner",
    "partner-bucket",
    "https-virtual-hosted",
    "https-path-style",
    "bad-uri",
    "stuck-updating",
    "markup",
    "app-compliant",
    "app-sniped",
    "mgmt-compliant",
    "app-missing-bucket",
    "dev-eu",
}


def _owner(sim, bucket: str | None) -> str | None:
    """Who owns the bucket, proven the way the scanner does: ListBuckets of each account."""
    from auditor.sim.s3 import bucket_owner

    return bucket_owner(bucket) if bucket else None


def test_build_demo_org_plants_every_case(sim):
    org = build_demo_org(sim)
    prod, shared, dev = (org.accounts[n] for n in ("prod", "shared-services", "dev"))
    assert {c.name for c in org.cases} == EXPECTED_CASES
    assert org.denied == [(dev, "eu-west-1", "sagemaker"), (dev, None, "iam")]
    assert org.to_dict()["cases"][0]["name"] == org.cases[0].name

    orgs = sim.session_for(MANAGEMENT_ACCOUNT_ID).client("organizations")
    listed = {a["Name"]: (a["Id"], a["Status"]) for a in orgs.list_accounts()["Accounts"]}
    for name, acct in org.accounts.items():
        assert listed[name] == (acct, "ACTIVE")
    assert org.external_account_id not in {i for i, _ in listed.values()}

    sts = sim.session_for(MANAGEMENT_ACCOUNT_ID).client("sts")
    for acct in org.accounts.values():
        sts.assume_role(
            RoleArn=f"arn:aws:iam::{acct}:role/{org.audit_role_name}", RoleSessionName="audit-check"
        )

    described = {}
    for case in org.cases:
        sm = sim.session_for(case.account_id, case.region).client("sagemaker")
        if case.name == "dev-eu":
            with pytest.raises(ClientError) as exc:
                sm.describe_mlflow_tracking_server(TrackingServerName=case.resource_name)
            assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
            continue
        if case.resource_type == "mlflow-app":
            d = sm.describe_mlflow_app(Arn=case.resource_arn)
            assert d["ArtifactStoreUri"] == case.artifact_store_uri
            continue
        d = sm.describe_mlflow_tracking_server(TrackingServerName=case.resource_name)
        assert d["TrackingServerArn"] == case.resource_arn
        assert d["ArtifactStoreUri"] == case.artifact_store_uri
        described[case.name] = d

    def ver(name):
        return described[name].get("S3BucketOwnerVerification")

    def pin(name):
        return described[name].get("S3BucketOwnerAccountId")

    owner = {c.name: _owner(sim, c.bucket) for c in org.cases}
    assert (ver("compliant"), pin("compliant"), owner["compliant"]) == (True, None, prod)
    assert owner["compliant-namespace"] == prod
    assert org.case("compliant-namespace").bucket == f"mlflow-artifacts-{prod}-us-east-1-an"
    assert ver("verification-disabled") is False and owner["verification-disabled"] == prod
    assert "S3BucketOwnerVerification" not in described["legacy-server"]
    assert "S3BucketOwnerAccountId" not in described["legacy-server"]
    assert owner["missing-bucket"] is None and ver("missing-bucket") is True
    assert owner["missing-namespace-bucket"] is None
    assert org.case("missing-namespace-bucket").bucket.endswith(f"-{prod}-us-east-1-an")
    assert (ver("sniped-verified"), owner["sniped-verified"]) == (True, org.external_account_id)
    assert (ver("sniped-unverified"), owner["sniped-unverified"]) == (
        False,
        org.external_account_id,
    )
    assert (
        owner["sniped-verified"] != owner["sniped-unverified"]
        or org.case("sniped-verified").bucket != org.case("sniped-unverified").bucket
    )
    assert (pin("central-bucket"), owner["central-bucket"]) == (shared, shared)
    assert (pin("wrong-pinned-owner"), owner["wrong-pinned-owner"]) == (dev, shared)
    assert (pin("partner-bucket"), owner["partner-bucket"]) == (
        org.partner_account_id,
        org.partner_account_id,
    )
    assert described["https-virtual-hosted"]["ArtifactStoreUri"].startswith(
        f"https://{org.case('https-virtual-hosted').bucket}.s3.us-east-1.amazonaws.com/"
    )
    assert described["https-path-style"]["ArtifactStoreUri"].startswith(
        "https://s3.us-east-1.amazonaws.com/"
    )
    assert org.case("bad-uri").bucket is None
    assert described["stuck-updating"]["TrackingServerStatus"] == "Updating"
    assert ver("stuck-updating") is False
    assert "<script>alert(1)</script>" in described["markup"]["ArtifactStoreUri"]
    assert '=HYPERLINK("http://x")' in described["markup"]["ArtifactStoreUri"]
    assert owner["app-compliant"] == prod
    assert org.case("app-sniped").account_id == dev
    assert owner["app-sniped"] == org.external_account_id
    assert org.case("mgmt-compliant").account_id == MANAGEMENT_ACCOUNT_ID
    assert owner["dev-eu"] == dev
    assert org.case("dev-eu").region == "eu-west-1"
    assert org.case("app-missing-bucket").account_id == prod
    assert owner["app-missing-bucket"] is None

    # The execution roles: which role each planted case uses, and the one IAM denies.
    roles = {n: d["RoleArn"].rsplit("/", 1)[1] for n, d in described.items()}
    assert roles["sniped-unverified"] == "MlflowS3FullAccessRole"
    assert described["sniped-unverified"]["AutomaticModelRegistration"] is True
    assert roles["verification-disabled"] == "MlflowBucketScopedRole"
    assert roles["stuck-updating"] == "MlflowOpenTrustRole"
    assert roles["compliant"] == "MlflowTrackingServerRole"
    app = sim.session_for(prod).client("sagemaker")
    assert app.describe_mlflow_app(Arn=org.case("app-missing-bucket").resource_arn)[
        "RoleArn"
    ].endswith("role/MlflowOrgScopedRole")
    iam = sim.session_for(prod).client("iam")
    attached = iam.list_attached_role_policies(RoleName="MlflowS3FullAccessRole")
    assert [p["PolicyName"] for p in attached["AttachedPolicies"]] == ["S3FullAccessCopy"]
    with pytest.raises(ClientError) as exc:
        sim.session_for(dev).client("iam").get_role(RoleName="MlflowTrackingServerRole")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"

    # Cross-account S3 answers the scanner relies on.
    s3 = sim.session_for(prod).client("s3")
    s3.head_bucket(
        Bucket=org.case("partner-bucket").bucket, ExpectedBucketOwner=org.partner_account_id
    )
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=org.case("partner-bucket").bucket, ExpectedBucketOwner=prod)
    assert exc.value.response["Error"]["Code"] == "403"
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=org.case("sniped-verified").bucket)
    assert exc.value.response["Error"]["Code"] == "403"


def test_the_demo_members_have_the_same_account_ids_on_every_build(aws_env):
    """Two demo runs can be compared: the member accounts keep their ids."""
    from auditor.sim import simulated_aws

    ids = []
    for _ in range(2):
        with simulated_aws() as sim:
            ids.append(dict(build_demo_org(sim).accounts))
    assert ids[0] == ids[1]
    assert set(ids[0]) == {"prod", "shared-services", "dev"}
    assert len(set(ids[0].values())) == 3
