"""Build findings.json documents (docs/findings-schema.md) for the report tests and benchmark."""

from __future__ import annotations

import copy
import random
from typing import Any

PROD, DATA, SANDBOX, BROKEN, STRANGER = (
    "111111111111",
    "222222222222",
    "333333333333",
    "444444444444",
    "999999999999",
)
REGIONS = ["eu-west-1", "us-east-1"]

PAYLOADS = (
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=1</script>",
    '"onmouseover="window.__pwned=1" x="',
)

CHECKS: dict[str, dict[str, str]] = {
    "mlflow_artifact_bucket_exists": {
        "severity": "critical",
        "title": "The artifact bucket exists",
        "risk": "A missing bucket name can be created by anyone (bucket sniping): the server "
        "would then write models to, and load models from, a stranger's bucket.",
        "fix": "Recreate the bucket in a trusted account and pin its owner.",
    },
    "mlflow_artifact_bucket_owner_trusted": {
        "severity": "critical",
        "title": "The artifact bucket is owned by a trusted account",
        "risk": "A bucket owned outside the trusted set lets its owner read and poison models.",
        "fix": "Pin the expected owner so the server refuses the foreign bucket.",
    },
    "mlflow_s3_owner_verification_enabled": {
        "severity": "high",
        "title": "S3 bucket owner verification is enabled",
        "risk": "Without owner verification the server trusts whatever bucket carries the name.",
        "fix": "Enable S3BucketOwnerVerification.",
    },
    "mlflow_s3_expected_owner_matches_bucket": {
        "severity": "high",
        "title": "The expected owner owns the bucket",
        "risk": "A mismatch breaks the server or points it at the wrong bucket.",
        "fix": "Set S3BucketOwnerAccountId to the proven owner.",
    },
    "mlflow_artifact_store_uri_valid": {
        "severity": "medium",
        "title": "The artifact store URI names an S3 bucket",
        "risk": "An unparseable URI cannot be checked.",
        "fix": "Set a valid s3:// artifact store URI.",
    },
    "mlflow_artifact_bucket_account_namespace": {
        "severity": "low",
        "title": "The bucket is in an account regional namespace",
        "risk": "A global-namespace name can be re-claimed by anyone once deleted.",
        "fix": "Move artifacts to an account regional namespace bucket.",
    },
}


def command(name: str, region: str, owner: str = PROD) -> str:
    return (
        f"aws sagemaker update-mlflow-tracking-server --region {region} "
        f"--tracking-server-name {name} --s3-bucket-owner-verification "
        f"--s3-bucket-owner-account-id {owner}"
    )


def finding(
    check_id: str,
    status: str,
    *,
    name: str,
    account: str = PROD,
    region: str = "us-east-1",
    severity: str | None = None,
    resource_type: str = "mlflow-tracking-server",
    bucket: str | None = None,
    message: str | None = None,
    actual_owner: str | None = None,
    evidence: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    meta = CHECKS[check_id]
    bucket = bucket if bucket is not None else f"{name}-artifacts"
    kind = "tracking-server" if resource_type == "mlflow-tracking-server" else "mlflow-app"
    out = {
        "check_id": check_id,
        "title": meta["title"],
        "status": status,
        "severity": severity or meta["severity"],
        "account_id": account,
        "region": region,
        "resource_type": resource_type,
        "resource_name": name,
        "resource_arn": f"arn:aws:sagemaker:{region}:{account}:{kind}/{name}",
        "artifact_store_uri": f"s3://{bucket}/mlflow" if bucket else "not-a-uri",
        "bucket": bucket or None,
        "expected_owner": account,
        "actual_owner": actual_owner,
        "message": message or f"{meta['title']}: {status} for {name}.",
        "risk": meta["risk"],
        "evidence": evidence
        if evidence is not None
        else [
            {
                "call": "s3:HeadBucket",
                "as_account": account,
                "params": {"Bucket": bucket or "", "ExpectedBucketOwner": account},
                "answer": "200" if status == "PASS" else "404 NotFound",
                "conclusion": f"{account} owns the bucket"
                if status == "PASS"
                else "the bucket does not exist",
            }
        ],
        "remediation": {
            "command": command(name, region, account),
            "text": meta["fix"],
            "auto": True,
        },
        "muted_reason": None,
        "change": None,
    }
    out.update(extra)
    return out


def sample_doc() -> dict[str, Any]:
    """A small realistic run: every status, severity, resource type, error and remediation."""
    findings = [
        finding(
            "mlflow_artifact_bucket_exists",
            "FAIL",
            name="fraud-model-tracking",
            message="The artifact bucket fraud-model-artifacts does not exist: anyone can "
            "create it and receive this server's models.",
            bucket="fraud-model-artifacts",
            evidence=[
                {
                    "call": "s3:ListBuckets",
                    "as_account": PROD,
                    "params": {},
                    "answer": "not listed",
                    "conclusion": f"{PROD} does not own fraud-model-artifacts",
                },
                {
                    "call": "s3:HeadBucket",
                    "as_account": PROD,
                    "params": {"Bucket": "fraud-model-artifacts"},
                    "answer": "404 NotFound",
                    "conclusion": "the bucket does not exist",
                },
            ],
            change="new",
        ),
        finding(
            "mlflow_artifact_bucket_owner_trusted",
            "FAIL",
            name="ranking-tracking",
            account=DATA,
            region="eu-west-1",
            bucket="ranking-shared-artifacts",
            actual_owner=STRANGER,
            message=f"The artifact bucket ranking-shared-artifacts is owned by {STRANGER}, "
            "an account outside the trusted set.",
            evidence=[
                {
                    "call": "s3:HeadBucket",
                    "as_account": DATA,
                    "params": {
                        "Bucket": "ranking-shared-artifacts",
                        "ExpectedBucketOwner": STRANGER,
                    },
                    "answer": "200",
                    "conclusion": f"{STRANGER} owns the bucket",
                }
            ],
            change="unchanged",
        ),
        finding(
            "mlflow_s3_owner_verification_enabled",
            "FAIL",
            name="legacy-tracking",
            message="S3BucketOwnerVerification is absent on legacy-tracking.",
            change="unchanged",
        ),
        finding(
            "mlflow_s3_expected_owner_matches_bucket",
            "UNKNOWN",
            name="shared-tracking",
            account=DATA,
            region="eu-west-1",
            message="The owner of shared-bucket could not be proven (403 on HeadBucket).",
            bucket="shared-bucket",
            change="unchanged",
        ),
        finding(
            "mlflow_artifact_store_uri_valid",
            "FAIL",
            name="typo-app",
            resource_type="mlflow-app",
            bucket="",
            region="eu-west-1",
            message="The ArtifactStoreUri 'not-a-uri' does not name an S3 bucket.",
            change="new",
        ),
        finding(
            "mlflow_artifact_bucket_account_namespace",
            "MUTED",
            name="research-tracking",
            account=SANDBOX,
            muted_reason="Accepted until migration (JIRA SEC-42)",
            message="research-artifacts is in the shared global namespace.",
            change="unchanged",
        ),
        finding(
            "mlflow_artifact_bucket_account_namespace",
            "FAIL",
            name="info-tracking",
            severity="info",
            message="info-level advisory for info-tracking.",
            change="unchanged",
        ),
        finding("mlflow_s3_owner_verification_enabled", "PASS", name="fraud-model-tracking"),
        finding(
            "mlflow_s3_owner_verification_enabled",
            "PASS",
            name="ranking-tracking",
            account=DATA,
            region="eu-west-1",
        ),
        finding(
            "mlflow_artifact_bucket_exists",
            "PASS",
            name="research-tracking",
            account=SANDBOX,
            actual_owner=SANDBOX,
        ),
        finding(
            "mlflow_artifact_bucket_exists",
            "PASS",
            name="zeta-app",
            resource_type="mlflow-app",
            account=SANDBOX,
            region="eu-west-1",
            actual_owner=SANDBOX,
        ),
    ]
    errors = [
        {
            "account_id": BROKEN,
            "region": None,
            "operation": "sts:AssumeRole",
            "error_code": "AccessDenied",
            "message": f"User is not authorized to perform sts:AssumeRole on "
            f"arn:aws:iam::{BROKEN}:role/MlflowAuditRole",
        },
        {
            "account_id": DATA,
            "region": "us-east-1",
            "operation": "sagemaker:ListMlflowTrackingServers",
            "error_code": "AccessDeniedException",
            "message": "not authorized to perform sagemaker:ListMlflowTrackingServers",
        },
    ]
    before = {"S3BucketOwnerVerification": None, "S3BucketOwnerAccountId": None}
    remediations = [
        {
            "account_id": PROD,
            "region": "us-east-1",
            "resource_name": "legacy-tracking",
            "resource_arn": f"arn:aws:sagemaker:us-east-1:{PROD}:tracking-server/legacy-tracking",
            "status": "verified",
            "reason": "bucket owner proven and trusted: pin it",
            "before": before,
            "after": {"S3BucketOwnerVerification": True, "S3BucketOwnerAccountId": PROD},
            "command": command("legacy-tracking", "us-east-1"),
            "error": None,
            "attempts": 1,
        },
        {
            "account_id": PROD,
            "region": "us-east-1",
            "resource_name": "fraud-model-tracking",
            "resource_arn": f"arn:aws:sagemaker:us-east-1:{PROD}:tracking-server/fraud-model-tracking",
            "status": "applied",
            "reason": "bucket missing: pin the server's own account",
            "before": {"S3BucketOwnerVerification": False, "S3BucketOwnerAccountId": None},
            "after": {"S3BucketOwnerVerification": True, "S3BucketOwnerAccountId": PROD},
            "command": command("fraud-model-tracking", "us-east-1"),
            "error": None,
            "attempts": 1,
        },
        {
            "account_id": DATA,
            "region": "eu-west-1",
            "resource_name": "ranking-tracking",
            "resource_arn": f"arn:aws:sagemaker:eu-west-1:{DATA}:tracking-server/ranking-tracking",
            "status": "planned",
            "reason": "dry run: bucket owned by an untrusted account",
            "before": before,
            "after": {"S3BucketOwnerVerification": True, "S3BucketOwnerAccountId": DATA},
            "command": command("ranking-tracking", "eu-west-1", DATA),
            "error": None,
            "attempts": 0,
        },
        {
            "account_id": DATA,
            "region": "eu-west-1",
            "resource_name": "shared-tracking",
            "resource_arn": f"arn:aws:sagemaker:eu-west-1:{DATA}:tracking-server/shared-tracking",
            "status": "skipped",
            "reason": "owner unknown: not enough evidence to pin an owner",
            "before": before,
            "after": before,
            "command": "",
            "error": None,
            "attempts": 0,
        },
        {
            "account_id": SANDBOX,
            "region": "us-east-1",
            "resource_name": "research-tracking",
            "resource_arn": f"arn:aws:sagemaker:us-east-1:{SANDBOX}:tracking-server/research-tracking",
            "status": "failed",
            "reason": "bucket owner proven and trusted: pin it",
            "before": before,
            "after": before,
            "command": command("research-tracking", "us-east-1", SANDBOX),
            "error": {"code": "ConflictException", "message": "Server is Updating"},
            "attempts": 3,
        },
    ]
    return {
        "schema_version": "1.0",
        "run": {
            "id": "2026-11-27T15-40-02Z-3f9c1a",
            "started_at": "2026-11-27T15:40:02Z",
            "finished_at": "2026-11-27T15:40:09Z",
            "tool_version": "0.1.0",
            "accounts": [
                {"account_id": PROD, "name": "prod", "access": "caller", "status": "scanned"},
                {"account_id": DATA, "name": "data", "access": "assume-role", "status": "scanned"},
                {
                    "account_id": SANDBOX,
                    "name": "sandbox",
                    "access": "assume-role",
                    "status": "scanned",
                },
                {
                    "account_id": BROKEN,
                    "name": "broken",
                    "access": "assume-role",
                    "status": "error",
                },
            ],
            "regions": REGIONS,
            "scopes": [
                {"account_id": PROD, "region": "eu-west-1", "status": "scanned", "resources": 0},
                {"account_id": PROD, "region": "us-east-1", "status": "scanned", "resources": 3},
                {"account_id": DATA, "region": "eu-west-1", "status": "scanned", "resources": 2},
                {"account_id": DATA, "region": "us-east-1", "status": "error", "resources": 0},
                {"account_id": SANDBOX, "region": "us-east-1", "status": "scanned", "resources": 1},
            ],
            "trusted_accounts": [PROD, DATA, SANDBOX],
            "fail_on": "high",
            "shard": None,
            "complete": False,
        },
        "summary": {
            "total": len(findings),
            "by_status": {"PASS": 4, "FAIL": 5, "UNKNOWN": 1, "MUTED": 1},
            "fail_by_severity": {"critical": 2, "high": 1, "medium": 1, "low": 0, "info": 1},
            "resources": 7,
            "errors": len(errors),
            "exit_code": 1,
            "verdict": "FAIL",
        },
        "findings": findings,
        "errors": errors,
        "remediations": remediations,
        "history": {
            "previous_run_id": "2026-11-26T15-40-02Z-aaaaaa",
            "new": 2,
            "resolved": [
                finding(
                    "mlflow_artifact_bucket_exists",
                    "FAIL",
                    name="old-tracking",
                    message="old-tracking's bucket was missing (now fixed).",
                )
            ],
        },
    }


def injected_doc() -> dict[str, Any]:
    """sample_doc() with attacker-controlled markup in every string that AWS returns."""
    doc = copy.deepcopy(sample_doc())
    evil = " ".join(PAYLOADS)
    for i, f in enumerate(doc["findings"]):
        p = PAYLOADS[i % len(PAYLOADS)]
        f["resource_name"] = f"evil{i}-{p}"
        f["artifact_store_uri"] = f"s3://{p}/x"
        f["bucket"] = p
        f["message"] = f"msg {evil}"
        f["muted_reason"] = evil if f["status"] == "MUTED" else None
        f["evidence"] = [
            {
                "call": "s3:HeadBucket",
                "as_account": PROD,
                "params": {"Bucket": p, p: p},
                "answer": p,
                "conclusion": evil,
            }
        ]
        f["remediation"]["command"] = f"aws sagemaker update {evil}"
    doc["run"]["accounts"][0]["name"] = evil
    for e in doc["errors"]:
        e["message"] = evil
        e["error_code"] = PAYLOADS[0]
    for r in doc["remediations"]:
        r["resource_name"] = evil
        r["reason"] = evil
    doc["history"]["resolved"][0]["resource_name"] = evil
    return doc


def big_doc(n: int, *, seed: int = 7, fail_ratio: float = 0.1) -> dict[str, Any]:
    """A synthetic org-scale run with ``n`` findings (about ``fail_ratio`` not passing)."""
    rnd = random.Random(seed)
    accounts = [f"{100000000000 + i * 7919:012d}" for i in range(max(1, n // 200))]
    regions = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
    checks = list(CHECKS)
    findings = []
    for i in range(n):
        account = accounts[i % len(accounts)]
        region = regions[(i // len(accounts)) % len(regions)]
        check = checks[i % len(checks)]
        r = rnd.random()
        status = (
            "FAIL"
            if r < fail_ratio * 0.7
            else "UNKNOWN"
            if r < fail_ratio * 0.9
            else "MUTED"
            if r < fail_ratio
            else "PASS"
        )
        findings.append(
            finding(
                check,
                status,
                name=f"server-{i:06d}",
                account=account,
                region=region,
                muted_reason="waiver SEC-1" if status == "MUTED" else None,
            )
        )
    order = {"FAIL": 0, "UNKNOWN": 1, "MUTED": 2, "PASS": 3}
    sev = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    findings.sort(key=lambda f: (order[f["status"]], sev[f["severity"]]))
    by_status = {s: sum(f["status"] == s for f in findings) for s in order}
    return {
        "schema_version": "1.0",
        "run": {
            "id": f"bench-{n}",
            "started_at": "2026-11-27T15:40:02Z",
            "finished_at": "2026-11-27T15:52:09Z",
            "tool_version": "0.1.0",
            "accounts": [
                {"account_id": a, "name": f"acct-{j}", "access": "assume-role", "status": "scanned"}
                for j, a in enumerate(accounts)
            ],
            "regions": regions,
            "scopes": [
                {"account_id": a, "region": r, "status": "scanned", "resources": 1}
                for a in accounts
                for r in regions
            ],
            "trusted_accounts": accounts[:3],
            "fail_on": "high",
            "shard": None,
            "complete": True,
        },
        "summary": {
            "total": n,
            "by_status": by_status,
            "verdict": "FAIL" if by_status["FAIL"] else "PASS",
        },
        "findings": findings,
        "errors": [],
        "remediations": [],
    }
