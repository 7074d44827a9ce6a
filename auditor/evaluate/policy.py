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

from auditor.core.errors import ConfigError
from auditor.core.kinds import KINDS
from auditor.core.model import ACCOUNT_ID_RE, Severity

TOP_KEYS = {"trusted_accounts", "checks", "waivers", "max_waiver_days"}
#: A policy file is small; a larger one is refused before it is parsed (memory, time).
MAX_POLICY_BYTES = 1 << 20
MAX_WAIVERS = 5000
#: A waiver may not be in force for longer than this from today (``max_waiver_days``).
DEFAULT_MAX_WAIVER_DAYS = 365
MAX_WAIVER_DAYS_LIMIT = 3650


def _any_resources() -> list[str]:
    """Resources no real pattern would name on purpose, of every kind and in two
    partitions: a glob matching all of them matches every resource."""
    return [
        kind.arn(region, account, "q7-unlikely").replace("arn:aws:", f"arn:{partition}:", 1)
        for kind in KINDS.values()
        for partition, region, account in (
            ("aws", "zz-nowhere-9", "000000000000"),
            ("aws-cn", "zz-nowhere-8", "999999999999"),
        )
    ]


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
    #: One line each, for the terminal: blanket waivers (every check or every resource).
    warnings: list[str] = field(default_factory=list)
    max_waiver_days: int = DEFAULT_MAX_WAIVER_DAYS

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


def blanket_warning(waiver: Waiver, source: str) -> str | None:
    """A one-line warning for a waiver that mutes more than one check or every resource."""
    what = []
    if waiver.check_id == "*":
        what.append("every check")
    if all(fnmatch.fnmatchcase(arn, waiver.resource) for arn in _any_resources()):
        what.append("every resource")
    if not what:
        return None
    return (
        f"warning: {source}:{waiver.line}: waiver {waiver.check_id!r} {waiver.resource!r} "
        f"mutes {' and '.join(what)} (until {waiver.expires.isoformat()}); "
        "name the check and the resource it is for"
    )


def _read_policy_text(path: str | Path) -> str:
    """The file's text, refused when it is too large to be a policy or cannot be read."""
    p = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_POLICY_BYTES:
            raise ConfigError(
                f"{p}: policy file is {size:,} bytes, more than the {MAX_POLICY_BYTES:,} "
                "allowed (a policy lists accounts, checks and a few waivers)"
            )
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{p}: cannot read policy file ({exc.__class__.__name__}: "
            f"{getattr(exc, 'strerror', None) or exc})"
        ) from None


def _compose(p: str, text: str) -> yaml.Node | None:
    """The YAML node tree (line numbers kept for errors); None for an empty file."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{p}{where}: not valid YAML ({problem})") from None


def _max_waiver_days(p: str, node: yaml.Node) -> int:
    raw = _scalar(p, node, "max_waiver_days")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_WAIVER_DAYS_LIMIT:
        raise _fail(
            p,
            node,
            f"max_waiver_days must be a whole number of days, 1 to {MAX_WAIVER_DAYS_LIMIT}",
        )
    return int(raw)


def _enabled(p: str, node: yaml.Node) -> bool:
    enabled = _scalar(p, node, "enabled").lower()
    if enabled not in ("true", "false"):
        raise _fail(p, node, "enabled must be true or false")
    return enabled == "true"


def _severity(p: str, node: yaml.Node) -> str:
    sev = _scalar(p, node, "severity").lower()
    if sev not in {s.value for s in Severity}:
        raise _fail(p, node, f"unknown severity {sev!r} (use critical, high, medium, low or info)")
    return sev


def _apply_checks(p: str, node: yaml.Node, known_checks: set[str], policy: Policy) -> None:
    """``checks:``: per check id, ``enabled`` and ``severity``."""
    if not isinstance(node, yaml.MappingNode):
        raise _fail(p, node, "checks must be a mapping of check id to settings")
    for key_node, value_node in node.value:
        check_id = _scalar(p, key_node, "a check id")
        if check_id not in known_checks:
            raise _fail(p, key_node, f"unknown check id {check_id!r}")
        settings = _mapping(p, value_node, f"checks.{check_id}", CHECK_KEYS)
        if "enabled" in settings and not _enabled(p, settings["enabled"]):
            policy.disabled_checks.add(check_id)
        if "severity" in settings:
            policy.severities[check_id] = _severity(p, settings["severity"])


def _non_empty(p: str, node: yaml.Node, what: str) -> str:
    value = _scalar(p, node, what)
    if not value:
        raise _fail(p, node, f"waiver {what} is empty")
    return value


def _expiry(p: str, node: yaml.Node, max_days: int, today: dt.date) -> dt.date:
    """A waiver's ``expires``: a date no more than ``max_days`` after ``today``."""
    raw = _scalar(p, node, "expires")
    try:
        expires = dt.date.fromisoformat(raw)
    except ValueError:
        raise _fail(p, node, f"expires {raw!r} is not a date (YYYY-MM-DD)") from None
    latest = today + dt.timedelta(days=max_days)
    if expires > latest:
        raise _fail(
            p,
            node,
            f"waiver expires {expires.isoformat()}, more than max_waiver_days "
            f"({max_days}) from today: set an expiry by {latest.isoformat()}",
        )
    return expires


def _waiver(
    p: str, item: yaml.Node, known_checks: set[str], max_days: int, today: dt.date
) -> Waiver:
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
    # Checked in this order (reason, resource, expires) so the first error reported is stable.
    reason = _non_empty(p, fields["reason"], "reason")
    resource = _non_empty(p, fields["resource"], "resource")
    return Waiver(
        check_id=check_id,
        resource=resource,
        reason=reason,
        expires=_expiry(p, fields["expires"], max_days, today),
        line=item.start_mark.line + 1,
    )


def _apply_waivers(
    p: str, node: yaml.Node, known_checks: set[str], today: dt.date, policy: Policy
) -> None:
    """``waivers:``: each one validated, with a warning for a blanket one."""
    items = _sequence(p, node, "waivers")
    if len(items) > MAX_WAIVERS:
        raise _fail(p, node, f"{len(items):,} waivers, more than the {MAX_WAIVERS:,} allowed")
    for item in items:
        waiver = _waiver(p, item, known_checks, policy.max_waiver_days, today)
        policy.waivers.append(waiver)
        warning = blanket_warning(waiver, p)
        if warning:
            policy.warnings.append(warning)


def load_policy(path: str | Path, known_checks: set[str], today: dt.date | None = None) -> Policy:
    """Read and validate a policy file; raises ConfigError naming the line.

    Bounded: a file over MAX_POLICY_BYTES or with more than MAX_WAIVERS waivers is refused
    before it costs minutes and gigabytes. A waiver may not expire more than
    ``max_waiver_days`` (default 365) after ``today``: a security exception is reviewed.
    """
    p = str(path)
    today = today or dt.datetime.now(dt.UTC).date()
    root = _compose(p, _read_policy_text(path))
    policy = Policy(source=p)
    if root is None:
        return policy
    top = _mapping(p, root, "the policy", TOP_KEYS)
    # Sections are read in this order whatever the file's order: max_waiver_days bounds
    # the waivers read after it.
    if "max_waiver_days" in top:
        policy.max_waiver_days = _max_waiver_days(p, top["max_waiver_days"])
    if "trusted_accounts" in top:
        for item in _sequence(p, top["trusted_accounts"], "trusted_accounts"):
            policy.trusted_accounts.append(_account(p, item))
    if "checks" in top:
        _apply_checks(p, top["checks"], known_checks, policy)
    if "waivers" in top:
        _apply_waivers(p, top["waivers"], known_checks, today, policy)
    return policy
