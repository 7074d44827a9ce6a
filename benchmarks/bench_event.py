"""Event latency: from a CloudTrail event to a written finding (and a verified remediation).

Usage::

    .venv/bin/python benchmarks/bench_event.py [--accounts 200 --regions 17 --servers 2000]
        [--latency-ms 50] [--repeat 3]

Starts ``benchmarks/fakeaws.py`` (the scale benchmark's organisation: 200 accounts, 17
regions, 2,000 servers by default) with 50 ms added to every request, records the
history with one ``mlflow-audit scan --org`` (what the nightly scan leaves), then runs
``mlflow-audit event`` in a fresh process per event (what a Lambda cold start pays) for:

* ``update``: an ``UpdateMlflowTrackingServer`` of one server (one scope, one server);
* ``bucket``: a ``DeleteBucket`` of a central bucket of the management account that many
  servers in many accounts and regions use (every one re-checked, from the history);
* ``remediate``: a ``DeleteBucket`` of a bucket one server uses, with ``--remediate
  --yes``: the server is pinned and the pin verified before the process exits;

each with ``--org`` (every account inventoried, as the central function runs) and the
update also without it. Printed per case: wall (process start to exit: the finding is
written, the remediation verified), the process's own CPU (user+sys, ``os.wait4``: our
own time, the target is under 5 s), and the requests made (the fake's ``/_stats``).
Each repeat uses a new eventID (a repeated one is a duplicate delivery and is not
recorded). Not part of pytest: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIXTURES = ROOT / "tests" / "events"
TARGET_S = 5.0

sys.path.insert(0, str(HERE))
import fakeaws  # noqa: E402  (the benchmark's own module, beside this file)


def _start(args: argparse.Namespace) -> tuple[subprocess.Popen, dict[str, Any]]:
    cmd = [sys.executable, str(HERE / "fakeaws.py"), "--accounts", str(args.accounts)]
    cmd += ["--regions", str(args.regions), "--servers", str(args.servers)]
    cmd += ["--latency-ms", str(args.latency_ms), "--throttle-rate", "0", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        raise SystemExit("fakeaws did not start")
    return proc, json.loads(line)


def _env(served: dict[str, Any], home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_AUDIT_"))}
    env.update(
        AWS_ENDPOINT_URL=served["endpoint_url"],
        AWS_ACCESS_KEY_ID=served["access_key"],
        AWS_SECRET_ACCESS_KEY=served["secret_key"],
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def _calls(endpoint: str) -> int:
    with urllib.request.urlopen(f"{endpoint}/_stats", timeout=10) as reply:
        stats = json.loads(reply.read())
    return int(stats.get("total", sum(int(v) for v in stats.get("calls", {}).values())))


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    start = time.perf_counter()
    with open(cwd / "log.txt", "a") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def _update_event(server: fakeaws.Server, event_id: str) -> dict[str, Any]:
    record = json.loads((FIXTURES / "record_update_tracking_server.json").read_text())
    record.update(recipientAccountId=server.account, awsRegion=server.region, eventID=event_id)
    record["requestParameters"] = {"trackingServerName": server.name}
    record["responseElements"] = {"trackingServerArn": server.arn}
    return record


def _delete_event(account: str, region: str, bucket: str, event_id: str) -> dict[str, Any]:
    event = json.loads((FIXTURES / "eventbridge_delete_bucket.json").read_text())
    event["account"], event["region"] = account, region
    detail = event["detail"]
    detail.update(recipientAccountId=account, awsRegion=region, eventID=event_id)
    detail["requestParameters"]["bucketName"] = bucket
    return event


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--regions", type=int, default=17)
    ap.add_argument("--servers", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    org = fakeaws.build_org(args.accounts, args.regions, args.servers)
    servers = org.all_servers()
    one = next(s for s in servers if s.kind == "own" and not s.verification)
    central = org.servers and next(s for s in servers if s.kind == "central").bucket
    users = [s for s in servers if s.bucket == central]
    gone = [s for s in servers if s.kind == "missing" and s.pinned is None][: args.repeat]
    proc, served = _start(args)
    cli = [str(Path(sys.executable).with_name("mlflow-audit"))]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            env = _env(served, home)
            db = home / "history.sqlite"
            scan = [*cli, "scan", "--org", "--quiet", "--format", "json", "--history", str(db)]
            before = _calls(served["endpoint_url"])
            wall, cpu, code = _run([*scan, "--output-dir", str(home / "night")], env, home)
            print(
                f"fakeaws: {args.accounts} accounts x {args.regions} regions, "
                f"{len(servers)} servers, {args.latency_ms:g} ms per request"
            )
            print(
                f"history: scan --org {wall:.1f} s wall, {cpu:.1f} s CPU, "
                f"{_calls(served['endpoint_url']) - before} requests (exit {code})"
            )
            cases: list[tuple[str, list[str], Any]] = [
                ("update, one server, --org", ["--org"], lambda i: _update_event(one, f"u{i}")),
                ("update, one server, no --org", [], lambda i: _update_event(one, f"v{i}")),
                (
                    f"DeleteBucket of a bucket {len(users)} servers use, --org",
                    ["--org"],
                    lambda i: _delete_event(org.management, org.regions[0], central, f"b{i}"),
                ),
                (
                    "DeleteBucket under one server, --org --remediate --yes (verified)",
                    ["--org", "--remediate", "--yes"],
                    lambda i: _delete_event(
                        gone[i].account, gone[i].region, gone[i].bucket, f"r{i}"
                    ),
                ),
            ]
            print(f"event runs, fresh process each, median of {args.repeat}:")
            worst = 0.0
            for label, extra, make in cases:
                walls, cpus, calls, codes = [], [], [], []
                for i in range(args.repeat):
                    path = home / f"event-{len(walls)}-{label[:6]}.json"
                    path.write_text(json.dumps(make(i)))
                    out = home / f"out-{label[:6]}-{i}"
                    argv = [*cli, "event", "--quiet", "--history", str(db), *extra]
                    argv += ["--output-dir", str(out), "--format", "json", str(path)]
                    start_calls = _calls(served["endpoint_url"])
                    wall, cpu, code = _run(argv, env, home)
                    calls.append(_calls(served["endpoint_url"]) - start_calls)
                    doc = json.loads((out / "findings.json").read_text())
                    if "--remediate" in extra:
                        statuses = {r["status"] for r in doc["remediations"]}
                        if statuses != {"verified"}:
                            raise SystemExit(f"{label}: remediation {statuses}")
                    walls.append(wall)
                    cpus.append(cpu)
                    codes.append(code)
                    n = len({f["resource_arn"] for f in doc["findings"]})
                w, c = statistics.median(walls), statistics.median(cpus)
                worst = max(worst, c)
                print(
                    f"  {label:<66} wall {w:5.2f} s  CPU {c:5.2f} s  "
                    f"{statistics.median(calls):5.0f} requests  {n} resource(s)  exit {codes[-1]}"
                )
            verdict = "meets" if worst < TARGET_S else "misses"
            print(f"own time (CPU) per event at most {worst:.2f} s: {verdict} the {TARGET_S:g} s")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
