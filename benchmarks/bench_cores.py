"""Every core, and CPU per call: ratios measured back to back in one run.

Usage::

    .venv/bin/python benchmarks/bench_cores.py [--accounts 40] [--small 10] \\
        [--baseline /path/to/an/older/checkout] [--latency-ms 50]

On the scale benchmark's fake (``benchmarks/fakeaws.py``, through bench_scale.py):

* processes - the same ``scan --org`` with ``--processes 1`` and ``--processes 2``: wall,
  scanner CPU (the workers' included: ``os.wait4`` counts reaped descendants), speedup,
  and whether both wrote the expected findings;
* cpu/call  - the scanner's CPU per AWS call of this tree and of ``--baseline`` (an older
  checkout, run with its own ``PYTHONPATH``), one process each, as the *marginal* cost:
  (CPU at --accounts - CPU at --small) / (calls at --accounts - calls at --small), so the
  interpreter start, imports and model loading a run pays once are not counted per call.

The machine's load average is printed with each figure: other processes on the same
cores slow the two-process run most, so the two are measured ``--repeat`` times, in
turn, and the median ratio is the figure. The fake AWS runs on the same cores as the
scanner: the printed *ceiling* is the best ratio this machine allows, the one-process
wall over the time the two-process run's CPU (scanner and fake) needs on every core;
*machine busy* is the share of every core's time the whole machine was busy during a
run (all processes and the kernel's loopback traffic), near 100 % when nothing idles.
Not part of pytest: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scale

REPO = Path(__file__).resolve().parents[1]


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} CPUs"


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of every CPU since boot (Linux /proc/stat; else zeros)."""
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


#: How busy the whole machine was during the last scan (every process, the kernel's
#: loopback traffic included): 1.0 is every core busy throughout.
LAST_BUSY: list[float] = [0.0]


def scan(
    package: Path, accounts: int, latency_ms: float, extra: list[str], concurrency: int
) -> bench_scale.Run:
    """One ``scan --org`` of a fresh fake organisation with ``package`` on PYTHONPATH."""
    bench_scale.PACKAGE_PATH = str(package)
    bench_scale.SCAN_ARGS = extra
    servers = accounts * 10
    with bench_scale.FakeServer(accounts, 17, servers, latency_ms, 0.02) as server:
        busy0, total0 = _cpu_times()
        run = bench_scale.run_scan(server, concurrency, latency_ms, 0.02, accounts, 17, servers)
        busy1, total1 = _cpu_times()
    LAST_BUSY[0] = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    return run


def _policy(checks: str) -> list[str]:
    """``--config`` of a policy file that disables ``checks`` (none: no option)."""
    ids = [c.strip() for c in checks.split(",") if c.strip()]
    if not ids:
        return []
    path = Path(tempfile.mkdtemp(prefix="bench-cores-")) / "policy.yaml"
    path.write_text("checks:\n" + "".join(f"  {c}:\n    enabled: false\n" for c in ids))
    return ["--config", str(path)]


def per_call(small: bench_scale.Run, big: bench_scale.Run) -> float:
    """Marginal scanner CPU per call (ms), start-up costs cancelled out."""
    return (big.scanner_cpu_s - small.scanner_cpu_s) / max(1, big.calls - small.calls) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=40)
    ap.add_argument("--small", type=int, default=10)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--baseline", type=Path, help="an older checkout, for CPU per call before")
    ap.add_argument(
        "--without-checks",
        default="",
        help="comma list of check ids this tree leaves disabled in the CPU-per-call runs "
        "(a policy file), so it makes the calls of a baseline that predates them",
    )
    ap.add_argument("--skip-processes", action="store_true")
    ap.add_argument("--repeat", type=int, default=2, help="pairs of 1- and 2-process runs")
    args = ap.parse_args(argv)
    if args.baseline and not (args.baseline / "auditor" / "__init__.py").is_file():
        ap.error(f"--baseline {args.baseline}: no auditor/ package there")
    lat, conc = args.latency_ms, args.concurrency
    if not args.skip_processes:
        print(f"## --processes 2 vs 1: {args.accounts} accounts x 17 regions, {lat:g} ms")
        ratios, ceilings = [], []
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
        for _ in range(max(1, args.repeat)):
            runs = {}
            for n in (1, 2):
                r = scan(REPO, args.accounts, lat, ["--processes", str(n)], conc)
                runs[n] = r
                print(
                    f"processes {n}: wall {r.wall_s:6.2f} s  cpu {r.scanner_cpu_s:6.2f} s  "
                    f"fake {r.server_cpu_s:5.2f} s  calls {r.calls}  "
                    f"findings {'ok' if r.findings_ok else 'DIFFER'}  machine busy "
                    f"{LAST_BUSY[0]:.0%}  ({_load()})",
                    flush=True,
                )
            two = runs[2]
            floor = max((two.scanner_cpu_s + two.server_cpu_s) / cores, runs[1].wall_s / 2)
            ratios.append(runs[1].wall_s / two.wall_s)
            ceilings.append(runs[1].wall_s / floor)
            print(f"  speedup {ratios[-1]:.2f}x (ceiling on this machine {ceilings[-1]:.2f}x)")
        print(
            f"speedup --processes 2 / 1: median {statistics.median(ratios):.2f}x of "
            f"{len(ratios)} pairs (goal >= 1.7x on 2 idle cores; ceiling here "
            f"{statistics.median(ceilings):.2f}x: the fake AWS shares the cores)"
        )
    print(f"## CPU per call (marginal, {args.small} -> {args.accounts} accounts, 1 process)")
    trees = [("this tree", REPO, ["--processes", "1", *_policy(args.without_checks)])]
    if args.baseline:
        trees.insert(0, ("baseline", args.baseline, []))
    figures = {}
    for name, tree, extra in trees:
        small = scan(tree, args.small, lat, extra, conc)
        big = scan(tree, args.accounts, lat, extra, conc)
        figures[name] = per_call(small, big)
        print(
            f"{name:9s}: {figures[name]:.2f} ms/call  (whole run {big.scanner_cpu_s:.2f} s "
            f"for {big.calls} calls = {big.scanner_cpu_s / big.calls * 1000:.2f} ms/call; "
            f"{_load()})",
            flush=True,
        )
    if "baseline" in figures:
        ratio = figures["baseline"] / figures["this tree"]
        print(f"CPU per call, baseline / this tree: {ratio:.2f}x (goal: <= 1.5 ms/call)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
