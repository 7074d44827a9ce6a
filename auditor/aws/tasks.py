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

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

_STOP = object()
#: How long ``close()`` after ``cancel()`` lets the calls in hand finish before leaving
#: them behind (daemon threads): Ctrl-C acts within a second, whatever AWS's latency.
CANCEL_GRACE_S = 0.5
#: ``wait()`` wakes this often, so a signal in the main thread is acted on at once.
_WAIT_SLICE_S = 0.1


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
        self._delayed: list[tuple[float, int, int, Any, tuple[Any, ...]]] = []
        self._timer_wake = threading.Condition()
        self._timer = threading.Thread(target=self._release, name="mlflow-audit-timer", daemon=True)
        self._closing = False
        self._timer.start()
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

    def submit_after(
        self, delay_s: float, fn: Callable[..., Any], *args: Any, priority: int = 0
    ) -> None:
        """Queue ``fn`` to run no earlier than ``delay_s`` from now, without holding a
        worker meanwhile (a paced scope waits for its slot this way)."""
        with self._cond:
            self._pending += 1
        with self._timer_wake:
            heapq.heappush(
                self._delayed, (time.monotonic() + delay_s, next(self._seq), priority, fn, args)
            )
            self._timer_wake.notify()

    def _release(self) -> None:
        with self._timer_wake:
            while True:
                if self._closing and not self._delayed:
                    return
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    _, seq, priority, fn, args = heapq.heappop(self._delayed)
                    self._queue.put((priority, seq, fn, args))
                timeout = self._delayed[0][0] - now if self._delayed else None
                self._timer_wake.wait(timeout)

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
                self._cond.wait(_WAIT_SLICE_S)
            failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def cancel(self) -> None:
        """Drop every task not yet started (Ctrl-C): workers finish the call in hand."""
        self._cancelled.set()

    def close(self, timeout: float | None = None) -> bool:
        """Stop the workers once the queue is drained (dropped, after ``cancel()``).

        With ``timeout``, wait at most that long for the calls in hand, then leave them
        behind (daemon threads: their results are no longer read). Returns whether every
        worker stopped.
        """
        with self._timer_wake:
            if self._cancelled.is_set():
                for _, seq, priority, fn, args in self._delayed:
                    self._queue.put((priority, seq, fn, args))  # dropped by the workers
                self._delayed.clear()
            self._closing = True
            self._timer_wake.notify()
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        self._timer.join(left())
        for _ in self._threads:
            self._queue.put((1 << 30, next(self._seq), _STOP, ()))
        for t in self._threads:
            t.join(left())
        return not any(t.is_alive() for t in self._threads)

    def __enter__(self) -> TaskGroup:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.cancel()
            self.close(CANCEL_GRACE_S)
        else:
            self.close()
