"""One SNS message per run: the verdict and what a person on call needs to act on.

``build_message(doc)`` is pure; ``publish(doc, topic_arn, sns_client)`` sends it and returns
a result dict, never raising: a failed publish is a warning, the reports are already
written. The message is published with ``MessageStructure=json``:

- ``email`` (and ``email-json``): plain text, for people;
- ``default`` (https, SQS, Lambda, and AWS Chatbot, which subscribes over https): an AWS
  Chatbot *custom notification* (``{"version": "1.0", "source": "custom", "content": ...}``)
  whose ``metadata.additionalContext`` also carries the counts as data for programs.

Message attributes ``verdict`` and ``highest_severity`` (of the FAILs listed) let
subscriptions filter (e.g. page only on ``critical``). Everything fits SNS's limit of
262,144 bytes for the message and its attributes together (Publish API reference, "Message"
and MessageAttributeValue): long lists are cut to a count ("... and 312 more"). The subject
is ASCII, one line, under 100 characters (Publish API reference, "Subject").

AWS strings (names, messages) are data: control and bidirectional-override characters are
shown as ``\\uXXXX`` so they cannot reshape the text a person reads.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from auditor.aws.classify import error_code, error_message

SNS_MAX_BYTES = 262_144
SUBJECT_MAX = 99
_SEVERITIES = ("critical", "high", "medium", "low", "info")
_RANK = {s: len(_SEVERITIES) - i for i, s in enumerate(_SEVERITIES)}


def _safe(value: Any) -> str:
    """AWS text with control/format characters (bidi overrides, zero-width) made visible."""
    out = []
    for ch in str(value if value is not None else ""):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def _ascii(text: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)


def listed_failures(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """FAILs at or above ``--fail-on``, worst first; with ``--fail-on-new`` only the new ones.

    Without a usable history (``change`` null everywhere) ``--fail-on-new`` counts every FAIL
    as new, exactly as the exit code does (auditor.report.document.gate_on_new).
    """
    run = doc.get("run") or {}
    threshold = str(run.get("fail_on") or "high")
    floor = 0 if threshold == "none" else _RANK.get(threshold, _RANK["high"])
    fails = [
        f
        for f in doc.get("findings") or []
        if f.get("status") == "FAIL" and _RANK.get(str(f.get("severity")), 0) >= floor
    ]
    history = doc.get("history") or {}
    if run.get("fail_on_new") and history and not history.get("error"):
        fails = [f for f in fails if f.get("change") == "new"]
    return sorted(fails, key=lambda f: -_RANK.get(str(f.get("severity")), 0))


def unreadable_scopes(doc: dict[str, Any]) -> list[str]:
    lines = []
    for e in doc.get("errors") or []:
        where = f"{e.get('account_id')} {e.get('region') or '(all regions)'}"
        lines.append(_safe(f"{where}: {e.get('operation')} {e.get('error_code')}"))
    return lines


def _failure_line(f: dict[str, Any]) -> str:
    new = " [new]" if f.get("change") == "new" else ""
    return _safe(
        f"[{str(f.get('severity')).upper()}]{new} {f.get('check_id')} - {f.get('account_id')} "
        f"{f.get('region')} {f.get('resource_name')}: {f.get('message')}"
    )


def _section(title: str, lines: list[str], limit: int) -> list[str]:
    if not lines:
        return []
    shown = lines[:limit]
    more = len(lines) - len(shown)
    return [f"{title} ({len(lines)}):", *(f"  - {x}" for x in shown)] + (
        [f"  ... and {more} more (see the reports)"] if more > 0 else []
    )


def _texts(doc: dict[str, Any], report_location: str | None, limit: int) -> tuple[str, str]:
    run = doc.get("run") or {}
    summary = doc.get("summary") or {}
    verdict = str(summary.get("verdict") or "UNKNOWN")
    fails = listed_failures(doc)
    by_sev = summary.get("fail_by_severity") or {}
    counts = ", ".join(f"{s} {by_sev.get(s, 0)}" for s in _SEVERITIES)
    label = "New failures" if run.get("fail_on_new") else "Failures"
    waivers = [
        _safe(f"{w.get('check_id')} on {w.get('resource')} expired {w.get('expires')}")
        for w in run.get("expired_waivers") or []
    ]
    head = [
        f"mlflow-audit run {_safe(run.get('id'))}: {verdict} (exit {summary.get('exit_code')})",
        f"FAIL by severity: {counts}",
        f"Findings: {summary.get('total', 0)} over {summary.get('resources', 0)} resources; "
        f"scan {'complete' if run.get('complete') else 'INCOMPLETE'}",
    ]
    history = doc.get("history") or {}
    if history and not history.get("error"):
        head.append(
            f"Since the previous run: {history.get('new', 0)} new, "
            f"{len(history.get('resolved') or [])} resolved"
        )
    body = [
        *head,
        "",
        *_section(
            f"{label} at or above {run.get('fail_on', 'high')}",
            [_failure_line(f) for f in fails],
            limit,
        ),
        *_section("Expired waivers", waivers, limit),
        *_section("Scopes that could not be read", unreadable_scopes(doc), limit),
    ]
    if report_location:
        body += ["", f"Reports: {_safe(report_location)}"]
    return "\n".join(head), "\n".join(body)


def highest_severity(doc: dict[str, Any]) -> str:
    fails = listed_failures(doc)
    return str(fails[0].get("severity")) if fails else "none"


def build_message(
    doc: dict[str, Any], *, report_location: str | None = None, max_items: int = 50
) -> dict[str, Any]:
    """Keyword arguments for ``sns.publish`` (without ``TopicArn``), within SNS limits."""
    summary = doc.get("summary") or {}
    verdict = str(summary.get("verdict") or "UNKNOWN")
    top = highest_severity(doc)
    attributes = {
        "verdict": {"DataType": "String", "StringValue": verdict},
        "highest_severity": {"DataType": "String", "StringValue": top},
        "new_failures": {
            "DataType": "Number",
            "StringValue": str(sum(1 for f in listed_failures(doc) if f.get("change") == "new")),
        },
    }
    n_fail = (summary.get("by_status") or {}).get("FAIL", 0)
    subject = _ascii(f"mlflow-audit: {verdict}, {n_fail} FAIL (highest {top})")[:SUBJECT_MAX]
    limit = max(1, max_items)
    while True:
        short, text = _texts(doc, report_location, limit)
        chatbot = {
            "version": "1.0",
            "source": "custom",
            "content": {
                "textType": "client-markdown",
                "title": subject,
                "description": _texts(doc, report_location, min(limit, 10))[1],
            },
            "metadata": {
                "summary": short,
                "eventType": "mlflow-audit.run",
                "additionalContext": {
                    "verdict": verdict,
                    "highest_severity": top,
                    "fail_by_severity": json.dumps(summary.get("fail_by_severity") or {}),
                    "run_id": str((doc.get("run") or {}).get("id")),
                },
            },
        }
        message = json.dumps({"default": json.dumps(chatbot), "email": text, "email-json": text})
        size = len(message.encode("utf-8")) + sum(
            len(k) + len(v["DataType"]) + len(v["StringValue"]) for k, v in attributes.items()
        )
        if size <= SNS_MAX_BYTES or limit == 1:
            break
        limit = max(1, limit // 2)
    return {
        "Subject": subject,
        "Message": message,
        "MessageStructure": "json",
        "MessageAttributes": attributes,
    }


def publish(
    doc: dict[str, Any],
    topic_arn: str,
    sns_client: Any,
    *,
    report_location: str | None = None,
    max_items: int = 50,
) -> dict[str, Any]:
    """Publish the run summary; returns ``{"status": "published"|"failed", ...}``, never raises."""
    result: dict[str, Any] = {"topic_arn": topic_arn, "status": "failed", "message_id": None}
    try:
        kwargs = build_message(doc, report_location=report_location, max_items=max_items)
        answer = sns_client.publish(TopicArn=topic_arn, **kwargs)
    except Exception as exc:  # a notification must never lose the run
        result["error"] = {"code": error_code(exc), "message": error_message(exc)[:500]}
    else:
        result.update(status="published", message_id=answer.get("MessageId"))
        return result
    result["warning"] = (
        f"could not publish to {topic_arn}: {result['error']['code']} "
        f"({result['error']['message']}); the reports are written"
    )
    return result
