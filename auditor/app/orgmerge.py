"""The last step of the nightly organisation scan: merge the batches, record, push.

``merge_handler`` reads every batch's findings.json under the execution's prefix and
merges them (auditor.report.merge: duplicates and mixed runs are refused). A batch of
the plan with no document (it failed after its retries) is not left out silently: its
accounts enter the merged run as errors, so the run is incomplete (exit 3) and the
history carries their previous findings forward (auditor.history.database: a problem of
a scope that was not read is stored again as it was, neither resolved nor new).
Then, once: the history is recorded, the reports are written under ``report/``,
Security Hub receives each account's findings in that account, SNS one message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from auditor.app.orgscan import (
    REPORT_FOLDER,
    SHARDS_FOLDER,
    OrgScanConfig,
    orgscan_config,
    parse_shard,
    shard_folder,
    utc_now,
)
from auditor.app.results import S3Prefix, S3Results, parse_prefix
from auditor.aws.clients import ClientCache
from auditor.aws.credentials import caller_account_id, caller_credentials
from auditor.aws.session import make_session
from auditor.core.errors import ConfigError
from auditor.core.request import ScanRequest
from auditor.report.document import make_document, make_run
from auditor.report.merge import merge_documents, merge_warnings

FAILED_BATCH_OPERATION = "mlflow-audit scan (batch)"
REPORT_FORMATS = ("csv", "html", "json")


def failed_batch_document(
    batch: dict[str, Any],
    error: str,
    *,
    started_at: str,
    caller: str,
    like: dict[str, Any] | None,
    fail_on: str,
) -> dict[str, Any]:
    """The document of a batch that wrote none: every account of it an error.

    It has what merge compares (``shard``, ``trusted_accounts``, ``policy``, taken from a
    batch that did finish, ``like``) and no scope: nothing of these accounts was read.
    """
    shard = str(batch["shard"])
    accounts = [str(a) for a in batch.get("accounts") or []]
    message = (
        f"batch {shard} failed after its retries ({error}): this account was not scanned; "
        "its previous findings are carried forward in the history"
    )
    run = make_run(
        run_id=f"failed-batch-{shard.replace('/', '-of-')}-{started_at}",
        started_at=started_at,
        finished_at=utc_now(),
        caller_account_id=caller,
        accounts=[
            {"account_id": a, "name": None, "access": "assume-role", "status": "error"}
            for a in accounts
        ],
        scopes=[],
        warnings=[],
        regions_not_enabled={},
        trusted_accounts=list((like or {}).get("run", {}).get("trusted_accounts") or []),
        fail_on=fail_on,
        fail_on_new=False,
        shard=shard,
        policy=(like or {}).get("run", {}).get("policy"),
        expired_waivers=[],
        stats={},
        complete=False,
    )
    errors = [
        {
            "account_id": a,
            "region": None,
            "operation": FAILED_BATCH_OPERATION,
            "error_code": error,
            "message": message,
        }
        for a in accounts
    ]
    return make_document(run, [], errors, [])  # type: ignore[arg-type]


def batch_errors(outcomes: Any) -> dict[str, str]:
    """shard -> the error the state machine caught for it (``{"failed": true, ...}``)."""
    errors: dict[str, str] = {}
    for item in outcomes if isinstance(outcomes, list) else []:
        if isinstance(item, dict) and item.get("failed"):
            errors[str(item.get("shard"))] = str(item.get("error") or "States.TaskFailed")[:200]
    return errors


def collect_batches(
    store: S3Results,
    plan: dict[str, Any],
    outcomes: Any,
    caller: str,
    fail_on: str,
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(documents, their sources, the failed batches): one document per batch of the plan."""
    run = parse_prefix(str(plan["results"]))
    assert run is not None
    shards_prefix = run.child(SHARDS_FOLDER)
    keys = store.list_documents(shards_prefix)
    docs = [store.get_document(shards_prefix.bucket, key) for key in keys]
    sources = [f"s3://{shards_prefix.bucket}/{key}" for key in keys]
    present = {str(d["run"].get("shard")) for d in docs}
    caught = batch_errors(outcomes)
    like = docs[0] if docs else None
    failed: list[str] = []
    for batch in plan["batches"]:
        k, n = parse_shard(batch["shard"])
        shard = f"{k}/{n}"
        if shard in present:
            continue
        failed.append(shard)
        error = caught.get(shard, "NoDocument")
        docs.append(
            failed_batch_document(
                batch,
                error,
                started_at=str(plan["started_at"]),
                caller=caller,
                like=like,
                fail_on=fail_on,
            )
        )
        sources.append(f"{shard_folder(run, k, n)} (failed: {error})")
    return docs, sources, failed


def record_and_write(
    merged: dict[str, Any], config: OrgScanConfig, session: boto3.Session, report: S3Prefix
) -> list[str]:
    """Record the merged run in the history (as one ``scan --org`` of the same regions
    would be: the same scope key, so a manual scan and the nightly run share it) and
    write its reports inside the history's recording block (auditor.app.recording)."""
    from auditor.app.recording import scan_recorder, write_with_history

    request = ScanRequest(
        org=True,
        regions=config.regions,
        history_path=config.base.history,
        no_history=config.base.history is None,
        fail_on=config.fail_on,
        quiet=True,
    )
    store = S3Results(session)
    written: list[str] = []

    def write(history_ok: bool) -> list[Path]:
        written[:] = store.write_outputs(merged, report, REPORT_FORMATS)
        return []

    write_with_history(merged, request, Path(REPORT_FOLDER), write, session, scan_recorder(request))
    return written


def push(
    merged: dict[str, Any], config: OrgScanConfig, session: boto3.Session, report: S3Prefix
) -> None:
    """The pushes a scan makes (auditor.app.pushes.push_all): Security Hub with each
    account's findings in that account (as ``report --security-hub`` imports them, through
    the audit role), the one SNS message, the Security Lake source; failures are warnings
    in findings.json."""
    from auditor.app.documents import role_credentials
    from auditor.app.pushes import push_all

    base = config.base
    if not (base.security_hub or base.topic_arn or base.security_lake):
        return
    cache = ClientCache(session, pool_size=8)
    push_all(
        merged,
        cache,
        session,
        hub_credentials=(
            role_credentials(session, cache, base.role_name, base.external_id)
            if base.security_hub
            else None
        ),
        topic=base.topic_arn,
        lake=(base.security_lake, base.security_lake_role, base.security_lake_external_id),
        report_location=str(report),
    )
    S3Results(session).put_document(merged, report)


def merge_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """``event``: ``{"plan": <plan_handler's answer>, "batches": <the Map's results>}``.

    Returns the run's summary; ``complete`` is false when a batch failed or a scope could
    not be read (the state machine then ends in a failed state, so the alarm on failed
    executions fires, after the run was recorded and pushed).
    """
    if not isinstance(event, dict) or not isinstance(event.get("plan"), dict):
        raise ConfigError("the merge event is an object with the plan")
    config = orgscan_config()
    plan = event["plan"]
    run = parse_prefix(str(plan.get("results") or ""))
    if run is None or run.bucket != config.results.bucket:
        raise ConfigError(
            f"plan results {str(plan.get('results'))[:200]!r} not under {config.results}"
        )
    session = make_session(None)
    caller = caller_account_id(ClientCache(session, pool_size=1), caller_credentials(session))
    store = S3Results(session)
    docs, sources, failed = collect_batches(
        store, plan, event.get("batches"), caller, config.fail_on
    )
    merged = merge_documents(docs, sources, config.fail_on)
    for warning in merge_warnings(docs, sources):
        print(warning)
    report = run.child(REPORT_FOLDER)
    written = record_and_write(merged, config, session, report)
    push(merged, config, session, report)
    summary = merged["summary"]
    history = merged.get("history") or {}
    failed_accounts = sorted(
        a for b in plan["batches"] if b["shard"] in failed for a in b.get("accounts") or []
    )
    result = {
        "complete": bool(merged["run"]["complete"]),
        "exit_code": int(summary["exit_code"]),
        "verdict": summary.get("verdict"),
        "by_status": summary.get("by_status"),
        "failed_batches": failed,
        "failed_accounts": failed_accounts,
        "report": report.url("findings.json"),
        "written": written,
        "history": {k: history.get(k) for k in ("new", "unchanged", "carried_forward", "error")},
    }
    print(json.dumps({"mlflow_audit_merge": result}, default=str))
    return result
