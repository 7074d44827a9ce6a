"""The AWS Config custom rule's answer: re-checked findings as ``PutEvaluations`` entries.

One evaluation per tracking server Config asked about (or, for a periodic run, per
tracking server the re-check found in the account and region):

- ``NON_COMPLIANT`` when any check at or above the rule's severity threshold FAILs;
- ``COMPLIANT`` when every such check PASSes (a waived one, MUTED, counts as passing:
  the waiver is the policy's decision);
- ``NOT_APPLICABLE`` for a deleted resource, one that left the rule's scope, or one of
  another type (as AWS's sample rule functions answer);
- otherwise (a check UNKNOWN, or no result at all) the verdict is ``INSUFFICIENT_DATA``,
  which is **not sent**: Config "does not accept INSUFFICIENT_DATA as the value for
  ComplianceType from a PutEvaluations request" (Evaluation data type,
  https://docs.aws.amazon.com/config/latest/APIReference/API_Evaluation.html). Such a
  resource keeps Config's previous result (or none, which Config itself shows as
  INSUFFICIENT_DATA); it is reported in the result's ``withheld`` list.

Each annotation (at most 256 characters, the Evaluation type's limit) names the worst
failing check. ``PutEvaluations`` takes at most 100 evaluations per call and the
invocation's ``ResultToken`` (PutEvaluations API reference,
https://docs.aws.amazon.com/config/latest/APIReference/API_PutEvaluations.html); entries
Config returns in ``FailedEvaluations`` are reported, not retried.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from auditor.core.model import TRACKING_SERVER, Severity
from auditor.events.config import MLFLOW_TRACKING_SERVER, ConfigInvocation, ConfigResource

MAX_EVALUATIONS_PER_CALL = 100
MAX_ANNOTATION = 256
DEFAULT_THRESHOLD = "low"
#: ruleParameters key of the severity threshold (the rule's InputParameters).
THRESHOLD_PARAMETER = "severity"
COMPLIANT = "COMPLIANT"
NON_COMPLIANT = "NON_COMPLIANT"
NOT_APPLICABLE = "NOT_APPLICABLE"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


@dataclass(frozen=True, slots=True)
class Verdict:
    compliance_type: str
    annotation: str


def _annotation(text: str) -> str:
    text = " ".join(text.split())  # one line, whatever AWS strings it quotes
    return text if len(text) <= MAX_ANNOTATION else text[: MAX_ANNOTATION - 1] + "\u2026"


def _rank(finding: dict[str, Any]) -> int:
    try:
        return Severity(str(finding.get("severity"))).rank
    except ValueError:
        return 0


def threshold_of(invocation: ConfigInvocation, default: str = DEFAULT_THRESHOLD) -> str:
    """The rule's ``severity`` parameter, else ``default``; ValueError for a bad one."""
    value = invocation.parameters.get(THRESHOLD_PARAMETER, default).strip().lower()
    try:
        Severity(value)
    except ValueError:
        raise ValueError(
            f"rule parameter {THRESHOLD_PARAMETER}={value[:40]!r}: use one of "
            f"{', '.join(s.value for s in Severity)}"
        ) from None
    return value


def verdict(
    findings: Iterable[dict[str, Any]],
    threshold: str = DEFAULT_THRESHOLD,
    enabled: frozenset[str] | None = None,
) -> Verdict:
    """The compliance of one resource from its findings (checks below ``threshold`` or
    not in ``enabled`` do not count)."""
    floor = Severity(threshold).rank
    counted = [
        f
        for f in findings
        if _rank(f) >= floor and (enabled is None or str(f.get("check_id")) in enabled)
    ]
    failing = [f for f in counted if f.get("status") == "FAIL"]
    if failing:
        worst = max(failing, key=lambda f: (_rank(f), str(f.get("check_id"))))
        more = f" (+{len(failing) - 1} more failing)" if len(failing) > 1 else ""
        return Verdict(
            NON_COMPLIANT,
            _annotation(
                f"{worst.get('check_id')} FAIL ({worst.get('severity')}){more}: "
                f"{worst.get('message') or worst.get('title') or ''}"
            ),
        )
    unknown = [f for f in counted if f.get("status") not in ("PASS", "MUTED")]
    if unknown:
        worst = max(unknown, key=lambda f: (_rank(f), str(f.get("check_id"))))
        return Verdict(
            INSUFFICIENT_DATA,
            _annotation(f"{worst.get('check_id')} could not be verified: {worst.get('message')}"),
        )
    if not counted:
        return Verdict(INSUFFICIENT_DATA, "no check at or above the threshold was evaluated")
    waived = sum(1 for f in counted if f.get("status") == "MUTED")
    note = f" ({waived} waived)" if waived else ""
    return Verdict(
        COMPLIANT, _annotation(f"all {len(counted)} checks at or above {threshold} pass{note}")
    )


def _entry(resource_id: str, ordering: Any, result: Verdict, resource_type: str) -> dict[str, Any]:
    return {
        "ComplianceResourceType": resource_type,
        "ComplianceResourceId": resource_id,
        "ComplianceType": result.compliance_type,
        "Annotation": result.annotation,
        "OrderingTimestamp": ordering,
    }


def _findings_of(resource: ConfigResource, findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        f
        for f in findings
        if f.get("resource_type") == TRACKING_SERVER
        and (
            (resource.arn and f.get("resource_arn") == resource.arn)
            or (
                f.get("account_id") == resource.account_id
                and f.get("region") == resource.region
                and f.get("resource_name") == resource.resource_id
            )
        )
    ]


def _not_applicable(resource: ConfigResource, left_scope: bool) -> Verdict | None:
    if resource.deleted:
        return Verdict(NOT_APPLICABLE, "the tracking server was deleted")
    if left_scope:
        return Verdict(NOT_APPLICABLE, "the resource left the rule's scope")
    if resource.resource_type != MLFLOW_TRACKING_SERVER:
        return Verdict(NOT_APPLICABLE, _annotation(f"not evaluated: {resource.resource_type}"))
    return None


def evaluations(
    invocation: ConfigInvocation,
    findings: list[dict[str, Any]],
    threshold: str = DEFAULT_THRESHOLD,
    enabled: frozenset[str] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(entries to send, withheld INSUFFICIENT_DATA verdicts) for ``invocation``."""
    verdicts: list[tuple[str, str, Any, Verdict]] = []
    if invocation.scheduled:
        by_name: dict[str, list[dict[str, Any]]] = {}
        for f in findings:
            if (
                f.get("resource_type") == TRACKING_SERVER
                and f.get("account_id") == invocation.account_id
                and f.get("region") == invocation.region
            ):
                by_name.setdefault(str(f.get("resource_name")), []).append(f)
        for name, own in sorted(by_name.items()):
            result = verdict(own, threshold, enabled)
            verdicts.append((name, MLFLOW_TRACKING_SERVER, invocation.ordering_timestamp, result))
    for resource in invocation.resources:
        result = _not_applicable(resource, invocation.left_scope)
        if result is None:
            own = _findings_of(resource, findings)
            result = (
                verdict(own, threshold, enabled)
                if own
                else Verdict(INSUFFICIENT_DATA, "the re-check returned no result for it")
            )
        verdicts.append(
            (resource.resource_id, resource.resource_type, resource.ordering_timestamp, result)
        )
    sent, withheld = [], []
    for resource_id, resource_type, ordering, result in verdicts:
        entry = _entry(resource_id, ordering, result, resource_type)
        (withheld if result.compliance_type == INSUFFICIENT_DATA else sent).append(entry)
    return sent, withheld


def needs_recheck(invocation: ConfigInvocation) -> bool:
    """Whether answering needs a re-check at all (a deleted resource needs none)."""
    if invocation.scheduled:
        return True
    return any(_not_applicable(r, invocation.left_scope) is None for r in invocation.resources)


def put_evaluations(
    config: Any, entries: list[dict[str, Any]], result_token: str
) -> dict[str, Any]:
    """Send ``entries`` in calls of at most 100; a failed call is a warning, never raised."""
    result: dict[str, Any] = {"sent": 0, "failed": [], "calls": 0, "warnings": []}
    for start in range(0, len(entries), MAX_EVALUATIONS_PER_CALL):
        batch = entries[start : start + MAX_EVALUATIONS_PER_CALL]
        try:
            answer = config.put_evaluations(Evaluations=batch, ResultToken=result_token)
        except (ClientError, BotoCoreError) as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            result["warnings"].append(
                f"PutEvaluations failed for {len(batch)} evaluation(s): {code}: {str(exc)[:200]}"
            )
            result["failed"].extend(e["ComplianceResourceId"] for e in batch)
            continue
        finally:
            result["calls"] += 1
        failed = answer.get("FailedEvaluations") or []
        result["failed"].extend(str(e.get("ComplianceResourceId")) for e in failed)
        result["sent"] += len(batch) - len(failed)
    return result


def answer(
    invocation: ConfigInvocation,
    recheck: Callable[[ConfigInvocation], list[dict[str, Any]]],
    config: Any,
    enabled: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Re-check what ``invocation`` names (``recheck`` returns the findings), then send the
    evaluations with its token. The summary is small and JSON-able."""
    threshold = threshold_of(invocation)
    findings = recheck(invocation) if needs_recheck(invocation) else []
    sent, withheld = evaluations(invocation, findings, threshold, enabled)
    result = put_evaluations(config, sent, invocation.result_token) if sent else {}
    return {
        "status": "evaluated",
        "message_type": invocation.message_type,
        "threshold": threshold,
        "evaluations": [
            {k: e[k] for k in ("ComplianceResourceId", "ComplianceType", "Annotation")}
            for e in sent
        ],
        "withheld": [{k: e[k] for k in ("ComplianceResourceId", "Annotation")} for e in withheld],
        "sent": result.get("sent", 0),
        "failed": result.get("failed", []),
        "calls": result.get("calls", 0),
        "warnings": result.get("warnings", []),
    }


def handle_event(
    event: Any,
    recheck: Callable[[ConfigInvocation], list[dict[str, Any]]],
    config_for: Callable[[ConfigInvocation], Any],
    enabled: frozenset[str] | None = None,
) -> dict[str, Any]:
    """A Config rule invocation from parse to PutEvaluations. A malformed event (or rule
    parameter) is ``{"status": "bad_event", "message": <one line>}`` and nothing is sent:
    Config re-invokes the rule on the next change or period, and a raise would only make
    Lambda retry the same bad event."""
    from auditor.events.config import ConfigEventError, parse_config_event

    try:
        invocation = parse_config_event(event)
        threshold_of(invocation)
    except (ConfigEventError, ValueError) as exc:
        return {"status": "bad_event", "message": " ".join(str(exc).split())}
    return answer(invocation, recheck, config_for(invocation), enabled)
