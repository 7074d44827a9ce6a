"""An Organization-sized findings document (1,000 accounts x 17 regions by default) with
a history trend, for the report's first-screen tests and the benchmark."""

from __future__ import annotations

import random
from typing import Any

from report_docgen import CHECKS, finding  # the directory is on sys.path (conftest)

ORG_REGIONS = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
]


def org_doc(
    accounts: int = 1000,
    regions: int = 17,
    *,
    servers_per_account: int = 2,
    seed: int = 11,
    error_accounts: int = 6,
) -> dict[str, Any]:
    """An Organization-sized run: every account trusted, a few servers in each account
    spread over the regions, failures of every severity, a handful of unreadable scopes and
    accounts, and a history (``history.trend``) of earlier nights."""
    rnd = random.Random(seed)
    ids = [f"{200000000000 + i * 104729:012d}" for i in range(accounts)]
    regs = ORG_REGIONS[:regions]
    broken = set(ids[-error_accounts:]) if error_accounts else set()
    findings: list[dict[str, Any]] = []
    scopes: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for n, acct in enumerate(ids):
        if acct in broken and n % 2:
            errors.append(
                {
                    "account_id": acct,
                    "region": None,
                    "operation": "sts:AssumeRole",
                    "error_code": "AccessDenied",
                    "message": f"not authorized to assume arn:aws:iam::{acct}:role/Audit",
                }
            )
            continue
        homes = {regs[(n + k * 7) % len(regs)] for k in range(servers_per_account)}
        for region in regs:
            if acct in broken and region == regs[n % len(regs)]:
                scopes.append({"account_id": acct, "region": region, "status": "error"})
                errors.append(
                    {
                        "account_id": acct,
                        "region": region,
                        "operation": "sagemaker:ListMlflowTrackingServers",
                        "error_code": "AccessDeniedException",
                        "message": "not authorized",
                    }
                )
                continue
            scopes.append(
                {
                    "account_id": acct,
                    "region": region,
                    "status": "scanned",
                    "resources": int(region in homes),
                }
            )
        for region in sorted(homes):
            name = f"tracking-{n:04d}-{region}"
            # Most servers are healthy; the worst accounts have several criticals.
            bad = rnd.random()
            for check, meta in CHECKS.items():
                fail = (
                    bad < 0.06
                    or (bad < 0.25 and meta["severity"] in ("high", "medium", "low"))
                    or (bad < 0.6 and meta["severity"] == "low")
                )
                findings.append(
                    finding(
                        check,
                        "FAIL" if fail else "PASS",
                        name=name,
                        account=acct,
                        region=region,
                        change="new" if fail and rnd.random() < 0.05 else None,
                    )
                )
    order = {"FAIL": 0, "UNKNOWN": 1, "MUTED": 2, "PASS": 3}
    sev = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    findings.sort(key=lambda f: (order[f["status"]], sev[f["severity"]]))
    by_status = {s: sum(f["status"] == s for f in findings) for s in order}
    fails = {s: sum(f["status"] == "FAIL" and f["severity"] == s for f in findings) for s in sev}
    trend = []
    for night in range(14):
        scale = 1.6 - night * 0.045
        trend.append(
            {
                "run_id": f"2026-11-{10 + night:02d}T02-00-00Z-{night:06x}",
                "started_at": f"2026-11-{10 + night:02d}T02:00:00Z",
                "complete": night != 9,
                "fail_by_severity": {s: int(n * scale) for s, n in fails.items()},
                "new": rnd.randint(0, 40),
                "resolved": rnd.randint(0, 60),
            }
        )
    return {
        "schema_version": "1.2",
        "run": {
            "id": f"org-{accounts}x{regions}",
            "started_at": "2026-11-24T02:00:00Z",
            "finished_at": "2026-11-24T02:41:09Z",
            "tool_version": "0.1.0",
            "accounts": [
                {
                    "account_id": a,
                    "name": f"team-{j:04d}",
                    "access": "assume-role",
                    "status": "error" if a in broken and j % 2 else "scanned",
                }
                for j, a in enumerate(ids)
            ],
            "regions": regs,
            "scopes": scopes,
            "trusted_accounts": ids,
            "fail_on": "high",
            "shard": None,
            "complete": not errors,
        },
        "summary": {
            "total": len(findings),
            "by_status": by_status,
            "fail_by_severity": fails,
            "verdict": "FAIL" if by_status["FAIL"] else "PASS",
        },
        "findings": findings,
        "errors": errors,
        "remediations": [],
        "history": {
            "previous_run_id": trend[-1]["run_id"],
            "new": sum(f.get("change") == "new" for f in findings),
            "resolved": [],
            "trend": trend,
        },
    }
