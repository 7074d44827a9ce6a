"""Every core of one machine: a scan's accounts spread over worker processes.

The scanner spends CPU on every AWS call (signing, parsing), so one process is bound by
one core. ``scan --processes N`` splits the accounts to scan into N contiguous shares
of the sorted account list and runs the whole pipeline (auditor.app.pipeline.run_scan)
for each share in a forked worker, every other account inventoried only, as a
``--shard`` does: each worker sees the whole organisation's bucket ownership, so each
resource gets the verdict a single process gives it. Accounts, never scopes, are split,
so every (account, region, operation) is paced by one process only.

The parent merges the workers' results in account order, which is the single-process
order of accounts, scopes, resources, facts and findings; the history, the reports and
the pushes are then made once, from the merged result, as after a single-process scan.
Progress is the sum of the workers'; Ctrl-C interrupts every worker, each returns what
it has (as a single process does) and the merged run is the interrupted one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3

from auditor.app.pipeline import ScanInterrupted, Share, interrupted_before_accounts, run_scan
from auditor.aws.clients import ClientCache
from auditor.aws.credentials import CredentialFactory, caller_account_id, caller_credentials
from auditor.aws.pacing import Pacer
from auditor.collect.accounts import select_accounts
from auditor.collect.stage import Targets, region_warnings
from auditor.core.model import Account, Progress, ProgressSnapshot, ScanResult
from auditor.core.request import ScanRequest
from auditor.evaluate.engine import Rule
from auditor.evaluate.policy import Policy

if TYPE_CHECKING:  # imported when workers start: an event run's cold start never pays it
    from multiprocessing.connection import Connection

#: Stats that are counts over the run's calls: the merged run has the workers' sum.
_SUMMED = ("clients_built", "assume_role_calls", "throttled", "paced_deferrals")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's limit)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _served_in_process() -> bool:
    """AWS answered by moto inside this process (the demo, the tests): a forked worker
    would answer from its own copy, whose call record and faults the caller never sees."""
    stubber = getattr(sys.modules.get("moto.core.models"), "botocore_stubber", None)
    return bool(getattr(stubber, "enabled", False))


def process_count(request: ScanRequest, accounts: int | None = None) -> int:
    """How many processes scan ``accounts`` accounts: ``--processes``, else one per usable
    core (one when moto answers in-process), never more than the accounts. Forked
    workers need ``fork``: elsewhere (Windows, macOS's default) the scan is one process."""
    wanted = request.processes or (1 if _served_in_process() else usable_cores())
    if multiprocessing.get_start_method(allow_none=False) != "fork":
        wanted = 1
    return max(1, min(wanted, accounts if accounts is not None else wanted))


def shares(accounts: list[Account], n: int) -> list[frozenset[str]]:
    """``n`` contiguous, near-equal shares of the sorted accounts (in account order)."""
    ids = sorted(a.account_id for a in accounts)
    cuts = [len(ids) * i // n for i in range(n + 1)]
    return [frozenset(ids[cuts[i] : cuts[i + 1]]) for i in range(n) if cuts[i] < cuts[i + 1]]


def run_scan_processes(
    session: boto3.Session,
    request: ScanRequest,
    rules: list[Rule],
    policy: Policy,
    progress: Progress | None = None,
    targets: Targets | None = None,
) -> ScanResult:
    """run_scan over ``process_count`` processes (one: run_scan itself); the same result."""
    single = targets is not None or (not request.org and len(request.accounts) <= 1)
    if single or process_count(request) == 1:
        return run_scan(session, request, rules, policy, progress=progress, targets=targets)
    started = dt.datetime.now(dt.UTC)
    clients = ClientCache(session, pool_size=4, pacer=Pacer(budget_s=request.throttle_budget_s))
    caller: str | None = None
    try:
        caller_creds = caller_credentials(session)
        caller = caller_account_id(clients, caller_creds)
        selection = select_accounts(clients, caller_creds, caller, request)
    except KeyboardInterrupt:
        raise interrupted_before_accounts(caller, started) from None
    parts = shares(selection.scan, process_count(request, len(selection.scan)))
    if len(parts) <= 1:
        return run_scan(session, request, rules, policy, progress=progress)
    factory = CredentialFactory(
        clients, caller_creds, caller, request.role_name, request.external_id
    )
    work = [Share(part, caller, selection) for part in parts]
    outcomes = _run_workers(work, session, request, rules, policy, progress)
    for kind, _ in outcomes:
        if kind == "keyboard":
            raise KeyboardInterrupt
    for kind, payload in outcomes:
        if kind == "error":
            raise payload
    results = [payload for _, payload in outcomes]
    for result in results:
        for account in result.accounts:  # credentials do not cross processes
            if account.credentials is not None:
                account.credentials = factory.deferred_for(account)
    merged = merge_results(results, request)
    merged.stats["assume_role_calls"] += factory.assume_role_calls
    if any(kind == "interrupted" for kind, _ in outcomes):
        raise ScanInterrupted(merged)
    return merged


def merge_results(results: list[ScanResult], request: ScanRequest) -> ScanResult:
    """One ScanResult from the workers' (given in account order): what one process finds."""
    first = results[0]
    proofs: dict[str, Any] = {}
    for result in results:
        for bucket, proof in result.proofs.items():
            proofs.setdefault(bucket, proof)
    expired: dict[Any, dict[str, Any]] = {}
    for result in results:
        for waiver in result.expired_waivers:
            expired.setdefault(waiver.get("line"), waiver)
    accounts = [a for r in results for a in r.accounts]
    scopes = [s for r in results for s in r.scopes]
    errors = sorted(
        (e for r in results for e in r.errors),
        key=lambda e: (e.account_id or "", e.region or "", e.operation),
    )
    stats = {k: sum(r.stats.get(k, 0) for r in results) for k in first.stats}
    stats["buckets"] = len(proofs)
    merged = ScanResult(
        caller_account_id=first.caller_account_id,
        accounts=accounts,
        scopes=scopes,
        resources=[x for r in results for x in r.resources],
        proofs=proofs,
        facts=[f for r in results for f in r.facts],
        findings=[f for r in results for f in r.findings],
        errors=errors,
        expired_waivers=list(expired.values()),
        trusted_accounts=first.trusted_accounts,
        started_at=min(r.started_at for r in results),
        finished_at=dt.datetime.now(dt.UTC),
        stats=stats,
    )
    merged.warnings = region_warnings(list(request.regions), accounts, scopes)
    return merged


def _run_workers(
    parts: list[Share],
    session: boto3.Session,
    request: ScanRequest,
    rules: list[Rule],
    policy: Policy,
    progress: Progress | None,
) -> list[tuple[str, Any]]:
    """Start one forked worker per share; relay progress; forward Ctrl-C; their outcomes.

    A thread receives the workers' messages, so a Ctrl-C (raised in this, the main,
    thread) never lands in the middle of reading one.
    """
    context = multiprocessing.get_context("fork")
    today = dt.date.today()
    sys.stdout.flush()  # a forked child must not write the parent's buffered output again
    sys.stderr.flush()
    conns: list[Connection] = []
    procs = []
    for share in parts:
        here, there = context.Pipe(duplex=False)
        args = (there, session, request, rules, policy, share, today)
        proc = context.Process(target=_worker, args=args, daemon=True)
        proc.start()
        there.close()
        conns.append(here)
        procs.append(proc)
    inbox: queue.Queue[tuple[int, Any]] = queue.Queue()
    receiver = threading.Thread(target=_receive, args=(conns, inbox), daemon=True)
    receiver.start()
    outcomes: dict[int, tuple[str, Any]] = {}
    snapshots: dict[int, tuple[int, int, int, int]] = {}
    interrupted = False
    while len(outcomes) < len(parts):
        try:
            _take(inbox, procs, outcomes, snapshots, progress)
        except KeyboardInterrupt:
            if not interrupted:  # the terminal's Ctrl-C reached the workers too; a
                interrupted = True  # second one is ignored by each worker
                _interrupt(procs, outcomes)
    for proc in procs:
        proc.join()
    return [outcomes[i] for i in range(len(parts))]


def _take(
    inbox: queue.Queue[tuple[int, Any]],
    procs: list[Any],
    outcomes: dict[int, tuple[str, Any]],
    snapshots: dict[int, tuple[int, int, int, int]],
    progress: Progress | None,
) -> None:
    """Handle the next message of a worker, if one comes within a moment."""
    try:
        index, message = inbox.get(timeout=0.2)
    except queue.Empty:
        return
    if message is None:  # the worker is gone without an answer
        code = procs[index].exitcode
        outcomes.setdefault(index, ("error", RuntimeError(f"worker exited ({code})")))
    elif message[0] == "progress":
        snapshots[index] = message[1]
        if progress is not None:
            progress(ProgressSnapshot(*(sum(v) for v in zip(*snapshots.values(), strict=True))))
    else:
        outcomes[index] = message


def _interrupt(procs: list[Any], done: dict[int, Any]) -> None:
    for index, proc in enumerate(procs):
        if index not in done and proc.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)


def _receive(conns: list[Connection], inbox: queue.Queue[tuple[int, Any]]) -> None:
    """Every message of every worker, then ``None`` once each one's pipe closes."""
    from multiprocessing.connection import Connection, wait

    index_of = {id(c): i for i, c in enumerate(conns)}
    open_conns = list(conns)
    while open_conns:
        for conn in wait(open_conns):
            assert isinstance(conn, Connection)
            try:
                message = conn.recv()
            except (EOFError, OSError):
                open_conns.remove(conn)
                inbox.put((index_of[id(conn)], None))
                continue
            inbox.put((index_of[id(conn)], message))


def _first_interrupt_only() -> Callable[[int, Any], None]:
    """A worker's SIGINT handler: the first interrupts its scan, later ones (the terminal's
    and the parent's, or a second Ctrl-C) are ignored while it returns what it has."""
    seen = False

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal seen
        if not seen:
            seen = True
            raise KeyboardInterrupt

    return on_sigint


def _worker(
    conn: Connection,
    session: boto3.Session,
    request: ScanRequest,
    rules: list[Rule],
    policy: Policy,
    share: Share,
    today: dt.date,
) -> None:
    """One worker: run_scan of ``share``, its progress and its outcome sent to the parent."""
    signal.signal(signal.SIGINT, _first_interrupt_only())
    lock = threading.Lock()

    def relay(snapshot: ProgressSnapshot) -> None:
        counts = (snapshot.scopes_done, snapshot.scopes_total, snapshot.resources, snapshot.errors)
        with lock, contextlib.suppress(OSError):  # the parent gone: nobody to draw for
            conn.send(("progress", counts))

    outcome: tuple[str, Any]
    try:
        result = run_scan(session, request, rules, policy, relay, today, share=share)
        outcome = ("result", result)
    except ScanInterrupted as stop:
        outcome = ("interrupted", stop.result)
    except KeyboardInterrupt:
        outcome = ("keyboard", None)
    except Exception as exc:  # raised again by the parent, as a single process would
        outcome = ("error", exc)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the answer is sent whole
    if outcome[0] in ("result", "interrupted"):
        for account in outcome[1].accounts:  # credentials (locks, callbacks) stay here
            if account.credentials is not None:  # a mark: the parent can act as it
                account.credentials = True  # type: ignore[assignment]
    with lock:
        try:
            conn.send(outcome)
        except Exception as exc:  # an answer that cannot be pickled
            conn.send(("error", RuntimeError(f"worker answer not sent: {exc!r}")))
    conn.close()
