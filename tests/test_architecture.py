"""House rules of the package layout (docs/architecture.md), checked on the source.

Imports are read with ``ast`` at every depth: a function-level import is still a
dependency, and so is an import under ``if TYPE_CHECKING:`` (a type names the layer it
comes from as surely as a call does).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "auditor"
MAX_LINES = 400

# Which layer may import which: every edge between two layers of the package that is not
# listed here fails. A layer is a sub-package of `auditor` (or `auditor.cli`,
# `auditor.__main__`); imports inside one layer are free, but must not form a cycle.
ALLOWED_EDGES: dict[str, frozenset[str]] = {
    "__main__": frozenset({"cli"}),
    "cli": frozenset({"app", "report", "history", "aws", "core"}),
    "app": frozenset(
        {
            "events",
            "integrations",
            "remediate",
            "report",
            "history",
            "collect",
            "prove",
            "evaluate",
            "aws",
            "core",
        }
    ),
    "events": frozenset({"core"}),
    # a push renders the document (report) and answers the invocation it parsed (events)
    "integrations": frozenset({"report", "events", "aws", "core"}),
    "remediate": frozenset({"evaluate", "aws", "core"}),
    "report": frozenset({"core"}),
    "history": frozenset({"aws", "core"}),
    "collect": frozenset({"aws", "core"}),
    "prove": frozenset({"aws", "core"}),
    "evaluate": frozenset({"core"}),
    "aws": frozenset({"core"}),
    "core": frozenset(),
    # the simulated AWS organisation is a world of its own beside the product
    "sim": frozenset(),
}
# Narrower rules inside a layer, by module prefix: (prefix, layers it may import).
NARROWER: tuple[tuple[str, frozenset[str]], ...] = (
    # an output format renders a document: records and text safety, nothing else
    ("auditor.report.formats", frozenset({"core"})),
)
# The one module that may import the simulation: the demo runs the real scan against it.
SIM_IMPORTERS = frozenset({"auditor.app.demo"})
# Third-party packages a layer must never import (neither the rules nor the renderers
# talk to AWS or to a terminal).
FORBIDDEN_PACKAGES: dict[str, frozenset[str]] = {
    "evaluate": frozenset({"botocore", "boto3", "click"}),
    "report": frozenset({"botocore", "boto3", "click"}),
}
# click is the command line's business: every other module (the Lambda's path included)
# runs without it.
CLICK_MODULES = frozenset({"auditor.cli", "auditor.cli.shared"})


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "_data" not in p.parts}


def layer_of(module: str) -> str:
    """The layer a module belongs to: `auditor.app.scan` -> `app`, `auditor.cli` -> `cli`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imported_names(name: str, path: Path) -> list[str]:
    """Every dotted name the module imports, at any depth, TYPE_CHECKING blocks included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            names.append(mod)
            names.extend(f"{mod}.{alias.name}" for alias in node.names)
    return names


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    found: set[str] = set()
    for target in _imported_names(name, path):
        if not target.startswith("auditor"):
            continue
        # the longest known module the import names (a from-import may name a symbol)
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def external_imports_of(name: str, path: Path) -> set[str]:
    """The top-level third-party or standard packages a module imports."""
    return {
        target.split(".")[0]
        for target in _imported_names(name, path)
        if target and not target.startswith("auditor")
    }


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a path that starts and ends at the same module, or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # a package importing its own submodules (re-exports) is not a layering cycle
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def _rules_of(module: str) -> tuple[str, frozenset[str]]:
    """The part of the package a module belongs to and the layers that part may import."""
    for prefix, allowed in NARROWER:
        if module == prefix or module.startswith(prefix + "."):
            return prefix, allowed
    return "auditor." + layer_of(module), ALLOWED_EDGES.get(layer_of(module), frozenset())


def forbidden_edges(graph: dict[str, set[str]]) -> list[str]:
    """Every import that leaves its part of the package along an edge the tables do not allow."""
    bad: list[str] = []
    for module, deps in sorted(graph.items()):
        part, allowed = _rules_of(module)
        for dep in sorted(deps):
            if dep == "auditor" or dep == part or dep.startswith(part + "."):
                continue  # the version, or within its own part
            if layer_of(dep) == "sim" and module in SIM_IMPORTERS:
                continue
            if layer_of(dep) not in allowed:
                bad.append(f"{module} -> {dep}")
    return bad


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_graph_sees_lazy_relative_and_type_only_imports(tmp_path):
    graph = import_graph()
    assert "auditor.app.scan" in graph["auditor.cli"]  # imported inside a command function
    assert "auditor.sim" in graph["auditor.app.demo"]
    src = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .model import X\n"
    path = tmp_path / "_type_only_probe.py"
    path.write_text(src, encoding="utf-8")
    try:
        found = imports_of("auditor.core.probe", path, {"auditor.core.model"})
    finally:
        path.unlink()
    assert found == {"auditor.core.model"}


def test_the_edge_check_catches_a_climb_and_a_format_reaching_its_layer():
    graph = {
        "auditor.core.request": {"auditor.aws.pacing"},
        "auditor.report.formats.common": {"auditor.report.document", "auditor.core.model"},
        "auditor.report.console": {"auditor.report.document"},
        "auditor.app.demo": {"auditor.sim"},
        "auditor.app.scan": {"auditor.sim"},
    }
    assert forbidden_edges(graph) == [
        "auditor.app.scan -> auditor.sim",
        "auditor.core.request -> auditor.aws.pacing",
        "auditor.report.formats.common -> auditor.report.document",
    ]


def test_every_layer_is_in_the_edges_table():
    layers = {layer_of(m) for m in modules()} - {""}
    assert layers <= set(ALLOWED_EDGES), sorted(layers - set(ALLOWED_EDGES))


def test_imports_follow_the_allowed_edges():
    bad = forbidden_edges(import_graph())
    assert not bad, "imports the layer table does not allow:\n" + "\n".join(bad)


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cli_is_the_top_layer():
    graph = import_graph()
    importers = sorted(m for m, deps in graph.items() if "auditor.cli" in deps)
    assert importers == ["auditor.__main__"]


def test_the_product_reaches_the_simulation_only_through_the_demo():
    graph = import_graph()
    users = sorted(
        m
        for m, deps in graph.items()
        if not m.startswith("auditor.sim") and any(d.startswith("auditor.sim") for d in deps)
    )
    assert users == sorted(SIM_IMPORTERS)


def test_evaluate_and_report_import_no_botocore_and_no_click():
    bad = sorted(
        f"{name} imports {pkg}"
        for name, path in modules().items()
        for pkg in external_imports_of(name, path) & FORBIDDEN_PACKAGES.get(layer_of(name), set())
    )
    assert not bad, "\n".join(bad)


def test_only_the_cli_imports_click():
    users = sorted(
        name for name, path in modules().items() if "click" in external_imports_of(name, path)
    )
    assert users == sorted(CLICK_MODULES)


def test_the_lambda_runs_without_click():
    code = (
        "import sys, auditor.app.aws_lambda, auditor.app.event, auditor.app.scan\n"
        "sys.exit(1 if 'click' in sys.modules else 0)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0


def test_no_module_is_over_the_line_limit():
    long = sorted(
        f"{name}: {n} lines"
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    )
    assert not long, f"modules over {MAX_LINES} lines (split them by job):\n" + "\n".join(long)


def test_every_module_is_named_in_the_architecture_map():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [
        name
        for name, path in modules().items()
        if path.relative_to(ROOT).as_posix() not in text and f"`{name}`" not in text
    ]
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"
