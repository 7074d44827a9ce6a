"""The output formats: every one is a renderer of the findings document.

A format is one entry here (its ``--format`` name, file name and renderer); the renderer
is a function ``doc -> str | Iterable[str]`` in its own module, imported only when that
format is written (pandas and jinja2 cost time and memory). Adding a format is one new
module plus one line in ``_FORMATS``; ``outputs.write_outputs`` writes any of them
atomically and ``mlflow-audit report`` re-renders any of them from findings.json.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from auditor.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class OutputFormat:
    name: str  # the --format value
    filename: str  # written in --output-dir
    renderer: str  # "module:function", imported when used

    def render(self, doc: dict[str, Any]) -> str | Iterable[str]:
        module, func = self.renderer.split(":")
        return getattr(importlib.import_module(module), func)(doc)


_FORMATS = (
    OutputFormat("json", "findings.json", "auditor.report.formats.json_doc:render_json"),
    OutputFormat("csv", "findings.csv", "auditor.report.formats.csv_table:render_csv"),
    OutputFormat("html", "report.html", "auditor.report.formats.html:render_html_chunks"),
    OutputFormat("ocsf", "findings.ocsf.json", "auditor.report.formats.ocsf:render_file"),
    OutputFormat("asff", "findings.asff.json", "auditor.report.formats.asff:render_file"),
)
REGISTRY: dict[str, OutputFormat] = {f.name: f for f in _FORMATS}
FORMATS: tuple[str, ...] = tuple(REGISTRY)


def output_format(name: str) -> OutputFormat:
    try:
        return REGISTRY[name]
    except KeyError:  # the CLI validates; this guards library callers
        raise ConfigError(f"unknown output format {name!r}") from None
