"""``mlflow-audit merge``: combine the findings.json of several shards into one run.

An organisation too large for one machine is scanned as ``--shard K/N`` jobs on any
scheduler; merging their outputs gives the same document a single scan would have
written (findings, errors, coverage, remediations, summary and exit code).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from auditor.core.errors import ConfigError
from auditor.report.document import make_document, make_run, new_run_id


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _same_everywhere(
    docs: Sequence[dict[str, Any]], sources: Sequence[str], key: str, what: str, refuse: bool
) -> str | None:
    """ConfigError (or, with ``refuse=False``, a warning returned) when the shards differ
    in ``run[key]``: their verdicts would not be comparable."""
    values = {
        json.dumps(sorted(v) if isinstance(v, list) else v): s
        for d, s in zip(docs, sources, strict=True)
        for v in [d["run"].get(key)]
    }
    if len(values) <= 1:
        return None
    message = (
        f"the inputs were made with different {what} ("
        + "; ".join(f"{s}: {v}" for v, s in values.items())
        + ")"
    )
    if refuse:
        raise ConfigError(message + ": re-run the shards with the same options")
    return f"warning: {message}"


def merge_warnings(docs: Sequence[dict[str, Any]], sources: Sequence[str]) -> list[str]:
    """One line each: shards scanned with different policy files (by path)."""
    warning = _same_everywhere(docs, sources, "policy", "policy files", refuse=False)
    return [warning] if warning else []


def merge_documents(
    docs: Sequence[dict[str, Any]], sources: Sequence[str], fail_on: str | None = None
) -> dict[str, Any]:
    """One findings document from shard documents; ConfigError when they do not fit."""
    if not docs:
        raise ConfigError("merge needs at least one findings.json")
    by_id: dict[str, str] = {}
    for doc, source in zip(docs, sources, strict=True):
        run_id = str(doc["run"].get("id"))
        if run_id in by_id:
            raise ConfigError(
                f"{source} is the same run ({run_id}) as {by_id[run_id]}: "
                "list each shard's findings.json once"
            )
        by_id[run_id] = source
    _same_everywhere(docs, sources, "trusted_accounts", "trusted accounts", refuse=True)
    seen: dict[str, str] = {}
    for doc, source in zip(docs, sources, strict=True):
        for account in doc["run"].get("accounts", []):
            other = seen.setdefault(account["account_id"], source)
            if other != source:
                raise ConfigError(
                    f"account {account['account_id']} is in both {other} and "
                    f"{source}: merge shards of one scan, not overlapping runs"
                )
    fail_ons = {d["run"].get("fail_on", "high") for d in docs}
    if fail_on is None:
        if len(fail_ons) > 1:
            raise ConfigError(
                f"the inputs used different --fail-on ({', '.join(sorted(fail_ons))})"
                "; pass --fail-on to choose one"
            )
        fail_on = fail_ons.pop()
    shards = sorted({d["run"].get("shard") for d in docs if d["run"].get("shard")})
    if shards:
        totals = {s.split("/")[1] for s in shards}
        if len(totals) > 1:
            raise ConfigError(f"the inputs come from different shard counts ({shards})")

    findings = [f for d in docs for f in d["findings"]]
    errors = [e for d in docs for e in d.get("errors", [])]
    runs = [d["run"] for d in docs]
    started = min(_parse_time(r["started_at"]) for r in runs)
    complete = all(r.get("complete", False) for r in runs)
    missing_shards: list[str] = []
    if shards:
        n = int(shards[0].split("/")[1])
        have = {int(s.split("/")[0]) for s in shards}
        missing_shards = [f"{k}/{n}" for k in range(1, n + 1) if k not in have]
        if missing_shards:
            complete = False
    not_enabled: dict[str, list[str]] = {}
    for r in runs:
        not_enabled.update(r.get("regions_not_enabled") or {})
    run = make_run(
        run_id=new_run_id(started),
        started_at=min(r["started_at"] for r in runs),
        finished_at=max(r["finished_at"] for r in runs),
        caller_account_id=runs[0].get("caller_account_id"),
        accounts=sorted(
            (a for r in runs for a in r.get("accounts", [])), key=lambda a: a["account_id"]
        ),
        scopes=sorted(
            (s for r in runs for s in r.get("scopes", [])),
            key=lambda s: (s["account_id"], s["region"]),
        ),
        warnings=list(dict.fromkeys(w for r in runs for w in r.get("warnings") or [])),
        regions_not_enabled=not_enabled,
        trusted_accounts=sorted({t for r in runs for t in r.get("trusted_accounts", [])}),
        fail_on=fail_on,
        fail_on_new=any(r.get("fail_on_new", False) for r in runs),
        shard=None,
        policy=runs[0].get("policy"),
        expired_waivers=[w for r in runs for w in r.get("expired_waivers", [])],
        stats={},
        complete=complete,
        merged_from=[
            {"run_id": r["id"], "shard": r.get("shard"), "source": s}
            for r, s in zip(runs, sources, strict=True)
        ],
        missing_shards=missing_shards,
    )
    return make_document(
        run, findings, errors, [r for d in docs for r in d.get("remediations", [])]
    )
