"""Load the checks in ``rules/`` (and ``--rules-dir``): validate, compile, rehearse.

A rule is data (one YAML file): which resource types it applies to, which facts it
reads, a JMESPath ``pass_when`` condition, optional ``severity_when`` adjustments for a
failure, small Jinja2 templates for the message and the fix, three optional flags
that order findings.json (``exposes``: a FAIL on a resource that does not verify its
bucket's owner is exploitable now; ``verifies_owner``: a PASS says it does;
``compensates``: a PASS is a compensating control), and ``root_cause_of``: the facts a
FAIL of this check leaves unknowable (a check of the same resource that is UNKNOWN only
because it reads them is that FAIL's follow-on, not a problem of its own). Templates run
in Jinja2's sandbox and only ever receive AWS strings as data.
``auditor.evaluate.engine`` evaluates the loaded rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jmespath
import jmespath.exceptions
import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from auditor.core.checks import Exposure, exposure  # noqa: F401  (rule flags, read as data)
from auditor.core.datafiles import data_dir
from auditor.core.errors import ConfigError
from auditor.core.kinds import KINDS
from auditor.core.model import Severity
from auditor.evaluate.rehearsal import rehearse

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
_OPTIONAL = (
    "severity_when",
    "references",
    "description",
    "exposes",
    "verifies_owner",
    "root_cause_of",
    "compensates",
)
# A fact path (``bucket.owner_trusted``) or a section of them (``integrity``).
_FACT_PATH = re.compile(r"[a-z_]+(\.[a-z_]+)*")
_FLAGS = ("exposes", "verifies_owner", "compensates")
_ENV = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, trim_blocks=True)

#: The AWS reads behind each top-level section of the facts record that needs more than
#: the List and Describe every scan makes: a fact source no enabled rule reads is never
#: called. ``fix`` is built from the ``bucket`` section (auditor.evaluate.fixes).
FACT_SOURCES = {
    "bucket": "ownership",
    "fix": "ownership",
    "integrity": "integrity",
    "role": "role",
}


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
    # A FAIL of this check on a resource that does not verify its bucket's owner means
    # anyone can receive its artifacts now: such findings are listed first.
    exposes: bool = False
    # A PASS of this check means the resource verifies its bucket's owner.
    verifies_owner: bool = False
    # Facts (paths, or sections such as ``integrity``) that a FAIL of this check leaves
    # unknowable: the engine links another check's UNKNOWN that reads only these to it.
    root_cause_of: tuple[str, ...] = ()

    # A PASS of this check is a compensating control (the execution role cannot write
    # outside the trusted accounts): an exploitable resource with it is listed after
    # those without; a FAIL at critical is listed before every other.
    compensates: bool = False

    def explains(self, path: str) -> bool:
        """Whether a FAIL of this check is why fact ``path`` is unknown."""
        return any(path == p or path.startswith(p + ".") for p in self.root_cause_of)

    # The fact sources (FACT_SOURCES values) its condition and severities name.
    sources: frozenset[str] = frozenset()

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


def _jmespath_names(node: Any) -> set[str]:
    """Every field name anywhere in a compiled JMESPath AST (more than the top-level
    ones: a source named deeper down is read too often, never too rarely)."""
    names = {node["value"]} if node.get("type") == "field" else set()
    for child in node.get("children", ()):
        if isinstance(child, dict):
            names |= _jmespath_names(child)
    return names


def rule_sources(compiled: list[Any]) -> frozenset[str]:
    """The fact sources a rule's verdict reads: derived from what its ``reads``,
    ``pass_when`` and ``severity_when`` expressions name, so a rule (a user's too) can
    never be evaluated on a source the run skipped.

    Its message and fix templates are not counted: a text may mention a section for
    context only (the core checks name the execution role's scope as a mitigation), and
    that must not make every scan read every role. A section no enabled rule reads is
    still in the facts, unread (``role.read`` false, its facts null), so such a mention
    sits under ``{% if %}`` and the text then says no more than the verdict knows."""
    names: set[str] = set()
    for expr in compiled:
        names |= _jmespath_names(expr.parsed)
    return frozenset(FACT_SOURCES[n] for n in names if n in FACT_SOURCES)


def sources_read(rules: Iterable[Rule], disabled: Iterable[str] = ()) -> frozenset[str]:
    """The fact sources the enabled rules read (``disabled``: the policy's disabled checks)."""
    off = set(disabled)
    return frozenset(s for rule in rules if rule.id not in off for s in rule.sources)


def _fix(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The ``fix`` mapping, once it and the rule's true/false keys are checked."""
    fix = data["fix"]
    if not isinstance(fix, dict) or "text" not in fix or "command" not in fix:
        raise ConfigError(f"{source}: fix needs text and command")
    if not isinstance(fix.get("auto", False), bool):
        raise ConfigError(f"{source}: fix.auto must be true or false")
    for flag in _FLAGS:
        if not isinstance(data.get(flag, False), bool):
            raise ConfigError(f"{source}: {flag} must be true or false")
    return fix


def _root_cause_of(data: dict[str, Any], source: str) -> tuple[str, ...]:
    paths = data.get("root_cause_of") or []
    if not isinstance(paths, list) or not all(
        isinstance(p, str) and _FACT_PATH.fullmatch(p) for p in paths
    ):
        raise ConfigError(f"{source}: root_cause_of must list fact paths (bucket.exists)")
    return tuple(paths)


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
        or any(not isinstance(t, str) or t not in KINDS for t in types)
    ):
        raise ConfigError(f"{source}: resource_types must list some of {', '.join(KINDS)}")
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
    fix = _fix(data, source)
    pass_when = _compile_expr(source, data["pass_when"], "pass_when")
    read_exprs = [jmespath.compile(path) for path in reads]
    rule = Rule(
        id=str(data["id"]),
        title=str(data["title"]),
        severity=data["severity"],
        resource_types=types,
        reads=reads,
        pass_when=pass_when,
        severity_when=tuple(severity_when),
        messages={k: _compile_template(source, v, f"message.{k}") for k, v in messages.items()},
        risk=" ".join(str(data["risk"]).split()),
        fix_auto=bool(fix.get("auto", False)),
        fix_text=_compile_template(source, fix["text"], "fix.text"),
        fix_command=_compile_template(source, fix["command"], "fix.command"),
        references=tuple(references),
        source=source,
        exposes=bool(data.get("exposes", False)),
        verifies_owner=bool(data.get("verifies_owner", False)),
        root_cause_of=_root_cause_of(data, source),
        compensates=bool(data.get("compensates", False)),
        sources=rule_sources([*read_exprs, pass_when, *(expr for expr, _ in severity_when)]),
    )
    rehearse(rule)
    return rule


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
