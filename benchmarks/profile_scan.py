"""Run ``mlflow-audit`` under cProfile in *every* thread, timing each thread's CPU.

Usage::

    python benchmarks/profile_scan.py [--cprofile DIR] [--tracemalloc] [--gc-stats] [--prewarm] \\
        -- scan --org ...

Writes DIR/scan.prof (all threads merged) and prints the top functions by cumulative and
by own time; with ``--tracemalloc`` prints the peak traced memory and the top allocation
sites (file:line) when collection ends (the end of ``auditor.app.pipeline.run_scan``); with
``--gc-stats`` the number and duration of cyclic-GC collections per generation; with
``--prewarm`` (an experiment) the service models are loaded once before the scan starts.
bench_scale.py --profile/--tracemalloc uses it.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import io
import pstats
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _install_thread_profiling() -> None:
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile(time.thread_time)
        with _lock:
            _profiles.append(prof)
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()

    threading.Thread.run = run  # type: ignore[method-assign]


def _report(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for p in _profiles:
        p.disable()
    stats: pstats.Stats | None = None
    for p in _profiles:
        p.create_stats()
        if not p.stats:  # type: ignore[attr-defined]
            continue
        if stats is None:
            stats = pstats.Stats(p)
        else:
            stats.add(p)
    if stats is None:
        return
    stats.dump_stats(out_dir / "scan.prof")
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(str(out_dir / "scan.prof"), stream=buf).sort_stats(key).print_stats(30)
        (out_dir / f"top_{key}.txt").write_text(buf.getvalue())
        print(buf.getvalue(), file=sys.stderr)


def _install_tracemalloc() -> None:
    import auditor.app.pipeline as scan

    tracemalloc.start(8)
    original = scan.run_scan

    def run_scan(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        current, peak = tracemalloc.get_traced_memory()
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        print(
            f"tracemalloc at end of run_scan: current {current / 2**20:.1f} MB, "
            f"peak {peak / 2**20:.1f} MB",
            file=sys.stderr,
        )
        for stat in snap.statistics("lineno")[:25]:
            print(
                f"  {stat.size / 2**20:8.2f} MB {stat.count:8d}  {stat.traceback[0]}",
                file=sys.stderr,
            )
        return result

    scan.run_scan = run_scan
    import auditor.app.scan as runner

    runner.run_scan = run_scan


def _install_gc_stats() -> None:
    """Time the cyclic garbage collector (gc.callbacks) and report it at exit."""
    import gc

    totals = {"collections": [0, 0, 0], "seconds": [0.0, 0.0, 0.0], "collected": 0}
    started: list[float] = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        gen = info["generation"]
        totals["collections"][gen] += 1
        totals["seconds"][gen] += time.perf_counter() - started[0]
        totals["collected"] += info["collected"]

    gc.callbacks.append(callback)

    def report() -> None:
        print(
            f"gc: collections by generation {totals['collections']}, seconds "
            f"{[round(x, 2) for x in totals['seconds']]}, objects collected "
            f"{totals['collected']}",
            file=sys.stderr,
        )

    atexit.register(report)


def _prewarm() -> None:
    """Experiment (not the product): load every model once, single-threaded, before the scan.

    botocore's loader cache is not locked, so when the pool's workers first build a client
    of a service they each parse its full model; this fills the process-wide lean loader
    first, to measure what that race costs.
    """
    import boto3
    import botocore.session

    from auditor.aws.models import OPERATIONS, use_lean_models

    bc = botocore.session.get_session()
    use_lean_models(bc)
    session = boto3.Session(
        botocore_session=bc,
        region_name="us-east-1",
        aws_access_key_id="prewarm",
        aws_secret_access_key="prewarm",
    )
    for service in OPERATIONS:
        client = session.client(service)
        for op in client.meta.method_to_api_mapping:
            if client.can_paginate(op):
                client.get_paginator(op)


def main() -> int:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    ap = argparse.ArgumentParser()
    ap.add_argument("--cprofile", type=Path)
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--gc-stats", action="store_true")
    ap.add_argument("--prewarm", action="store_true")
    args = ap.parse_args(argv[:split])
    if args.prewarm:
        _prewarm()
    if args.gc_stats:
        _install_gc_stats()
    if args.tracemalloc:
        _install_tracemalloc()
    main_prof = None
    if args.cprofile:
        _install_thread_profiling()
        main_prof = cProfile.Profile(time.thread_time)
        _profiles.append(main_prof)
        atexit.register(_report, args.cprofile)
        main_prof.enable()
    from auditor.cli import main as cli_main

    try:
        cli_main(argv[split + 1 :], prog_name="mlflow-audit")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:
        code = 0
    if main_prof is not None:
        main_prof.disable()
    return code


if __name__ == "__main__":
    sys.exit(main())
