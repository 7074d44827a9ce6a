"""Load the checks in ``rules/`` and evaluate them over facts records.

A rule is data (one YAML file): which resource types it applies to, which facts it
reads, a JMESPath ``pass_when`` condition, optional ``severity_when`` adjustments for a
failure, and small Jinja2 templates for the message and the fix. A rule that reads a
fact which is null yields ``UNKNOWN`` with the reason the facts stage recorded: never a
guessed PASS or FAIL. Templates run in Jinja2's sandbox and only ever receive AWS
strings as data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jmespath
import jmespath.exceptions
import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from auditor.errors import ConfigError
from auditor.model import RESOURCE_TYPES, Severity, Status
from auditor.policy import Policy
from auditor.resources import data_dir

_REQUIRED = (
    "id",
    "title",
    "severity",
    "resource_types",
    "reads",
    "pass_when",
    "message",
    "risk",
    "fix",
)
_OPTIONAL = ("severity_when", "references", "description")
_ENV = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, trim_blocks=True)


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    resource_types: tuple[str, ...]
    reads: tuple[str, ...]
    pass_when: Any  # compiled JMESPath
    severity_when: tuple[tuple[Any, str], ...]
    messages: dict[str, Any]  # status -> compiled template
    risk: str
    fix_auto: bool
    fix_text: Any
    fix_command: Any
    references: tuple[str, ...]
    source: str

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "resource_types": list(self.resource_types),
            "source": self.source,
        }


def _compile_expr(source: str, expr: Any, what: str) -> Any:
    if not isinstance(expr, str) or not expr.strip():
        raise ConfigError(f"{source}: {what} must be a JMESPath expression")
    try:
        return jmespath.compile(expr)
    except jmespath.exceptions.JMESPathError as exc:
        raise ConfigError(f"{source}: {what} is not valid JMESPath ({exc})") from None


def _compile_template(source: str, text: Any, what: str) -> Any:
    if not isinstance(text, str):
        raise ConfigError(f"{source}: {what} must be a string")
    try:
        return _ENV.from_string(" ".join(text.split()))
    except TemplateError as exc:
        raise ConfigError(f"{source}: {what} is not a valid template ({exc})") from None


def parse_rule(data: Any, source: str) -> Rule:
    """Validate one rule document; raises ConfigError naming the file."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a rule must be a mapping")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ConfigError(f"{source}: rule is missing {', '.join(missing)}")
    unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ConfigError(f"{source}: unknown rule key(s) {', '.join(unknown)}")
    severities = {s.value for s in Severity}
    if not isinstance(data["severity"], str) or data["severity"] not in severities:
        raise ConfigError(f"{source}: unknown severity {data['severity']!r}")
    types = data["resource_types"]
    if (
        not isinstance(types, list)
        or not types
        or any(not isinstance(t, str) or t not in RESOURCE_TYPES for t in types)
    ):
        raise ConfigError(f"{source}: resource_types must list some of {', '.join(RESOURCE_TYPES)}")
    reads = data["reads"]
    # Every fact the condition reads must be declared, so a null one is UNKNOWN: a rule
    # that reads nothing could only guess.
    if not isinstance(reads, list) or not reads:
        raise ConfigError(f"{source}: reads must list the facts pass_when uses")
    references = data.get("references") or []
    if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
        raise ConfigError(f"{source}: references must be a list of URLs")
    for path in reads:
        _compile_expr(source, path, f"reads entry {path!r}")
    severity_when = []
    for item in data.get("severity_when") or ():
        if not isinstance(item, dict) or item.get("severity") not in severities:
            raise ConfigError(f"{source}: severity_when entries need when and a severity")
        severity_when.append(
            (_compile_expr(source, item.get("when"), "severity_when.when"), item["severity"])
        )
    messages = data["message"]
    if not isinstance(messages, dict) or not {"PASS", "FAIL"} <= set(messages):
        raise ConfigError(f"{source}: message needs PASS and FAIL templates")
    fix = data["fix"]
    if not isinstance(fix, dict) or "text" not in fix or "command" not in fix:
        raise ConfigError(f"{source}: fix needs text and command")
    if not isinstance(fix.get("auto", False), bool):
        raise ConfigError(f"{source}: fix.auto must be true or false")
    rule = Rule(
        id=str(data["id"]),
        title=str(data["title"]),
        severity=data["severity"],
        resource_types=types,
        reads=reads,
        pass_when=_compile_expr(source, data["pass_when"], "pass_when"),
        severity_when=tuple(severity_when),
        messages={k: _compile_template(source, v, f"message.{k}") for k, v in messages.items()},
        risk=" ".join(str(data["risk"]).split()),
        fix_auto=bool(fix.get("auto", False)),
        fix_text=_compile_template(source, fix["text"], "fix.text"),
        fix_command=_compile_template(source, fix["command"], "fix.command"),
        references=tuple(references),
        source=source,
    )
    _rehearse(rule)
    return rule


def _sample_facts() -> list[dict[str, Any]]:
    """Facts records covering both resource types and every fact state."""
    from auditor.artifacts import parse_artifact_store_uri
    from auditor.facts import TrustContext, build_facts
    from auditor.integrity.facts import sample_integrity
    from auditor.model import BucketProof, Resource

    acct = "111122223333"
    trust = TrustContext(frozenset({acct}), frozenset({acct}))
    samples = []
    for kind in RESOURCE_TYPES:
        for uri, proof in (
            ("s3://sample-bucket/p", BucketProof("sample-bucket", True, acct)),
            ("s3://sample-bucket/p", BucketProof("sample-bucket", False, unknown_reason="missing")),
            ("https://example.com/x", None),
        ):
            resource = Resource(
                kind,
                acct,
                "us-east-1",
                "sample",
                f"arn:aws:sagemaker:us-east-1:{acct}:{kind}/sample",
                uri,
                "Created",
                True if kind == RESOURCE_TYPES[0] else None,
            )
            samples.append(build_facts(resource, parse_artifact_store_uri(uri), proof, trust))
            if proof is not None and proof.exists:
                for integrity in sample_integrity("sample-bucket", acct):
                    parsed = parse_artifact_store_uri(uri)
                    samples.append(build_facts(resource, parsed, proof, trust, integrity))
    return samples


def _rehearse(rule: Rule) -> None:
    """Evaluate and render the rule once per sample, so a broken rule fails at load time
    (exit 2, naming the file) rather than in the middle of a scan."""
    for facts in _sample_facts():
        if facts["resource"]["type"] not in rule.resource_types:
            continue
        try:
            rule.pass_when.search(facts)
            for condition, _ in rule.severity_when:
                condition.search(facts)
            for template in (*rule.messages.values(), rule.fix_text, rule.fix_command):
                template.render(**facts)
        except Exception as exc:  # JMESPath type errors, undefined names, sandbox refusals
            raise ConfigError(
                f"{rule.source}: rule fails on a sample resource ({type(exc).__name__}: {exc})"
            ) from None


def load_rules(extra_dirs: Iterable[str | Path] = ()) -> list[Rule]:
    """The shipped rules, then every ``*.yaml``/``*.yml`` in ``extra_dirs`` (``--rules-dir``)."""
    rules: dict[str, Rule] = {}
    dirs = [data_dir("rules"), *(Path(d) for d in extra_dirs)]
    for directory in dirs:
        if not directory.is_dir():
            raise ConfigError(f"{directory}: rules directory does not exist")
        files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
        for path in files:
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ConfigError(f"{path}: cannot read rule ({first})") from None
            rule = parse_rule(data, str(path))
            if rule.id in rules:
                raise ConfigError(
                    f"{path}: duplicate check id {rule.id!r} (also in {rules[rule.id].source})"
                )
            rules[rule.id] = rule
    return list(rules.values())


_SHARED: dict[str, str] = {}


def _shared(text: str) -> str:
    """One object per distinct string: fix commands repeat across a resource's checks."""
    if len(_SHARED) > 200_000:
        _SHARED.clear()
    return _SHARED.setdefault(text, text)


def _safe_render(template: Any, context: dict[str, Any]) -> str:
    try:
        return _render(template, context)
    except Exception as exc:  # a user rule's template that breaks on this resource
        return f"(the rule's fix could not be rendered: {type(exc).__name__})"


def _render(template: Any, context: dict[str, Any]) -> str:
    return " ".join(template.render(**context).split())


def evaluate(rule: Rule, facts: dict[str, Any]) -> tuple[str, str, str]:
    """(status, severity, message) of one rule over one facts record."""
    for path in rule.reads:
        if jmespath.search(path, facts) is None:
            reason = facts.get("unknown", {}).get(path) or f"{path} is not known"
            return Status.UNKNOWN.value, rule.severity, f"Could not evaluate: {reason}."
    try:
        outcome = rule.pass_when.search(facts)
        if outcome is None:  # the condition reached a null fact it did not declare
            return (
                Status.UNKNOWN.value,
                rule.severity,
                "Could not evaluate: the condition reads a fact that is not known.",
            )
        status = Status.PASS if outcome else Status.FAIL
        severity = rule.severity
        if status is Status.FAIL:
            for condition, sev in rule.severity_when:
                if condition.search(facts):
                    severity = sev
                    break
        return status.value, severity, _render(rule.messages[status.value], facts)
    except Exception as exc:  # a user rule that breaks on this resource: say so, never guess
        return (
            Status.UNKNOWN.value,
            rule.severity,
            f"Could not evaluate: the rule failed on this resource ({type(exc).__name__}).",
        )


def _evidence(facts: dict[str, Any], rule: Rule) -> list[dict[str, Any]]:
    """The proof a verdict rests on; items are shared by a resource's findings."""
    cache = facts.setdefault("_evidence", {})
    kinds = tuple(sorted({_evidence_kind(p) for p in rule.reads}))
    if kinds not in cache:
        cache[kinds] = _build_evidence(facts, rule)
    return cache[kinds]


def _evidence_kind(path: str) -> str:
    # integrity.<fact> has evidence of its own per fact; the others per section
    return path if path.startswith("integrity.") else path.split(".")[0]


def _build_evidence(facts: dict[str, Any], rule: Rule) -> list[dict[str, Any]]:
    resource = facts["resource"]
    items: list[dict[str, Any]] = []
    if any(p.startswith("resource.") for p in rule.reads):
        verification = (
            resource["owner_verification"] if resource["owner_verification_reported"] else "absent"
        )
        items.append(
            {
                "call": "sagemaker:DescribeMlflowTrackingServer",
                "as_account": resource["account_id"],
                "params": {"TrackingServerName": resource["name"]},
                "answer": f"S3BucketOwnerVerification={verification}, "
                f"S3BucketOwnerAccountId={resource['pinned_owner'] or 'absent'}",
                "conclusion": "verification is on"
                if resource["owner_verification"]
                else "verification is off",
            }
        )
    if any(p.startswith("uri.") for p in rule.reads) or not facts["uri"]["valid"]:
        uri = facts["uri"]
        items.append(
            {
                "call": "parse:ArtifactStoreUri",
                "as_account": None,
                "params": {"ArtifactStoreUri": resource["artifact_store_uri"] or ""},
                "answer": f"bucket={uri['bucket']}" if uri["valid"] else "no bucket",
                "conclusion": f"{uri['style']} URI" if uri["valid"] else uri["error"],
            }
        )
    if any(p.startswith("bucket.") for p in rule.reads):
        items.extend(facts["bucket"].get("evidence", []))
    for path in rule.reads:
        if path.startswith("integrity."):
            items.extend(facts["integrity"]["evidence_for"].get(path.split(".", 1)[1], []))
    return items


def make_finding(
    rule: Rule, facts: dict[str, Any], policy: Policy, today: dt.date
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One finding, with the policy's severity override and waivers applied.

    Returns the finding and, when an expired waiver matched it, that waiver's record.
    """
    status, severity, message = evaluate(rule, facts)
    severity = policy.severities.get(rule.id, severity)
    resource = facts["resource"]
    muted_reason = None
    expired_record = None
    if status != Status.PASS.value:
        waiver, expired = policy.waiver_for(rule.id, resource["arn"], today)
        if waiver is not None:
            muted_reason = f"{waiver.reason} (waiver expires {waiver.expires.isoformat()})"
            message = f"{message} Muted: {waiver.reason}."
            status = Status.MUTED.value
        elif expired is not None:
            expired_record = expired.to_dict()
            message = f"{message} The waiver for it expired on {expired.expires.isoformat()}."
    # A plain dict in the findings.json shape (docs/findings-schema.md): the document is
    # built from these without copying, which matters at organisation scale.
    finding = {
        "check_id": rule.id,
        "title": rule.title,
        "status": status,
        "severity": severity,
        "account_id": resource["account_id"],
        "region": resource["region"],
        "resource_type": resource["type"],
        "resource_name": resource["name"],
        "resource_arn": resource["arn"],
        "artifact_store_uri": resource["artifact_store_uri"],
        "bucket": facts["uri"]["bucket"],
        "expected_owner": facts["expected_owner"],
        "actual_owner": facts["bucket"]["owner_account_id"],
        "message": message,
        "risk": rule.risk,
        "evidence": _evidence(facts, rule),
        "remediation": {
            "text": _shared(_safe_render(rule.fix_text, facts)),
            "command": _shared(_safe_render(rule.fix_command, facts)),
            "auto": rule.fix_auto
            and resource["type"] == "mlflow-tracking-server"
            and facts["fix"]["owner"] is not None,
        },
        "muted_reason": muted_reason,
    }
    return finding, expired_record


def evaluate_all(
    rules: Iterable[Rule], facts_list: Iterable[dict[str, Any]], policy: Policy, today: dt.date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every applicable (resource, enabled check) pair, and the expired waivers met."""
    active = [r for r in rules if r.id not in policy.disabled_checks]
    findings: list[dict[str, Any]] = []
    expired: dict[int, dict[str, Any]] = {}
    for facts in facts_list:
        for rule in active:
            if facts["resource"]["type"] not in rule.resource_types:
                continue
            finding, expired_waiver = make_finding(rule, facts, policy, today)
            findings.append(finding)
            if expired_waiver is not None:
                expired[expired_waiver["line"]] = expired_waiver
    return findings, list(expired.values())
