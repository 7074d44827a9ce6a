"""One batch of the nightly organisation scan: its wall time, calls and CPU on the fake.

A batch is ``mlflow-audit scan --org --shard K/N`` (auditor.app.orgscan). It scans its own
accounts in every region and, to prove bucket owners, lists the buckets of every other
account of the Organization too (AssumeRole + ListBuckets each). This measures one batch
of ``--batch-size`` accounts (on average) in organisations of ``--org-accounts`` accounts,
17 regions, 10 servers per account, 50 ms latency, on benchmarks/fakeaws.py, so the
Step Functions stack can be sized from figures (docs/scale.md, "Running at organisation
scale")::

    .venv/bin/python benchmarks/bench_orgscan_batch.py --org-accounts 200,1000 --batch-size 25
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scale  # the benchmark's fake and clean environment

REPO = Path(__file__).resolve().parents[1]


def measure(org_accounts: int, batch_size: int, regions: int, latency_ms: float) -> dict:
    n = max(1, math.ceil(org_accounts / batch_size))
    with (
        bench_scale.FakeServer(
            org_accounts, regions, org_accounts * 10, latency_ms, throttle_rate=0.02
        ) as server,
        tempfile.TemporaryDirectory(prefix="bench-orgscan-") as td,
    ):
        tmp = Path(td)
        env = bench_scale.clean_env(tmp, server)
        env["PYTHONPATH"] = str(REPO)
        cmd = [str(bench_scale.SCANNER), "scan", "--org", "--shard", f"1/{n}", "--quiet"]
        cmd += ["--format", "json", "--no-history", "--fail-on", "none"]
        cmd += ["--output-dir", str(tmp / "out")]
        server.reset()
        before = server.stats()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, cwd=str(tmp))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        after = server.stats()
        code = os.waitstatus_to_exitcode(status)
        doc = json.loads((tmp / "out" / "findings.json").read_text())
    calls = after["total"] - before["total"]
    kinds = after["by_kind"]
    inventory = kinds.get("s3:ListBuckets", 0) + kinds.get("sts:AssumeRole", 0)
    return {
        "org": org_accounts,
        "batches": n,
        "batch_accounts": len(doc["run"]["accounts"]),
        "exit": code,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "calls": calls,
        "inventory_calls": inventory,
        "rss_mb": usage.ru_maxrss / 1024,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--org-accounts", default="200,1000")
    ap.add_argument("--batch-size", type=int, default=25)
    ap.add_argument("--regions", type=int, default=17)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    args = ap.parse_args()
    print(
        "org  batches  batch accounts  exit  wall s  CPU s  calls  of which AssumeRole+ListBuckets"
        "  CPU ms/call  peak RSS MB"
    )
    for org in (int(a) for a in args.org_accounts.split(",")):
        r = measure(org, args.batch_size, args.regions, args.latency_ms)
        print(
            f"{r['org']:>4}  {r['batches']:>7}  {r['batch_accounts']:>14}  {r['exit']:>4}  "
            f"{r['wall_s']:>6.1f}  {r['cpu_s']:>5.1f}  {r['calls']:>5}  "
            f"{r['inventory_calls']:>32}  "
            f"{1000 * r['cpu_s'] / max(1, r['calls']):>11.2f}  {r['rss_mb']:>11.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
