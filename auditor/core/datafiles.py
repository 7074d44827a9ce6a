"""Find the data directories (rules/, reports/) the same way in a checkout and a wheel.

In a wheel they are force-included as ``auditor/_data/<name>``; in a source checkout
(editable install included) they sit at the repository top level.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """Return the directory holding the shipped ``rules`` or ``reports`` data."""
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mlflow-audit data directory {name!r} is missing from the install")
