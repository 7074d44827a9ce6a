"""Ctrl-C during a run: the first one interrupts, a second one cannot abandon the reports.

A scan interrupted by Ctrl-C still writes the reports of its incomplete run (exit 130);
a person pressing Ctrl-C again while they are written would otherwise leave nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The exit code of a run ended by Ctrl-C (128 + SIGINT, as a shell reports it).
INTERRUPTED_EXIT = 130


@contextmanager
def first_interrupt_only() -> Iterator[None]:
    """The first Ctrl-C interrupts (KeyboardInterrupt, as usual); a later one, while the
    interrupted run's reports are being written, is noted on stderr and otherwise
    ignored, so those reports are completed rather than abandoned half way.

    Only the main thread can own the SIGINT handler; elsewhere this changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen = False

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal seen
        if seen:  # os.write: never re-entering a buffered stream from a signal handler
            os.write(2, b"\nmlflow-audit: still writing the reports of the interrupted run\n")
            return
        seen = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
