"""The values of command-line options, parsed and checked before a run starts.

Each parser takes what the command line was given and returns the value the run reads,
or raises ValueError with the one line the user sees (the CLI names the option). A few
checks need a stage's knowledge (the regions botocore knows, SNS topic ARNs, the rules);
those import the stage when asked, so ``--help`` and a run without them stay fast.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from auditor.core.errors import RunFailure, UsageError
from auditor.core.model import ACCOUNT_ID_RE
from auditor.report.formats import FORMATS


def split_list(values: Iterable[str]) -> list[str]:
    """Every repeatable list option takes both forms: ``--x a --x b`` and ``--x a,b``."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def accounts(values: Iterable[str]) -> list[str]:
    out = []
    for v in split_list(values):
        if not ACCOUNT_ID_RE.match(v):
            raise ValueError(f"{v!r} is not a 12-digit AWS account id")
        out.append(v)
    return list(dict.fromkeys(out))


def directories(values: Iterable[str]) -> list[str]:
    """Paths, repeatable or a comma list (a value naming an existing directory is one path,
    commas and all)."""
    out: list[str] = []
    for value in values:
        for part in [value] if os.path.isdir(value) else split_list((value,)):
            if not os.path.isdir(part):
                raise ValueError(f"{part!r} is not a directory")
            out.append(part)
    return out


def formats(value: str) -> list[str]:
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    if not items or any(v not in FORMATS for v in items):
        raise ValueError(f"use a comma list of {', '.join(FORMATS)} (got {value!r})")
    return list(dict.fromkeys(items))


def optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``parse``, for an option that may be left out (None, or empty, stays as given)."""
    return lambda value: value and parse(value)


def regions(values: Iterable[str]) -> list[str]:
    """Region names botocore knows; UsageError when the AWS configuration is broken."""
    values = list(values)
    if not values:
        return []
    from botocore.exceptions import BotoCoreError

    from auditor.collect.scope import known_regions

    try:
        known = known_regions()
    except BotoCoreError as exc:  # e.g. AWS_PROFILE naming no profile, a broken config
        raise UsageError(str(exc)) from None
    out = []
    for v in split_list(values):
        if v not in known:
            raise ValueError(f"unknown region {v!r}")
        out.append(v)
    return list(dict.fromkeys(out))


def shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    m = re.fullmatch(r"(\d+)/(\d+)", value.strip())
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"{value!r} is not K/N with 1 <= K <= N")
    return int(m.group(1)), int(m.group(2))


def topic(value: str | None) -> str | None:
    """An SNS standard topic's ARN (a FIFO topic cannot take a run's one message)."""
    if value is None:
        return None
    from auditor.integrations.push import topic_region

    try:
        topic_region(value)
    except RunFailure as exc:
        raise ValueError(exc.message) from None
    return value.strip()


def security_lake(value: str | None) -> str | None:
    """A Security Lake custom source's location, s3://BUCKET/ext/SOURCE/. The writer
    (pyarrow, the ``securitylake`` extra) is checked now: a run that cannot write the lake
    stops before it scans (ConfigError, exit 2), not after."""
    if value is None:
        return None
    from auditor.integrations.securitylake import parse_destination, require_pyarrow

    destination = parse_destination(value)
    require_pyarrow()
    return destination.uri


def security_lake_role(value: str | None) -> str | None:
    """The provider role's ARN (``arn:aws:iam::ACCOUNT:role/NAME``)."""
    if value is None:
        return None
    from auditor.integrations.securitylake import parse_role

    try:
        parse_role(value)
    except RunFailure as exc:
        raise ValueError(exc.message) from None
    return value.strip()


def check_lines(rules_dirs: Iterable[str]) -> list[str]:
    """``mlflow-audit rules``: one line per check (id, severity, title), most severe first."""
    from auditor.core.model import Severity
    from auditor.evaluate.rules import load_rules

    rules = sorted(load_rules(rules_dirs), key=lambda r: (-Severity(r.severity).rank, r.id))
    width = max(len(r.id) for r in rules)
    return [f"{rule.id:<{width}}  {rule.severity:<8}  {rule.title}" for rule in rules]
