"""Scale benchmark: `mlflow-audit scan --org` against a large organisation on loopback.

Usage::

    .venv/bin/python benchmarks/bench_scale.py                 # --main, --series, --sim-compare
    .venv/bin/python benchmarks/bench_scale.py --main --concurrency 32,64,128
    .venv/bin/python benchmarks/bench_scale.py --series --series-accounts 10,100,1000
    .venv/bin/python benchmarks/bench_scale.py --main --full-baseline   # sequential, ~10 min
    .venv/bin/python benchmarks/bench_scale.py --sim-compare            # fakeaws vs auditor.sim

Each measurement starts ``benchmarks/fakeaws.py`` (a light fake of the AWS calls a scan
makes, with injected latency and throttling) in its own process, then runs the real
console script ``mlflow-audit scan --org --quiet --format json`` in another process with a
clean AWS environment (``AWS_ENDPOINT_URL`` + the fake's management keys, empty config
files), and reports, from the same run:

* wall      - scanner process start to exit (interpreter start and report writing included)
* calls     - requests the fake answered (``/_stats`` delta), against the minimum a correct
              scan needs (computed by the fake from its data); ``over`` = made/min - 1.
              Throttled requests are counted in ``calls`` (each is retried).
* ideal     - max(longest dependency chain, ceil(min calls / concurrency)) x latency
* baseline  - the same scan with ``--concurrency 1``: measured on a 10-account org of the
              same shape, as seconds per call, and extrapolated by the call count (unless
              ``--full-baseline``); speedup = baseline / wall
* cpu       - the scanner's user+sys CPU seconds (``os.wait4``) and the fake's own CPU
              (``time.process_time()`` delta), to show the fake does not dominate
* rss       - the scanner's peak RSS (``ru_maxrss`` of that one child, via ``os.wait4``)

The series (default 10/100/1,000 accounts x 17 regions, 10 servers per account) is
written to benchmarks/out/scale_series.csv and plotted (PNG with matplotlib, else SVG).
Not part of pytest: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
FAKEAWS = HERE / "fakeaws.py"
SCANNER = Path(sys.executable).with_name("mlflow-audit")
PROFILE_WRAPPER = HERE / "profile_scan.py"


# ---------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------
class FakeServer:
    """benchmarks/fakeaws.py in a child process."""

    def __init__(
        self,
        accounts: int,
        regions: int,
        servers: int,
        latency_ms: float,
        throttle_rate: float,
        seed: int = 1,
        rate_limit: str = "",
        hot_scopes: int = 1,
    ) -> None:
        cmd = [
            sys.executable,
            str(FAKEAWS),
            "--accounts",
            str(accounts),
            "--regions",
            str(regions),
            "--servers",
            str(servers),
            "--latency-ms",
            str(latency_ms),
            "--throttle-rate",
            str(throttle_rate),
            "--seed",
            str(seed),
            "--port",
            "0",
            *(["--rate-limit", rate_limit] if rate_limit else []),
            *(["--hot-scopes", str(hot_scopes)] if hot_scopes != 1 else []),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("fakeaws did not start")
        self.info: dict[str, Any] = json.loads(line)
        self.url: str = self.info["endpoint_url"]
        self.expected: dict[str, Any] = self.info["expected"]

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_stats", timeout=10) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        req = urllib.request.Request(self.url + "/_reset", data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


PACKAGE_PATH: str | None = None  # --package-path: scan with another checkout of auditor/
USER_CONFIG = ""  # --user-config: the scanner's AWS config file (e.g. max_attempts = 4)
SCAN_ARGS: list[str] = []  # more scan options (e.g. --processes 2), from bench_cores.py


def clean_env(tmp: Path, server: FakeServer) -> dict[str, str]:
    """No profile, no config files, no metadata service: only the fake's keys."""
    (tmp / "aws_config").write_text(USER_CONFIG)
    (tmp / "aws_credentials").write_text("")
    extra = {"PYTHONPATH": PACKAGE_PATH} if PACKAGE_PATH else {}
    return {
        **extra,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "LANG": "C.UTF-8",
        "AWS_ENDPOINT_URL": server.url,
        "AWS_ACCESS_KEY_ID": server.info["access_key"],
        "AWS_SECRET_ACCESS_KEY": server.info["secret_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp / "aws_config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "aws_credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **s3control_env(server.url),
    }


# botocore addresses S3 Control as {AccountId}.{endpoint host} even under AWS_ENDPOINT_URL
# (its endpoint rule set: "{url#scheme}://{AccountId}.{url#authority}{url#path}"), and
# 200000000001.127.0.0.1 does not resolve. So S3 Control gets an endpoint under the
# reserved .invalid domain (RFC 2606: never resolves, nothing leaves the machine) and
# reaches the fake as an HTTP proxy; NO_PROXY keeps every other call direct.
S3CONTROL_ENDPOINT = "http://s3-control.fakeaws.invalid"


def s3control_env(url: str) -> dict[str, str]:
    """The variables that route the scanner's S3 Control calls to the fake at ``url``."""
    return {
        "AWS_ENDPOINT_URL_S3_CONTROL": S3CONTROL_ENDPOINT,
        "HTTP_PROXY": url,
        "http_proxy": url,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


@dataclass
class Run:
    accounts: int
    regions: int
    servers: int
    concurrency: int
    latency_ms: float
    throttle_rate: float
    calls: int = 0
    min_calls: int = 0
    throttled: int = 0
    wall_s: float = 0.0
    ideal_s: float = 0.0
    chain: int = 0
    baseline_s: float = 0.0
    baseline_note: str = ""
    scanner_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    rss_mb: float = 0.0
    exit_code: int = 0
    findings_ok: bool = False
    by_kind: dict[str, int] = field(default_factory=dict)
    min_by_kind: dict[str, int] = field(default_factory=dict)
    spans: dict[str, float] = field(default_factory=dict)  # service -> first to last call, s

    @property
    def over_pct(self) -> float:
        return 100.0 * (self.calls / self.min_calls - 1) if self.min_calls else 0.0

    @property
    def speedup(self) -> float:
        return self.baseline_s / self.wall_s if self.wall_s else 0.0

    @property
    def wall_over_ideal(self) -> float:
        return self.wall_s / self.ideal_s if self.ideal_s else 0.0


def check_findings(out_dir: Path, expected: dict[str, Any]) -> tuple[bool, str]:
    doc = json.loads((out_dir / "findings.json").read_text())
    fails = Counter(f["check_id"] for f in doc["findings"] if f["status"] == "FAIL")
    problems = []
    if doc["errors"]:
        problems.append(f"{len(doc['errors'])} scan errors, e.g. {doc['errors'][0]}")
    if doc["summary"]["resources"] != expected["resources"]:
        problems.append(f"resources {doc['summary']['resources']} != {expected['resources']}")
    if dict(sorted(fails.items())) != expected["fail_by_check"]:
        problems.append(f"FAIL by check {dict(fails)} != {expected['fail_by_check']}")
    # The integrity checks: PASS or FAIL for every resource whose bucket an audited
    # account owns (read as that owner), never UNKNOWN.
    known = Counter(
        f["check_id"]
        for f in doc["findings"]
        if f["check_id"] in expected.get("integrity_checks", ()) and f["status"] in ("PASS", "FAIL")
    )
    for check in expected.get("integrity_checks", ()):
        if known[check] != expected["integrity_known"]:
            problems.append(
                f"{check}: {known[check]} PASS/FAIL != {expected['integrity_known']} owned"
            )
    return not problems, "; ".join(problems)


def run_scan(
    server: FakeServer,
    concurrency: int,
    latency_ms: float,
    throttle_rate: float,
    accounts: int,
    regions: int,
    servers: int,
    profile_dir: Path | None = None,
    tracemalloc: bool = False,
    gc_stats: bool = False,
    prewarm: bool = False,
) -> Run:
    exp = server.expected
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as td:
        tmp = Path(td)
        env = clean_env(tmp, server)
        args = [
            "scan",
            "--org",
            "--quiet",
            "--format",
            "json",
            "--output-dir",
            str(tmp / "out"),
            "--concurrency",
            str(concurrency),
            *SCAN_ARGS,
        ]
        wrapped = profile_dir is not None or tracemalloc or gc_stats or prewarm
        if wrapped:
            cmd = [sys.executable, str(PROFILE_WRAPPER)]
            if profile_dir is not None:
                cmd += ["--cprofile", str(profile_dir)]
            if tracemalloc:
                cmd += ["--tracemalloc"]
            if gc_stats:
                cmd += ["--gc-stats"]
            if prewarm:
                cmd += ["--prewarm"]
            cmd += ["--", *args]
        else:
            cmd = [str(SCANNER), *args]
        server.reset()
        before = server.stats()
        log = (tmp / "scan.log").open("w")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(tmp))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4
        log.close()
        after = server.stats()
        code = proc.returncode
        if code not in (0, 1):
            sys.stderr.write((tmp / "scan.log").read_text()[-3000:])
            raise RuntimeError(f"scan exited {code}")
        ok, why = check_findings(tmp / "out", exp)
        if not ok:
            print(f"WARNING: findings differ from the expected ones: {why}", file=sys.stderr)
        if wrapped:
            print((tmp / "scan.log").read_text(), file=sys.stderr)
    lat = latency_ms / 1000.0
    return Run(
        accounts=accounts,
        regions=regions,
        servers=servers,
        concurrency=concurrency,
        latency_ms=latency_ms,
        throttle_rate=throttle_rate,
        calls=after["total"],
        min_calls=exp["min_total"],
        throttled=after["throttled"],
        wall_s=wall,
        chain=exp["chain_length"],
        ideal_s=max(exp["chain_length"] * lat, math.ceil(exp["min_total"] / concurrency) * lat),
        scanner_cpu_s=usage.ru_utime + usage.ru_stime,
        server_cpu_s=after["cpu_s"] - before["cpu_s"],
        rss_mb=usage.ru_maxrss / 1024.0,
        exit_code=code,
        findings_ok=ok,
        by_kind=after["by_kind"],
        min_by_kind=exp["calls"],
        spans=after.get("span_s", {}),
    )


def measure(
    accounts: int,
    regions: int,
    servers: int,
    concurrency: int,
    latency_ms: float,
    throttle_rate: float,
    seed: int = 1,
    **kw: Any,
) -> Run:
    with FakeServer(accounts, regions, servers, latency_ms, throttle_rate, seed) as server:
        return run_scan(
            server, concurrency, latency_ms, throttle_rate, accounts, regions, servers, **kw
        )


# ---------------------------------------------------------------------------------------
# baseline, table, series outputs
# ---------------------------------------------------------------------------------------
@dataclass
class Baseline:
    run: Run
    full: bool = False

    @property
    def s_per_call(self) -> float:
        return self.run.wall_s / self.run.calls

    def apply(self, r: Run) -> None:
        same = (self.run.accounts, self.run.servers) == (r.accounts, r.servers)
        if same and (self.full or self.run.regions == r.regions):
            r.baseline_s = self.run.wall_s
            r.baseline_note = "measured"
        else:
            r.baseline_s = self.s_per_call * r.calls
            r.baseline_note = (
                f"extrapolated: {self.s_per_call * 1000:.1f} ms/call measured "
                f"sequentially on {self.run.accounts} accounts x {r.calls} calls"
            )


def sequential_baseline(
    accounts: int, regions: int, servers: int, latency_ms: float, throttle_rate: float
) -> Baseline:
    print(
        f"# sequential baseline: {accounts} accounts x {regions} regions, {servers} servers, "
        "--concurrency 1",
        file=sys.stderr,
        flush=True,
    )
    return Baseline(measure(accounts, regions, servers, 1, latency_ms, throttle_rate))


HEADER = (
    "accounts",
    "regions",
    "servers",
    "conc",
    "calls made/min",
    "over%",
    "throttled",
    "wall s",
    "ideal s",
    "wall/ideal",
    "baseline s",
    "speedup",
    "scan CPU s",
    "server CPU s",
    "peak RSS MB",
)


def table(runs: list[Run]) -> str:
    rows = [HEADER]
    for r in runs:
        rows.append(
            (
                str(r.accounts),
                str(r.regions),
                str(r.servers),
                str(r.concurrency),
                f"{r.calls}/{r.min_calls}",
                f"{r.over_pct:+.1f}",
                str(r.throttled),
                f"{r.wall_s:.1f}",
                f"{r.ideal_s:.2f}",
                f"{r.wall_over_ideal:.2f}",
                f"{r.baseline_s:.0f}",
                f"{r.speedup:.1f}x",
                f"{r.scanner_cpu_s:.1f}",
                f"{r.server_cpu_s:.1f}",
                f"{r.rss_mb:.0f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def calls_table(r: Run) -> str:
    kinds = sorted(set(r.by_kind) | set(r.min_by_kind))
    width = max(len(k) for k in kinds)
    lines = [f"{'API calls by kind':<{width}}  {'made':>7}  {'minimum':>7}"]
    for k in kinds:
        lines.append(f"{k:<{width}}  {r.by_kind.get(k, 0):>7}  {r.min_by_kind.get(k, 0):>7}")
    lines.append(
        f"{'total':<{width}}  {r.calls:>7}  {r.min_calls:>7}  ({r.throttled} throttled and retried)"
    )
    return "\n".join(lines)


def write_csv(runs: list[Run], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = [k for k in asdict(runs[0]) if k not in ("by_kind", "min_by_kind", "spans")]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*keys, "over_pct", "wall_over_ideal", "speedup", "wall_s_per_account"])
        for r in runs:
            d = asdict(r)
            w.writerow(
                [d[k] for k in keys]
                + [
                    f"{r.over_pct:.2f}",
                    f"{r.wall_over_ideal:.3f}",
                    f"{r.speedup:.2f}",
                    f"{r.wall_s / r.accounts:.4f}",
                ]
            )


def plot(runs: list[Run], stem: Path) -> Path:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        path = stem.with_suffix(".svg")
        path.write_text(svg_chart(runs))
        return path
    import matplotlib.pyplot as plt

    xs = [r.accounts for r in runs]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.loglog(xs, [r.wall_s for r in runs], "o-", label="wall")
    a1.loglog(xs, [r.ideal_s for r in runs], "s--", label="ideal (latency bound)")
    a1.loglog(xs, [r.baseline_s for r in runs], "^:", label="sequential baseline")
    a1.set_xlabel("accounts")
    a1.set_ylabel("seconds")
    a1.legend()
    a2.semilogx(xs, [r.rss_mb for r in runs], "o-")
    a2.axhline(300, color="red", linestyle="--")
    a2.set_xlabel("accounts")
    a2.set_ylabel("peak RSS MB")
    fig.tight_layout()
    path = stem.with_suffix(".png")
    fig.savefig(path)
    return path


def svg_chart(runs: list[Run]) -> str:
    """Two small log-x panels (time, peak RSS) drawn without any plotting library."""
    w, h, pad = 420, 300, 55
    xs = [math.log10(r.accounts) for r in runs]
    x0, x1 = min(xs) - 0.2, max(xs) + 0.2

    def panel(
        ox: int,
        title: str,
        series: list[tuple[str, str, list[float]]],
        log_y: bool,
        hline: float | None = None,
    ) -> list[str]:
        vals = [v for _, _, ys in series for v in ys if v > 0] + ([hline] if hline else [])
        tf = (lambda v: math.log10(max(v, 1e-3))) if log_y else (lambda v: v)
        y0, y1 = min(tf(v) for v in vals), max(tf(v) for v in vals)
        if log_y:
            y0, y1 = math.floor(y0), math.ceil(y1)
        else:
            y0, y1 = 0.0, y1 * 1.15
        y1 = y1 if y1 > y0 else y0 + 1

        def px(x: float) -> float:
            return ox + pad + (x - x0) / (x1 - x0) * (w - 2 * pad)

        def py(v: float) -> float:
            return h - pad - (tf(v) - y0) / (y1 - y0) * (h - 2 * pad)

        out = [
            f'<text x="{ox + w / 2}" y="20" text-anchor="middle" font-weight="bold">{title}</text>',
            f'<rect x="{ox + pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" '
            'fill="none" stroke="#999"/>',
        ]
        for r, x in zip(runs, xs, strict=True):
            out.append(
                f'<text x="{px(x)}" y="{h - pad + 16}" text-anchor="middle">{r.accounts}</text>'
            )
        ticks = (
            [10.0**e for e in range(int(y0), int(y1) + 1)]
            if log_y
            else [y1 * i / 4 for i in range(5)]
        )
        for t in ticks:
            out.append(f'<text x="{ox + pad - 5}" y="{py(t) + 4}" text-anchor="end">{t:g}</text>')
        out.append(
            f'<text x="{ox + w / 2}" y="{h - 12}" text-anchor="middle">accounts (log)</text>'
        )
        if hline:
            out.append(
                f'<line x1="{ox + pad}" x2="{ox + w - pad}" y1="{py(hline)}" '
                f'y2="{py(hline)}" stroke="red" stroke-dasharray="4"/>'
            )
        for i, (name, colour, ys) in enumerate(series):
            pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=True))
            out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
            out += [
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>'
                for x, y in zip(xs, ys, strict=True)
            ]
            out.append(
                f'<text x="{ox + pad + 6}" y="{pad + 16 + 15 * i}" fill="{colour}">{name}</text>'
            )
        return out

    parts = panel(
        0,
        "scan time (s, log)",
        [
            ("wall", "#1f77b4", [r.wall_s for r in runs]),
            ("ideal (latency bound)", "#2ca02c", [r.ideal_s for r in runs]),
            ("sequential baseline", "#d62728", [r.baseline_s for r in runs]),
        ],
        log_y=True,
    )
    parts += panel(
        w,
        "peak RSS (MB)",
        [("scanner", "#1f77b4", [r.rss_mb for r in runs])],
        log_y=False,
        hline=300,
    )
    body = "\n".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{h}" '
        f'font-family="sans-serif" font-size="11">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n'
    )


# ---------------------------------------------------------------------------------------
# fakeaws vs auditor.sim: server CPU per request
# ---------------------------------------------------------------------------------------
def proc_cpu_s(pid: int) -> float:
    """utime+stime of a process from /proc (psutil is not a dependency)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _time_requests(pid: int, url: str, key: str, secret: str, n: int) -> dict[str, float]:
    import boto3
    from botocore.config import Config

    session = boto3.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1"
    )
    cfg = Config(retries={"mode": "standard", "max_attempts": 1})
    sm = session.client("sagemaker", endpoint_url=url, config=cfg)
    s3 = session.client("s3", endpoint_url=url, config=cfg)
    sts = session.client("sts", endpoint_url=url, config=cfg)
    results = {}
    for name, call in (
        ("sagemaker:ListMlflowTrackingServers", lambda: sm.list_mlflow_tracking_servers()),
        ("s3:HeadBucket", lambda: _head(s3, "bench-no-such-bucket")),
        ("sts:GetCallerIdentity", lambda: sts.get_caller_identity()),
    ):
        call()  # warm up (lazy imports, connection)
        c0 = proc_cpu_s(pid)
        for _ in range(n):
            call()
        results[name] = (proc_cpu_s(pid) - c0) / n * 1000.0
    return results


def _head(s3: Any, bucket: str) -> None:
    from botocore.exceptions import ClientError

    with contextlib.suppress(ClientError):
        s3.head_bucket(Bucket=bucket)


def sim_compare(n: int) -> str:
    """Server CPU ms per request: auditor.sim (moto) vs fakeaws, same requests, no latency."""
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    sim = subprocess.Popen(
        [sys.executable, "-m", "auditor.sim", "serve", "--port", "0", "--demo"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(REPO),
        env=env,
    )
    try:
        assert sim.stdout is not None
        info = json.loads(sim.stdout.readline())
        sim_ms = _time_requests(
            sim.pid,
            info["endpoint_url"],
            info["aws_access_key_id"],
            info["aws_secret_access_key"],
            n,
        )
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=30)
    with FakeServer(10, 2, 100, 0.0, 0.0) as fake:
        fake_ms = _time_requests(
            fake.proc.pid, fake.url, fake.info["access_key"], fake.info["secret_key"], n
        )
    lines = [
        f"server CPU per request, {n} sequential requests each, no injected latency:",
        f"{'request':<38}{'auditor.sim ms':>15}{'fakeaws ms':>12}{'ratio':>8}",
    ]
    for k in sim_ms:
        ratio = sim_ms[k] / fake_ms[k] if fake_ms[k] else float("inf")
        lines.append(f"{k:<38}{sim_ms[k]:>15.2f}{fake_ms[k]:>12.3f}{ratio:>7.0f}x")
    s, f = sum(sim_ms.values()) / len(sim_ms), sum(fake_ms.values()) / len(fake_ms)
    lines.append(f"{'mean':<38}{s:>15.2f}{f:>12.3f}{s / f if f else 0:>7.0f}x")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# rate-limited mode
# ---------------------------------------------------------------------------------------
@dataclass
class Limited:
    rate: float  # 0: no limit
    burst: float
    wall_s: float
    expected: int
    found: int
    undescribed: int
    errors: int
    throttled: int
    calls: int
    busiest: int
    span_s: float = 0.0  # the busiest key's first to last successful call (the fake's clock)
    start_s: float = 0.0  # when the busiest key's first call succeeded, from scanner start

    @property
    def lost(self) -> int:
        """Listed resources without a verdict: absent from the findings, or UNKNOWN
        because their Describe failed."""
        return self.expected - self.found + self.undescribed

    @property
    def ideal_s(self) -> float:
        """The busiest scope's Describes beyond the burst, at the rate."""
        return max(0.0, self.busiest - self.burst) / self.rate if self.rate else 0.0


def limited_scan(
    accounts: int,
    regions: int,
    servers: int,
    conc: int,
    lat: float,
    rate: float,
    burst: float,
    hot_scopes: int = 1,
) -> Limited:
    spec = f"{rate:g}:{burst:g}" if rate else ""
    with (
        FakeServer(
            accounts, regions, servers, lat, 0.0, rate_limit=spec, hot_scopes=hot_scopes
        ) as server,
        tempfile.TemporaryDirectory(prefix="bench-limited-") as td,
    ):
        tmp = Path(td)
        env = clean_env(tmp, server)
        cmd = [str(SCANNER), "scan", "--org", "--quiet", "--format", "json"]
        cmd += ["--output-dir", str(tmp / "out"), "--concurrency", str(conc)]
        t0 = time.perf_counter()
        m0 = time.monotonic()  # the fake's clock (CLOCK_MONOTONIC, shared by processes)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(tmp))
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 1, 3):
            sys.stderr.write(proc.stderr[-3000:])
            raise RuntimeError(f"scan exited {proc.returncode}")
        doc = json.loads((tmp / "out" / "findings.json").read_text())
        stats = server.stats()
    # Present in the findings but only as UNKNOWN because their Describe failed.
    undescribed = {
        f["resource_arn"]
        for f in doc["findings"]
        if "so nothing about this resource is known" in (f.get("message") or "")
    }
    return Limited(
        rate=rate,
        burst=burst,
        wall_s=wall,
        expected=server.expected["resources"],
        found=len({f["resource_arn"] for f in doc["findings"]}),
        undescribed=len(undescribed),
        errors=len(doc["errors"]),
        throttled=stats["throttled"],
        calls=stats["total"],
        busiest=server.expected["busiest_scope_servers"],
        span_s=stats.get("busiest", {}).get("span_s", 0.0),
        start_s=stats.get("busiest", {}).get("first", m0) - m0,
    )


def limited_table(rows: list[Limited]) -> str:
    """One row per rate; ``vs floor`` = wall / max(ideal, the same scan's wall without
    limits), since no pacing makes a scan faster than it is unthrottled."""
    free = next((r.wall_s for r in rows if not r.rate), 0.0)
    head = ("rate/s", "burst", "busiest scope", "resources", "lost", "errors", "throttled")
    head += ("calls", "wall s", "ideal s", "wall/ideal", "vs floor", "busiest start s")
    head += ("span s", "span/ideal")
    out = [head]
    for r in rows:
        out.append(
            (
                f"{r.rate:g}" if r.rate else "none",
                f"{r.burst:g}" if r.rate else "-",
                str(r.busiest),
                f"{r.found}/{r.expected}",
                str(r.lost),
                str(r.errors),
                str(r.throttled),
                str(r.calls),
                f"{r.wall_s:.1f}",
                f"{r.ideal_s:.1f}" if r.rate else "-",
                f"{r.wall_s / r.ideal_s:.2f}" if r.rate and r.ideal_s else "-",
                f"{r.wall_s / max(r.ideal_s, free):.2f}" if r.rate and free else "-",
                f"{r.start_s:.1f}" if r.rate else "-",
                f"{r.span_s:.1f}" if r.rate else "-",
                f"{r.span_s / r.ideal_s:.2f}" if r.rate and r.ideal_s else "-",
            )
        )
    widths = [max(len(row[i]) for row in out) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in out]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _floats(value: str) -> list[float]:
    return [float(v) for v in value.split(",") if v.strip()]


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--main", action="store_true", help="200 accounts x 17 regions, 2000 srv")
    ap.add_argument("--series", action="store_true", help="10/100/1000 accounts")
    ap.add_argument(
        "--sim-compare", action="store_true", help="server CPU per request: auditor.sim vs fakeaws"
    )
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--regions", type=int, default=17)
    ap.add_argument("--servers", type=int, default=2000)
    ap.add_argument("--series-accounts", type=_ints, default=[10, 100, 1000])
    ap.add_argument("--servers-per-account", type=int, default=10)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--throttle-rate", type=float, default=0.02)
    ap.add_argument(
        "--concurrency",
        type=_ints,
        default=[64],
        help="comma list; --main runs each, --series uses the first",
    )
    ap.add_argument("--baseline-accounts", type=int, default=10)
    ap.add_argument(
        "--full-baseline",
        action="store_true",
        help="measure the sequential scan at full size instead of extrapolating",
    )
    ap.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run the scanner under cProfile (every thread) and write DIR/*.prof",
    )
    ap.add_argument(
        "--tracemalloc",
        action="store_true",
        help="print the scanner's top allocations at the end of collection",
    )
    ap.add_argument(
        "--gc-stats", action="store_true", help="print the scanner's cyclic-GC collections and time"
    )
    ap.add_argument(
        "--prewarm",
        action="store_true",
        help="experiment: load the botocore models once before the scan starts "
        "(benchmarks/profile_scan.py), to measure the model-load race",
    )
    ap.add_argument("--requests", type=int, default=500, help="for --sim-compare")
    ap.add_argument(
        "--rate-limited",
        action="store_true",
        help="every SageMaker operation limited per (account, region) by a token bucket, "
        "at each of --rates, plus the same scan without limits",
    )
    ap.add_argument("--rates", type=_floats, default=[2.0, 5.0, 20.0])
    ap.add_argument("--burst", type=float, default=10.0)
    ap.add_argument(
        "--hot-scopes",
        type=int,
        default=1,
        help="scopes of 120 servers, each in its own account, all in one region",
    )
    ap.add_argument(
        "--user-config",
        default="",
        help="the scanner's AWS config file text, e.g. "
        "'[default]\\nretry_mode = standard\\nmax_attempts = 4\\n'",
    )
    ap.add_argument(
        "--package-path",
        metavar="DIR",
        help="PYTHONPATH for the scanner: measure another checkout (e.g. a "
        "`git archive` of a commit) with this benchmark",
    )
    args = ap.parse_args(argv)
    global PACKAGE_PATH, USER_CONFIG
    PACKAGE_PATH = args.package_path
    USER_CONFIG = args.user_config.replace("\\n", "\n")
    if args.rate_limited:
        conc = args.concurrency[0]
        print(
            f"## rate-limited: {args.accounts} accounts x {args.regions} regions, "
            f"{args.servers} servers ({args.hot_scopes} scope(s) of 120 in one region), "
            f"concurrency {conc}, {args.latency_ms:g} ms/request, "
            f"user config {USER_CONFIG.strip()!r}",
            flush=True,
        )
        rows = []
        for rate in [0.0, *args.rates]:
            r = limited_scan(
                args.accounts,
                args.regions,
                args.servers,
                conc,
                args.latency_ms,
                rate,
                args.burst,
                args.hot_scopes,
            )
            rows.append(r)
            print(f"# rate {rate:g}: {r.wall_s:.1f} s, lost {r.lost}", file=sys.stderr, flush=True)
        print(limited_table(rows), flush=True)
        return 0
    if not (args.main or args.series or args.sim_compare):
        args.main = args.series = args.sim_compare = True
    OUT.mkdir(parents=True, exist_ok=True)
    lat, thr = args.latency_ms, args.throttle_rate
    print(
        f"# scanner: {SCANNER}; latency {lat:g} ms/request, throttle rate {thr:g}; "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )

    if args.sim_compare:
        print(sim_compare(args.requests), flush=True)

    baseline: Baseline | None = None
    if args.main or args.series:
        ratio = args.servers // max(1, args.accounts) if args.main else args.servers_per_account
        ba = args.baseline_accounts
        baseline = sequential_baseline(ba, args.regions, ba * ratio, lat, thr)
        print(
            f"# sequential baseline (--concurrency 1): {baseline.run.accounts} accounts x "
            f"{baseline.run.regions} regions, {baseline.run.servers} servers: "
            f"{baseline.run.wall_s:.1f} s for {baseline.run.calls} calls = "
            f"{baseline.s_per_call * 1000:.1f} ms/call; larger baselines are extrapolated "
            "linearly by call count"
            + ("" if not args.full_baseline else " unless measured (--full-baseline)"),
            flush=True,
        )
        print(table([baseline.run]), flush=True)

    if args.main:
        assert baseline is not None
        if args.full_baseline:
            full = sequential_baseline(args.accounts, args.regions, args.servers, lat, thr)
            baseline = Baseline(full.run, full=True)
        runs = []
        for conc in args.concurrency:
            r = measure(
                args.accounts,
                args.regions,
                args.servers,
                conc,
                lat,
                thr,
                profile_dir=args.profile,
                tracemalloc=args.tracemalloc,
                gc_stats=args.gc_stats,
                prewarm=args.prewarm,
            )
            baseline.apply(r)
            runs.append(r)
            print(
                f"# main, concurrency {conc}: {r.wall_s:.1f} s, findings "
                f"{'as expected' if r.findings_ok else 'DIFFER'}",
                file=sys.stderr,
                flush=True,
            )
        print(
            f"\n## main: {args.accounts} accounts x {args.regions} regions, {args.servers} servers"
        )
        print(table(runs))
        best = min(runs, key=lambda r: r.wall_s)
        print(
            f"\nbest concurrency: {best.concurrency}; baseline: {best.baseline_note}; "
            f"longest chain {best.chain} calls; findings "
            f"{'match' if best.findings_ok else 'DIFFER from'} the expected counts"
        )
        print(calls_table(best))
        print(role_cost(best))
        print(targets(best), flush=True)

    if args.series:
        assert baseline is not None
        conc = args.concurrency[0]
        runs = []
        for n in args.series_accounts:
            r = measure(n, args.regions, n * args.servers_per_account, conc, lat, thr)
            baseline.apply(r)
            runs.append(r)
            print(f"# series {n} accounts: {r.wall_s:.1f} s", file=sys.stderr, flush=True)
        print(
            f"\n## series: accounts x {args.regions} regions, {args.servers_per_account} "
            f"servers per account, concurrency {conc}"
        )
        print(table(runs))
        for a, b in itertools.pairwise(runs):
            print(
                f"{a.accounts} -> {b.accounts} accounts (x{b.accounts / a.accounts:g}): "
                f"wall x{b.wall_s / a.wall_s:.2f}, calls x{b.calls / a.calls:.2f}, "
                f"RSS x{b.rss_mb / a.rss_mb:.2f}"
            )
        csv_path = OUT / "scale_series.csv"
        write_csv(runs, csv_path)
        print(f"wrote {csv_path}\nwrote {plot(runs, OUT / 'scale_series')}", flush=True)
    return 0


def role_cost(r: Run) -> str:
    """What reading the execution roles adds to a run: its IAM calls (one read per
    distinct role, AWS managed policies read once) and the wall time of that stage (the
    fake's first IAM request to its last answer: the roles are read after the buckets,
    so the span is the time the stage adds)."""
    iam = {k: v for k, v in r.by_kind.items() if k.startswith("iam:")}
    made, minimum = (
        sum(iam.values()),
        sum(v for k, v in r.min_by_kind.items() if k.startswith("iam:")),
    )
    roles = r.min_by_kind.get("iam:GetRole", 0)  # one GetRole per distinct role
    span = r.spans.get("iam", 0.0)
    share = 100.0 * span / r.wall_s if r.wall_s else 0.0
    return (
        f"execution roles: {made} extra calls per run (minimum {minimum}; "
        f"{made / max(1, r.calls - made) * 100:.1f}% more calls, throttled retries included) "
        f"for {roles} distinct roles, "
        f"AmazonS3FullAccess read {r.by_kind.get('iam:GetPolicyVersion', 0)} time(s) "
        f"across accounts; the role stage took {span:.2f} s of the {r.wall_s:.1f} s wall "
        f"({share:.1f}%)"
    )


def targets(r: Run) -> str:
    def mark(ok: bool) -> str:
        return "MET " if ok else "MISSED"

    return "\n".join(
        [
            "targets:",
            f"  {mark(r.speedup >= 20)} >= 20x faster than sequential: {r.speedup:.1f}x",
            f"  {mark(r.over_pct <= 5)} calls within 5% of minimum: {r.calls} vs {r.min_calls} "
            f"({r.over_pct:+.1f}%, {r.throttled} throttled)",
            f"  {mark(r.wall_over_ideal <= 2)} within 2x of the latency-bound ideal: "
            f"{r.wall_s:.1f} s vs {r.ideal_s:.2f} s ({r.wall_over_ideal:.2f}x)",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
