"""A bounded pool where a task may submit follow-up tasks without blocking a worker.

A scope's List answers create Describe tasks; waiting for them inside the List task
would tie up a worker (and can deadlock a bounded pool), so tasks only submit, and
``wait()`` returns when the whole graph has drained.

Tasks carry a priority (lower runs first; FIFO within a priority). Follow-up work is
given precedence over starting new scopes, so the scan proceeds depth-first: the
resources of a scope (its client, its List answers) are released soon after it starts,
and memory stays bounded by the work in flight instead of growing with the organisation.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = object()


class TaskGroup:
    def __init__(self, max_workers: int) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Any, tuple[Any, ...]]] = (
            queue.PriorityQueue()
        )
        self._seq = itertools.count()
        self._pending = 0
        self._cond = threading.Condition()
        self._failure: BaseException | None = None
        self._cancelled = threading.Event()
        self._threads = [
            threading.Thread(target=self._worker, name=f"mlflow-audit-{i}", daemon=True)
            for i in range(max(1, max_workers))
        ]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[..., Any], *args: Any, priority: int = 0) -> None:
        with self._cond:
            self._pending += 1
        self._queue.put((priority, next(self._seq), fn, args))

    def _worker(self) -> None:
        while True:
            _, _, fn, args = self._queue.get()
            if fn is _STOP:
                return
            try:
                if not self._cancelled.is_set():
                    fn(*args)
            except BaseException as exc:  # recorded, re-raised by wait()
                with self._cond:
                    if self._failure is None:
                        self._failure = exc
            finally:
                with self._cond:
                    self._pending -= 1
                    if self._pending == 0:
                        self._cond.notify_all()

    def wait(self) -> None:
        """Block until every task (and every task they submitted) is done.

        Tasks are expected to record their own AWS errors; an exception escaping a
        task is a bug, and is re-raised here rather than lost.
        """
        with self._cond:
            while self._pending:
                self._cond.wait()
            failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def cancel(self) -> None:
        """Drop every task not yet started (Ctrl-C): workers finish the call in hand."""
        self._cancelled.set()

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put((1 << 30, next(self._seq), _STOP, ()))
        for t in self._threads:
            t.join()

    def __enter__(self) -> TaskGroup:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.cancel()
        self.close()
