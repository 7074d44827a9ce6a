"""The ``--config`` policy file: trusted accounts, check selection, severities, waivers.

Validated strictly, because a typo in a security policy must not silently widen trust or
mute a check: every error names the file and line. See docs/policy.example.yaml.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import ConfigError
from auditor.model import ACCOUNT_ID_RE, Severity

TOP_KEYS = {"trusted_accounts", "checks", "waivers"}
CHECK_KEYS = {"enabled", "severity"}
WAIVER_KEYS = {"check_id", "resource", "reason", "expires"}


@dataclass(frozen=True, slots=True)
class Waiver:
    check_id: str  # a check id, or "*" for every check
    resource: str  # an ARN, or a glob over ARNs
    reason: str
    expires: dt.date
    line: int

    def matches(self, check_id: str, resource_arn: str) -> bool:
        return self.check_id in ("*", check_id) and fnmatch.fnmatchcase(resource_arn, self.resource)

    def expired(self, today: dt.date) -> bool:
        """A waiver is in force through its ``expires`` day, inclusive."""
        return today > self.expires

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "resource": self.resource,
            "reason": self.reason,
            "expires": self.expires.isoformat(),
            "line": self.line,
        }


@dataclass(slots=True)
class Policy:
    trusted_accounts: list[str] = field(default_factory=list)
    disabled_checks: set[str] = field(default_factory=set)
    severities: dict[str, str] = field(default_factory=dict)
    waivers: list[Waiver] = field(default_factory=list)
    source: str | None = None

    def waiver_for(
        self, check_id: str, resource_arn: str, today: dt.date
    ) -> tuple[Waiver | None, Waiver | None]:
        """(waiver in force, expired waiver) matching this finding, either may be None."""
        expired = None
        for waiver in self.waivers:
            if waiver.matches(check_id, resource_arn):
                if not waiver.expired(today):
                    return waiver, None
                expired = expired or waiver
        return None, expired


def _fail(path: str, node: yaml.Node | None, message: str) -> ConfigError:
    line = f":{node.start_mark.line + 1}" if node is not None else ""
    return ConfigError(f"{path}{line}: {message}")


def _scalar(path: str, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise _fail(path, node, f"{what} must be a single value")
    return str(node.value).strip()


def _mapping(path: str, node: yaml.Node, what: str, allowed: set[str]) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"{what} must be a mapping")
    out: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = _scalar(path, key_node, "a key")
        if key not in allowed:
            raise _fail(
                path,
                key_node,
                f"unknown key {key!r} in {what} (allowed: {', '.join(sorted(allowed))})",
            )
        if key in out:
            raise _fail(path, key_node, f"duplicate key {key!r} in {what}")
        out[key] = value_node
    return out


def _sequence(path: str, node: yaml.Node, what: str) -> list[yaml.Node]:
    if not isinstance(node, yaml.SequenceNode):
        raise _fail(path, node, f"{what} must be a list")
    return list(node.value)


def _account(path: str, node: yaml.Node) -> str:
    value = _scalar(path, node, "an account id")
    if not ACCOUNT_ID_RE.match(value):
        raise _fail(
            path, node, f"{value!r} is not a 12-digit AWS account id (quote ids that start with 0)"
        )
    return value


def load_policy(path: str | Path, known_checks: set[str]) -> Policy:
    """Read and validate a policy file; raises ConfigError naming the line."""
    p = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{p}: cannot read policy file ({exc.__class__.__name__}: "
            f"{getattr(exc, 'strerror', None) or exc})"
        ) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{p}{where}: not valid YAML ({problem})") from None
    policy = Policy(source=p)
    if root is None:
        return policy
    top = _mapping(p, root, "the policy", TOP_KEYS)

    if "trusted_accounts" in top:
        for item in _sequence(p, top["trusted_accounts"], "trusted_accounts"):
            policy.trusted_accounts.append(_account(p, item))

    if "checks" in top:
        checks = top["checks"]
        if not isinstance(checks, yaml.MappingNode):
            raise _fail(p, checks, "checks must be a mapping of check id to settings")
        for key_node, value_node in checks.value:
            check_id = _scalar(p, key_node, "a check id")
            if check_id not in known_checks:
                raise _fail(p, key_node, f"unknown check id {check_id!r}")
            settings = _mapping(p, value_node, f"checks.{check_id}", CHECK_KEYS)
            if "enabled" in settings:
                enabled = _scalar(p, settings["enabled"], "enabled").lower()
                if enabled not in ("true", "false"):
                    raise _fail(p, settings["enabled"], "enabled must be true or false")
                if enabled == "false":
                    policy.disabled_checks.add(check_id)
            if "severity" in settings:
                sev = _scalar(p, settings["severity"], "severity").lower()
                if sev not in {s.value for s in Severity}:
                    raise _fail(
                        p,
                        settings["severity"],
                        f"unknown severity {sev!r} (use critical, high, medium, low or info)",
                    )
                policy.severities[check_id] = sev

    if "waivers" in top:
        for item in _sequence(p, top["waivers"], "waivers"):
            fields = _mapping(p, item, "a waiver", WAIVER_KEYS)
            for required in ("check_id", "resource", "reason", "expires"):
                if required not in fields:
                    raise _fail(
                        p,
                        item,
                        f"waiver has no {required!r} (every waiver needs "
                        "check_id, resource, reason and expires)",
                    )
            check_id = _scalar(p, fields["check_id"], "check_id")
            if check_id != "*" and check_id not in known_checks:
                raise _fail(p, fields["check_id"], f"unknown check id {check_id!r}")
            reason = _scalar(p, fields["reason"], "reason")
            if not reason:
                raise _fail(p, fields["reason"], "waiver reason is empty")
            resource = _scalar(p, fields["resource"], "resource")
            if not resource:
                raise _fail(p, fields["resource"], "waiver resource is empty")
            raw_expiry = _scalar(p, fields["expires"], "expires")
            try:
                expires = dt.date.fromisoformat(raw_expiry)
            except ValueError:
                raise _fail(
                    p, fields["expires"], f"expires {raw_expiry!r} is not a date (YYYY-MM-DD)"
                ) from None
            policy.waivers.append(
                Waiver(
                    check_id=check_id,
                    resource=resource,
                    reason=reason,
                    expires=expires,
                    line=item.start_mark.line + 1,
                )
            )
    return policy
