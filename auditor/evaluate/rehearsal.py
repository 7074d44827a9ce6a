"""Try every rule once on sample facts at load time.

A broken rule (a JMESPath type error, an undefined template name, a sandbox refusal)
then fails at load time, exit 2 naming its file, rather than in the middle of a scan.
"""

from __future__ import annotations

from typing import Any, Protocol

from auditor.core.errors import ConfigError
from auditor.core.kinds import KINDS


class Rule(Protocol):
    """What a rehearsal reads of an ``auditor.evaluate.rules.Rule`` (which calls it)."""

    resource_types: tuple[str, ...]
    pass_when: Any
    severity_when: tuple[tuple[Any, str], ...]
    messages: dict[str, Any]
    fix_text: Any
    fix_command: Any
    source: str


def _sample_facts() -> list[dict[str, Any]]:
    """Facts records covering every resource kind and every fact state."""
    from auditor.core.artifacts import parse_artifact_store_uri
    from auditor.core.model import BucketProof, Resource
    from auditor.evaluate.facts import TrustContext, build_facts
    from auditor.evaluate.integrity import sample_integrity
    from auditor.evaluate.role_facts import sample_roles

    acct = "111122223333"
    trust = TrustContext(frozenset({acct}), frozenset({acct}))
    samples = []
    for kind in list(KINDS.values()):
        for uri, proof in (
            ("s3://sample-bucket/p", BucketProof("sample-bucket", True, acct)),
            ("s3://sample-bucket/p", BucketProof("sample-bucket", False, unknown_reason="missing")),
            ("https://example.com/x", None),
        ):
            resource = Resource(
                kind.name,
                acct,
                "us-east-1",
                "sample",
                kind.arn("us-east-1", acct, "sample"),
                uri,
                "Created",
                True if kind.has_owner_verification else None,
            )
            samples.append(build_facts(resource, parse_artifact_store_uri(uri), proof, trust))
            if proof is not None and proof.exists:
                parsed = parse_artifact_store_uri(uri)
                for integrity in sample_integrity("sample-bucket", acct):
                    samples.append(build_facts(resource, parsed, proof, trust, integrity))
                for arn, role in sample_roles(acct):
                    resource.role_arn, resource.automatic_model_registration = arn, True
                    samples.append(build_facts(resource, parsed, proof, trust, role=role))
    return samples


def rehearse(rule: Rule) -> None:
    """Evaluate and render ``rule`` once per sample; ConfigError naming its file."""
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
