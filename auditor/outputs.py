"""Write the requested renderings of a findings document atomically.

Each file is written to a temporary file in the same directory, flushed to disk and
renamed over the target, so a reader (or a crash) never sees half a report; a previous
report stays intact until the new one is complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError
from auditor.formats import FORMATS, output_format


def prepare_output_dir(path: str | Path) -> Path:
    """Create the directory and prove it is writable before anything is scanned."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".probe-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"output directory {out} is not writable ({exc.strerror or type(exc).__name__})"
        ) from None
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stage(path: Path, data: str | Iterable[str]) -> str:
    """Write ``data`` to a temporary file beside ``path``, synced; returns its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would differ from a normal file
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            if isinstance(data, str):
                fh.write(data)
            else:
                fh.writelines(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def write_atomic(path: Path, data: str | Iterable[str]) -> None:
    """Write ``data`` (a string, or chunks of one) to ``path`` all at once or not at all."""
    os.replace(_stage(path, data), path)


def write_outputs(doc: dict[str, Any], out_dir: Path, formats: Iterable[str]) -> list[Path]:
    """Write the requested renderings together: every file is rendered to a temporary
    file first and only then renamed into place, so a failure part-way leaves the
    previous run's reports intact and never a mix of two runs."""
    staged: list[tuple[str, Path]] = []
    try:
        for name in formats:
            fmt = output_format(name)
            path = out_dir / fmt.filename
            staged.append((_stage(path, fmt.render(doc)), path))
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    for tmp, path in staged:
        os.replace(tmp, path)
    return [path for _, path in staged]


__all__ = ["FORMATS", "prepare_output_dir", "write_atomic", "write_outputs"]
