"""Cold start: where the time of a tiny run goes (a Lambda event run pays it every time).

Usage::

    python benchmarks/bench_coldstart.py [--repeat N] [--latency-ms MS]

Starts the simulation (``python -m auditor.sim serve``, an empty organisation: the
caller's account with nothing in it), then measures in fresh processes, median of N:

- the interpreter floor (``python -c pass``) and ``mlflow-audit --version``;
- importing the heavy modules alone (boto3, pandas, jinja2, auditor.app.scan, ...);
- ``mlflow-audit scan`` of the empty account: every format + history (the default), and
  ``--format json --no-history`` (the least an event run must write);
- ``mlflow-audit event`` of a one-scope event with nothing in it (an MLflow event for a
  server that is not there: list the scope, evaluate nothing, write the JSON) and of a
  DeleteBucket no resource uses ("nothing to do" after listing the scope): the cold
  start of the Lambda (target: 1 s or less);
- one more scan with each phase timed in-process, exclusively (time inside an import is
  not also counted in the client construction that triggered it): imports, botocore
  client construction, service-model loading, HTTP requests (count and time), report
  writing, history, and the rest (our code, botocore request building, thread hand-off).

The figures go into docs/events.md. Nothing here changes how the product runs.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = (
    "boto3",
    "pandas",
    "jinja2",
    "yaml",
    "click",
    "auditor.cli",
    "auditor.app.scan",
    "auditor.events.parse",
    "auditor.history.s3",
)
LEAN = ("--format", "json", "--no-history")
TARGET_S = 1.0  # an empty event run in 1 s or less


CPU: dict[str, float] = {}  # label -> median CPU seconds (user+sys) of the process


def _median_run(argv: list[str], env: dict[str, str], repeat: int) -> float:
    """Median wall of ``repeat`` fresh processes; their median CPU goes into ``CPU`` (the
    process's own time: on a shared machine wall time also counts waiting for a core)."""
    times, cpus = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, _, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - start)
        cpus.append(usage.ru_utime + usage.ru_stime)
    CPU[" ".join(argv)] = statistics.median(cpus)
    return statistics.median(times)


def _serve(latency_ms: float) -> tuple[subprocess.Popen, dict]:
    argv = [sys.executable, "-m", "auditor.sim", "serve", "--port", "0"]
    if latency_ms:
        argv += ["--latency-ms", str(latency_ms)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        raise SystemExit("the simulation did not start")
    return proc, json.loads(line)


def _env(served: dict, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ENDPOINT_URL": served["endpoint_url"],
            "AWS_ACCESS_KEY_ID": served["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": served["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(home / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


# ----------------------------------------------------------------- in-process phases


def _inner(args: list[str]) -> None:
    """Run one CLI invocation with exclusive per-phase wall-clock accounting."""
    import builtins
    import threading
    from collections import defaultdict

    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    local = threading.local()

    def enter(name: str) -> None:
        stack = local.__dict__.setdefault("stack", [])
        stack.append([name, time.perf_counter(), 0.0])

    def leave() -> None:
        name, start, children = local.stack.pop()
        elapsed = time.perf_counter() - start
        totals[name] += elapsed - children
        counts[name] += 1
        if local.stack:
            local.stack[-1][2] += elapsed

    original_import = builtins.__import__

    def timed_import(*a, **k):
        stack = local.__dict__.setdefault("stack", [])
        if stack and stack[-1][0] == "imports":
            return original_import(*a, **k)
        enter("imports")
        try:
            return original_import(*a, **k)
        finally:
            leave()

    def wrap(owner, attr: str, name: str) -> None:
        fn = getattr(owner, attr)

        def timed(*a, **k):
            enter(name)
            try:
                return fn(*a, **k)
            finally:
                leave()

        setattr(owner, attr, timed)

    start = time.perf_counter()
    builtins.__import__ = timed_import
    import botocore.httpsession
    import botocore.loaders
    import botocore.session

    import auditor.app.scan
    import auditor.cli
    import auditor.history.database
    import auditor.report.outputs

    wrap(botocore.session.Session, "create_client", "client construction")
    wrap(botocore.loaders.Loader, "load_service_model", "service models")
    wrap(botocore.httpsession.URLLib3Session, "send", "HTTP requests")
    import auditor.app.finish
    import auditor.app.recording

    wrap(auditor.app.finish, "write_outputs", "report writing")
    # the history's transaction, the reports written inside it counted as report writing
    wrap(auditor.app.recording, "with_history", "history")
    code = 0
    try:
        auditor.cli.main(args, standalone_mode=False)
    except SystemExit as exc:
        code = int(exc.code or 0)
    builtins.__import__ = original_import
    wall = time.perf_counter() - start
    accounted = sum(totals.values())
    print(
        json.dumps(
            {
                "wall": wall,
                "exit": code,
                "phases": dict(totals),
                "counts": dict(counts),
                "other": wall - accounted,
            }
        )
    )


def _event_files(home: Path, account: str) -> tuple[Path, Path]:
    """A CreateMlflowTrackingServer event (EventBridge shape, tests/events/) for a server
    that does not exist, and a DeleteBucket of a bucket nobody uses, in ``account``."""
    fixtures = ROOT / "tests" / "events"
    create = json.loads((fixtures / "eventbridge_create_tracking_server.json").read_text())
    create["account"], create["region"] = account, "us-east-1"
    detail = create["detail"]
    detail.update(recipientAccountId=account, awsRegion="us-east-1")
    detail["responseElements"]["trackingServerArn"] = (
        f"arn:aws:sagemaker:us-east-1:{account}:mlflow-tracking-server/not-there"
    )
    delete = json.loads((fixtures / "eventbridge_delete_bucket.json").read_text())
    delete["account"], delete["region"] = account, "us-east-1"
    delete["detail"].update(recipientAccountId=account, awsRegion="us-east-1")
    paths = (home / "create.json", home / "delete.json")
    for path, event in zip(paths, (create, delete), strict=True):
        path.write_text(json.dumps(event))
    return paths


def _phases(
    env: dict[str, str],
    out: Path,
    formats: list[str],
    repeat: int,
    command: list[str] | None = None,
) -> dict:
    """Median, per phase, of ``repeat`` in-process timed runs (the machine may be shared)."""
    argv = [sys.executable, __file__, "--inner", "--"]
    argv += command or ["scan", "--output-dir", str(out), "--quiet", *formats]
    runs = []
    for _ in range(repeat):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
        try:
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        except (IndexError, ValueError):
            raise SystemExit(f"phase run failed: {proc.stderr.strip()[-500:]}") from None
    names = {name for run in runs for name in run["phases"]}
    return {
        "wall": statistics.median(r["wall"] for r in runs),
        "exit": runs[-1]["exit"],
        "other": statistics.median(r["other"] for r in runs),
        "phases": {n: statistics.median(r["phases"].get(n, 0.0) for r in runs) for n in names},
        "counts": runs[-1]["counts"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.inner:
        _inner(ns.rest)
        return

    py = sys.executable
    proc, served = _serve(ns.latency_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            env = _env(served, home)
            # The trimmed models, prebuilt as in the Lambda zip (docs/events.md, "Build").
            models = home / "models"
            subprocess.run([py, "-m", "auditor.aws.models", str(models)], env=env, cwd=ROOT,
                           capture_output=True, check=False)  # fmt: skip
            env["MLFLOW_AUDIT_MODEL_CACHE"] = str(models)
            (home / "no-cache").write_text("")  # a file: no copy can be read or written
            bare = {**env, "MLFLOW_AUDIT_MODEL_CACHE": str(home / "no-cache")}
            rows: list[tuple[str, float]] = [
                ("python -c pass", _median_run([py, "-c", "pass"], env, ns.repeat)),
                (
                    "mlflow-audit --version",
                    _median_run([py, "-m", "auditor", "--version"], env, ns.repeat),
                ),
            ]
            for mod in IMPORTS:
                rows.append(
                    (f"import {mod}", _median_run([py, "-c", f"import {mod}"], env, ns.repeat))
                )
            scan = [py, "-m", "auditor", "scan", "--quiet", "--output-dir"]
            rows.append(
                (
                    "scan, empty account, all formats + history",
                    _median_run([*scan, str(home / "a")], env, ns.repeat),
                )
            )
            lean = [*scan, str(home / "b"), "--format", "json", "--no-history"]
            rows.append(
                ("scan, empty account, json only, no history", _median_run(lean, env, ns.repeat))
            )
            one = [*lean, "--region", "us-east-1"]  # what an event re-checks: one region
            rows.append(("  same, one region (an event's scope)", _median_run(one, env, ns.repeat)))
            create, delete = _event_files(home, served["management_account_id"])
            event = [py, "-m", "auditor", "event", "--quiet"]
            rows.append(("event, one empty scope, JSON on stdout", _median_run(
                [*event, str(create)], env, ns.repeat)))  # fmt: skip
            rows.append(("event, unused bucket (nothing to do)", _median_run(
                [*event, str(delete)], env, ns.repeat)))  # fmt: skip
            event_s = list(CPU.values())[-2]  # our own time: CPU of the process (prebuilt)
            rows.append(("event, one empty scope, models parsed live", _median_run(
                [*event, str(create), "--no-history"], bare, ns.repeat)))  # fmt: skip
            print(
                f"cold start, median of {ns.repeat} fresh processes (latency {ns.latency_ms:g} ms):"
            )
            print(f"  {'':<46} {'wall':>8} {'CPU':>8}")
            for (label, seconds), cpu in zip(rows, CPU.values(), strict=True):
                print(f"  {label:<46} {seconds:6.2f} s {cpu:6.2f} s")
            for label, formats in (
                ("all formats + history", []),
                ("json only, no history", ["--format", "json", "--no-history"]),
                ("json only, no history, one region", [*LEAN, "--region", "us-east-1"]),
                ("event, one empty scope", ["event", "--quiet", str(create)]),
            ):
                command = list(formats) if formats[:1] == ["event"] else None
                out = home / f"p-{len(formats)}"
                result = _phases(env, out, list(formats), ns.repeat, command)
                print(f"phases, empty scan ({label}): median exclusive wall s, summed over threads")
                for name, seconds in sorted(result["phases"].items(), key=lambda kv: -kv[1]):
                    n = result["counts"][name]
                    print(f"  {name:<24} {seconds:6.3f} s  ({n} calls)")
                print(f"  {'other':<24} {result['other']:6.3f} s")
                total = result["wall"]
                print(f"  {'total (after startup)':<24} {total:6.3f} s  exit {result['exit']}")
            verdict = "meets" if event_s <= TARGET_S else "misses"
            print(f"empty event run {event_s:.2f} s CPU {verdict} the {TARGET_S:g} s target")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
