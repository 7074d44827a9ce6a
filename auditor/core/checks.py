"""The shipped checks' titles and references, read from ``rules/*.yaml`` as plain data.

A rendering names a check that a finding no longer carries (a finding resolved since
the previous run) with these. Nothing is compiled or validated here: the evaluate
stage loads, validates and runs the rules (``auditor.evaluate.rules``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

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


@dataclass(frozen=True)
class Exposure:
    """Which checks say a resource is exploitable now (the order of findings.json)."""

    exposing: frozenset[str]  # a FAIL exposes a resource that does not verify its owner
    verifying: frozenset[str]  # a PASS says the resource verifies its bucket's owner
    compensating: frozenset[str] = frozenset()  # a PASS limits what the resource can write


@lru_cache(maxsize=8)
def exposure(extra_dirs: tuple[str, ...] = ()) -> Exposure:
    """The ``exposes``, ``verifies_owner`` and ``compensates`` checks of the shipped rules (and of
    ``extra_dirs``), read without compiling them: a merge or a re-render sorts findings
    without loading the rules. A file that cannot be read marks nothing."""
    exposing: set[str] = set()
    verifying: set[str] = set()
    compensating: set[str] = set()
    for directory in (data_dir("rules"), *(Path(d) for d in extra_dirs)):
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue
            if not isinstance(data, dict) or not isinstance(data.get("id"), str):
                continue
            if data.get("exposes") is True:
                exposing.add(data["id"])
            if data.get("verifies_owner") is True:
                verifying.add(data["id"])
            if data.get("compensates") is True:
                compensating.add(data["id"])
    return Exposure(frozenset(exposing), frozenset(verifying), frozenset(compensating))
