"""Write the requested renderings of a findings document atomically.

Each file is written to a temporary file in the same directory, flushed to disk and
renamed over the target, so a reader (or a crash) never sees half a report; a previous
report stays intact until the new one is complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from auditor.core.errors import ConfigError, RunFailure
from auditor.report.formats import FORMATS, REGISTRY, output_format

#: Exit code of a run whose reports could not be written (exit 1 stays "a FAIL was found").
WRITE_FAILED_EXIT = 4
#: A temporary file of ours older than this is left over from a killed run.
STALE_TMP_AGE_S = 3600.0


class ReportWriteError(RunFailure):
    """The reports could not be written (disk full, I/O error): one line, exit 4.

    Nothing of the run is recorded in the history, so the next run still sees every
    problem as new; no temporary file is left behind.
    """

    exit_code = WRITE_FAILED_EXIT


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
    remove_stale_temporaries(out)
    return out


def _our_temporary_names() -> tuple[str, ...]:
    names = [fmt.filename for fmt in REGISTRY.values()]
    return tuple(f".{name}." for name in names)


def remove_stale_temporaries(out: Path, max_age_s: float = STALE_TMP_AGE_S) -> list[Path]:
    """Delete ``.<report>.*.tmp`` and ``.probe-*`` files a killed run left behind.

    Only names this tool creates, and only those older than ``max_age_s`` (a run writing
    into the same directory right now keeps its files). Returns what was removed.
    """
    prefixes = _our_temporary_names()
    cutoff = time.time() - max_age_s
    removed = []
    try:
        entries = list(os.scandir(out))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        ours = (name.startswith(prefixes) and name.endswith(".tmp")) or name.startswith(".probe-")
        if not ours:
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


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
    previous run's reports intact and never a mix of two runs.

    An OSError (disk full, I/O error) is a ReportWriteError (exit 4) naming the file.
    """
    staged: list[tuple[str, Path]] = []
    path = out_dir
    try:
        for name in formats:
            fmt = output_format(name)
            path = out_dir / fmt.filename
            staged.append((_stage(path, fmt.render(doc)), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException as exc:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ReportWriteError(
                f"cannot write {path}: {exc.strerror or type(exc).__name__}; "
                "the reports of this run were not written and the run is not recorded"
            ) from None
        raise
    return [path for _, path in staged]


__all__ = [
    "FORMATS",
    "ReportWriteError",
    "prepare_output_dir",
    "remove_stale_temporaries",
    "write_atomic",
    "write_outputs",
]
