"""Fixtures for the report tests: findings documents and a headless Debian chromium."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report_docgen

from auditor.report.formats.html import render_html

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A browser test is a slow test: chromium starts in seconds, before the first page."""
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def sample_doc() -> dict[str, Any]:
    return report_docgen.sample_doc()


@pytest.fixture
def injected_doc() -> dict[str, Any]:
    return report_docgen.injected_doc()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by playwright; a missing browser FAILS (CI installs it)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the HTML report browser tests need Debian's chromium "
            "(apt-get install -y chromium). They are not skipped on purpose."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - environment problem, reported clearly
        pytest.fail("the python package 'playwright' is missing: pip install playwright")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class OpenedReport:
    """A report opened in its own browser context, with everything it tried to do."""

    page: Any
    url: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def open_report(browser: Any, tmp_path: Path) -> Iterator[Callable[..., OpenedReport]]:
    contexts: list[Any] = []

    def _open(
        doc: dict[str, Any],
        *,
        js: bool = True,
        name: str = "report.html",
        width: int = 1440,
        height: int = 900,
    ) -> OpenedReport:
        path = tmp_path / name
        path.write_text(render_html(doc), encoding="utf-8")
        ctx = browser.new_context(
            java_script_enabled=js, viewport={"width": width, "height": height}
        )
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        opened = OpenedReport(page=page, url=path.as_uri())
        page.on("request", lambda r: opened.requests.append(r.url))
        page.on(
            "console", lambda m: opened.console_errors.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: opened.page_errors.append(str(e)))

        def on_dialog(d: Any) -> None:
            opened.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", on_dialog)
        page.goto(opened.url, wait_until="load")
        return opened

    yield _open
    for ctx in contexts:
        ctx.close()
