"""A bounded pool where a task may submit follow-up tasks without blocking a worker.

A scope's List answers create Describe tasks; waiting for them inside the List task
would tie up a worker (and can deadlock a bounded pool), so tasks only submit, and
``wait()`` returns when the whole graph has drained.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class TaskGroup:
    def __init__(self, max_workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers,
                                        thread_name_prefix="mlflow-audit")
        self._pending = 0
        self._cond = threading.Condition()
        self._failure: BaseException | None = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._cond:
            self._pending += 1
        future = self._pool.submit(fn, *args)
        future.add_done_callback(self._done)

    def _done(self, future: Future[Any]) -> None:
        exc = future.exception()
        with self._cond:
            if exc is not None and self._failure is None:
                self._failure = exc
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

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> TaskGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
