"""The shipped checks' titles and references, read from ``rules/*.yaml`` as plain data.

A rendering names a check that a finding no longer carries (a finding resolved since
the previous run) with these. Nothing is compiled or validated here: the evaluate
stage loads, validates and runs the rules (``auditor.evaluate.rules``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import yaml

from auditor.core.datafiles import data_dir


@dataclass(frozen=True, slots=True)
class CheckInfo:
    id: str
    title: str
    references: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def shipped_checks() -> dict[str, CheckInfo]:
    """Check id -> title and references of every shipped rule; empty when the rules
    cannot be read (metadata is a nicety: it must never stop a report)."""
    checks: dict[str, CheckInfo] = {}
    try:
        directory = data_dir("rules")
        files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
        for path in files:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            refs = data.get("references") or []
            checks[str(data["id"])] = CheckInfo(
                id=str(data["id"]),
                title=str(data["title"]),
                references=tuple(str(r) for r in refs),
            )
    except Exception:  # a broken install: renderings fall back to the check ids
        return {}
    return checks
