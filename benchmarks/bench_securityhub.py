"""Benchmark the Security Hub import: 10,000 findings, paced under the documented rate.

Usage:  .venv/bin/python benchmarks/bench_securityhub.py [--findings 10000] [--scopes 4]
                                                         [--rate 5] [--burst 5]

Builds ``--findings`` FAIL findings spread over ``--scopes`` account-regions, renders them
as ASFF (auditor.report.formats.asff) and imports them with
auditor.integrations.securityhub.import_findings
into the simulated Security Hub (moto + auditor.sim) with the documented rate limit
*enforced* by the sim: 10 BatchImportFindings per second per account per Region, burst 30
("Guidelines for using the BatchImportFindings API"). Prints wall time, calls, overall
calls per second, and each scope's peak calls in any one-second window against the
documented 10, and the number of throttled calls (0 when the pacing works).
``--product-clients`` imports through the product's own path instead of one plain boto3
client per scope: ``auditor.integrations.push.AccountClients`` over one ``ClientCache`` (shared
lean clients per region, each call signed with its account's bound credentials), as
``scan --security-hub`` does.
Not part of pytest: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auditor.integrations.securityhub import DOCUMENTED_BURST, DOCUMENTED_RATE, import_findings  # noqa: E402
from auditor.report.formats import asff  # noqa: E402
from auditor.sim import securityhub as sim_hub  # noqa: E402
from auditor.sim import simulated_aws  # noqa: E402


def document(n: int, scopes: list[tuple[str, str]]) -> dict:
    findings = []
    for i in range(n):
        account, region = scopes[i % len(scopes)]
        name = f"server-{i:05d}"
        arn = f"arn:aws:sagemaker:{region}:{account}:mlflow-tracking-server/{name}"
        findings.append(
            {
                "check_id": "mlflow_s3_owner_verification_enabled",
                "title": "Owner verification is enabled",
                "status": "FAIL",
                "severity": "high",
                "account_id": account,
                "region": region,
                "resource_type": "mlflow-tracking-server",
                "resource_name": name,
                "resource_arn": arn,
                "artifact_store_uri": f"s3://artifacts-{name}/mlflow",
                "bucket": f"artifacts-{name}",
                "expected_owner": account,
                "actual_owner": None,
                "message": f"{name} does not verify the owner of its artifact bucket.",
                "evidence": [],
                "remediation": {
                    "text": "Enable owner verification.",
                    "command": "aws ...",
                    "auto": True,
                },
                "muted_reason": None,
                "change": "new",
            }
        )
    return {
        "run": {
            "id": "bench",
            "started_at": "2026-12-01T02:00:00Z",
            "finished_at": "2026-12-01T02:05:00Z",
            "scopes": [],
        },
        "findings": findings,
    }


def peak_per_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, t in enumerate(stamps):
        while t - stamps[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def product_clients(sim, stamps, lock):
    """client_for through auditor.integrations.push.AccountClients, stamping each call."""
    import boto3
    from botocore.credentials import Credentials

    from auditor.aws.clients import ClientCache
    from auditor.integrations.push import AccountClients

    cache = ClientCache(boto3.Session(region_name="us-east-1"), pool_size=8)
    product = AccountClients(cache, lambda a: Credentials(*sim.credentials_for(a)))

    class Stamped:
        def __init__(self, scope):
            self.scope, self.client = scope, product(*scope)

        def batch_import_findings(self, **kwargs):
            with lock:
                stamps[self.scope].append(time.monotonic())
            return self.client.batch_import_findings(**kwargs)

    return lambda a, r: Stamped((a, r))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--findings", type=int, default=10_000)
    ap.add_argument("--scopes", type=int, default=4)
    ap.add_argument("--rate", type=float, default=5.0)
    ap.add_argument("--burst", type=int, default=5)
    ap.add_argument("--product-clients", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    regions = ["us-east-1", "eu-west-1"]
    scopes = [(f"{100000000000 + k:012d}", regions[k % 2]) for k in range(args.scopes)]
    records = asff.render(document(args.findings, scopes))
    stamps: dict[tuple[str, str], list[float]] = defaultdict(list)
    lock = threading.Lock()
    sim_hub.reset()
    with simulated_aws() as sim:
        clients = {}
        for account, region in scopes:
            client = sim.session_for(account, region).client("securityhub")
            client.enable_security_hub()

            def record(scope=(account, region), **_):
                with lock:
                    stamps[scope].append(time.monotonic())

            client.meta.events.register("before-call.securityhub.BatchImportFindings", record)
            clients[account, region] = client
        client_for = product_clients(sim, stamps, lock) if args.product_clients else None
        sim_hub.enforce_rate_limit(True, DOCUMENTED_RATE, DOCUMENTED_BURST)
        start = time.monotonic()
        result = import_findings(
            records,
            client_for or (lambda a, r: clients[a, r]),
            rate=args.rate,
            burst=args.burst,
        )
        wall = time.monotonic() - start
        throttled = sim_hub.throttled_count()
    sim_hub.reset()
    calls = result["calls"]
    print(f"findings        {args.findings} over {args.scopes} account-region(s)")
    print(f"imported        {result['imported']} (failed {result['failed']})")
    print(f"wall time       {wall:.2f} s")
    print(f"calls           {calls} BatchImportFindings ({args.findings / max(calls, 1):.0f}/call)")
    print(f"calls/s overall {calls / wall:.2f}")
    for scope, ts in sorted(stamps.items()):
        span = max(ts) - min(ts) if len(ts) > 1 else 0.0
        rate = (len(ts) - 1) / span if span else float(len(ts))
        print(
            f"  {scope[0]} {scope[1]}: {len(ts)} calls, {rate:.2f} calls/s sustained, "
            f"peak {peak_per_second(ts)} in 1 s (documented: {DOCUMENTED_RATE:.0f}/s, "
            f"burst {DOCUMENTED_BURST})"
        )
    print(f"throttled       {throttled} (sim enforces the documented limit)")
    if args.product_clients:
        print("clients         auditor.integrations.push.AccountClients over one ClientCache")


if __name__ == "__main__":
    main()
