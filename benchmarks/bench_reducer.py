"""The nightly scan's reducer at organisation size: ``mlflow-audit merge`` over the shard
documents of a 5,000-account x 17-region Organization, as the Step Functions stack's merge
function runs it (deploy/orgscan.cfn.yaml).

Usage::

    .venv/bin/python benchmarks/bench_reducer.py [--accounts 5000] [--shards 50] \\
        [--servers-per-account 2] [--formats json,csv,html]

One generated Organization (the report tests' generator: every check, every severity, a
few unreadable scopes) is cut into ``--shards`` shard documents by the product's own
``shard_of``, written as the batches write them, then merged by the CLI in a child process.
Printed: the input and output sizes, the merge's wall time and its peak RSS (the child's
``ru_maxrss``), against the same merge of a 10x smaller Organization measured in the same
run. Not part of pytest: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "report")]

from org_docgen import org_doc  # noqa: E402

from auditor.collect.accounts import shard_of  # noqa: E402


def shard_documents(doc: dict[str, Any], shards: int) -> list[dict[str, Any]]:
    """The document cut as ``scan --org --shard K/N`` runs would have written it."""
    out = []
    for k in range(1, shards + 1):
        mine = {
            a["account_id"]
            for a in doc["run"]["accounts"]
            if shard_of(a["account_id"], shards) == k
        }
        run = copy.deepcopy(doc["run"])
        run.update(
            id=f"{doc['run']['id']}-{k:04d}",
            shard=f"{k}/{shards}",
            accounts=[a for a in doc["run"]["accounts"] if a["account_id"] in mine],
            scopes=[s for s in doc["run"]["scopes"] if s["account_id"] in mine],
        )
        shard = {key: value for key, value in doc.items() if key not in ("run", "history")}
        shard.update(
            run=run,
            findings=[f for f in doc["findings"] if f["account_id"] in mine],
            errors=[e for e in doc.get("errors", []) if e.get("account_id") in mine],
        )
        out.append(shard)
    return out


def merge_once(accounts: int, shards: int, servers: int, formats: str) -> dict[str, float]:
    doc = org_doc(accounts, 17, servers_per_account=servers)
    with tempfile.TemporaryDirectory(prefix="bench-reducer-") as tmp:
        paths = []
        size = 0
        for k, shard in enumerate(shard_documents(doc, shards), 1):
            path = Path(tmp) / f"shard-{k:04d}" / "findings.json"
            path.parent.mkdir()
            path.write_text(json.dumps(shard), encoding="utf-8")
            size += path.stat().st_size
            paths.append(str(path))
        out = Path(tmp) / "merged"
        argv = [sys.executable, "-m", "auditor", "merge", *paths, "--output-dir", str(out)]
        argv += ["--format", formats, "--quiet"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
        wall = time.perf_counter() - start
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode not in (0, 1, 3):
            raise SystemExit(f"merge failed ({proc.returncode}): {proc.stderr.strip()}")
        merged = json.loads((out / "findings.json").read_text(encoding="utf-8"))
        written = sum(p.stat().st_size for p in out.iterdir())
    return {
        "findings": len(merged["findings"]),
        "input_mb": size / 2**20,
        "output_mb": written / 2**20,
        "wall_s": wall,
        "peak_mb": max(peak_kb, before) / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=5000)
    ap.add_argument("--shards", type=int, default=50)
    ap.add_argument("--servers-per-account", type=int, default=2)
    ap.add_argument("--formats", default="json,csv,html")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    print(
        f"# merge of {args.shards} shard documents, 17 regions; load {load:.1f} on "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"{'accounts':>8}  {'findings':>9}  {'in MB':>7}  {'out MB':>7}  {'wall s':>7}  "
        f"{'peak RSS MB':>11}"
    )
    rows = []
    for accounts in (max(1, args.accounts // 10), args.accounts):
        # the small run first: its peak is the children's maximum so far
        r = merge_once(accounts, args.shards, args.servers_per_account, args.formats)
        rows.append(r)
        print(
            f"{accounts:>8}  {r['findings']:>9}  {r['input_mb']:>7.1f}  {r['output_mb']:>7.1f}"
            f"  {r['wall_s']:>7.1f}  {r['peak_mb']:>11.0f}"
        )
    small, big = rows
    print(
        f"ratios (10x the accounts): wall {big['wall_s'] / small['wall_s']:.1f}x, "
        f"peak RSS {big['peak_mb'] / small['peak_mb']:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
