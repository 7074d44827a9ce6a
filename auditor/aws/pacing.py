"""The one pacing and retry engine: every AWS call the product makes is paced per (account,
region, API), since AWS throttles each with its own token bucket.

One botocore client serves every account of a region (clients.py), so anything attached
to a client (standard mode's retry quota, adaptive mode's rate limiter) is shared by all
accounts, while AWS's limits are per account. Throttling is therefore taken out of
botocore's per-client machinery and handled here, per scope key
``(account, region, "service:Operation")``:

- **Adaptive rate per key (multiplicative decrease).** A key is unpaced until AWS first
  throttles it. The first throttle sets its rate to ``DECREASE`` x what actually
  succeeded in the last second (what the bucket let through); every later throttle of a
  request sent after the last decrease multiplies the rate by ``DECREASE`` (once per
  round, as TCP does, so a volley of in-flight rejections counts once). Between
  decreases the rate grows by ``GROWTH`` a second, so it probes back above the limit
  within half a second: sending above AWS's rate costs one throttled retry (a throttled
  request takes no token), sending below it costs time. Requests take evenly spaced slots
  at that rate (reservations), so the scope's bucket refills instead of being hammered.
- **Documented limits** (:meth:`Pacer.limit`): an operation whose rate AWS documents
  (Security Hub's BatchImportFindings) is kept under it from the first request.
- **Throttled requests are retried by the pacer**, not by botocore's retry policy: the
  ``needs-retry`` handler (``auditor.aws.hooks``) answers a throttling error with the
  delay until the key's next slot, whatever ``max_attempts`` says, until ``budget_s`` has
  passed since the call's first attempt; only then does the throttling error surface.
  Every other retryable error (5xx, timeouts, connection errors) is still botocore's,
  with the user's retry mode and attempts, and never spends retry quota on throttling.
  :meth:`Pacer.call` is the same rule for a caller that makes one request itself (the
  Security Hub import), and :func:`backoff` the one delay for retries that are not
  throttling (a finding Security Hub failed transiently, a lost conditional write).
- **Fan-out work waits in a queue, not in a worker** (:class:`Lanes`): a Describe of a
  paced key joins the key's FIFO, released one per slot by a timer (tasks.py
  ``submit_after``); a throttled Describe surfaces at once and goes back to the head of
  its queue (until ``budget_s``). A throttled scope never holds the workers that other
  scopes need.

Which errors are throttling is ``auditor.aws.classify``'s decision.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from auditor.aws.classify import is_throttled, throttled
from auditor.core.request import DEFAULT_THROTTLE_BUDGET_S as DEFAULT_BUDGET_S

T = TypeVar("T")

DECREASE = 0.7
GROWTH = 2.0  # the rate doubles per second without throttling: back from a decrease in 0.5 s
MAX_RATE = 10_000.0
MIN_RATE = 0.05  # requests a second
DEFER_THRESHOLD_S = 0.02  # below this a task just waits for its slot
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 8.0

Key = tuple[str, str, str]


#: Whether a parsed answer is throttling (the classifier's rule, read where an answer is).
is_throttling = is_throttled


def backoff(attempt: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """The delay before retry ``attempt`` (1, 2, ...) of an error that is not throttling
    (a transient failure, a lost conditional write): exponential with "equal jitter",
    between half and all of ``min(cap, base * 2**(attempt - 1))``, so delays grow with
    every attempt yet writers that collided do not collide again ("Exponential Backoff
    And Jitter", AWS Architecture Blog)."""
    return min(cap, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


@dataclass(slots=True)
class _Lane:
    base: float | None = None  # rate set at the last decrease; None: unpaced
    next_slot: float = 0.0
    last_decrease: float = float("-inf")
    tat: float = float("-inf")  # a documented limit's next theoretical slot (GCRA)

    def rate_at(self, now: float) -> float | None:
        if self.base is None:
            return None
        return min(MAX_RATE, self.base * GROWTH ** min(now - self.last_decrease, 20.0))


class Pacer:
    """Rates and slots per scope key (thread-safe)."""

    def __init__(
        self,
        budget_s: float = DEFAULT_BUDGET_S,
        clock: Callable[[], float] = time.monotonic,
        limits: dict[str, tuple[float, float]] | None = None,
    ) -> None:
        self.budget_s = budget_s
        self._clock = clock
        # Documented ceilings per "service:Operation", applied in every (account, region).
        self._limits: dict[str, tuple[float, float]] = {}
        # Keys AWS has throttled, and keys of an operation with a documented limit.
        self._lanes: dict[Key, _Lane] = {}
        # Per key: [start, successes] of the current one-second window. Kept without the
        # lock (every successful call updates it; a lost count under a race is harmless).
        self._windows: dict[Key, list[float]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self.throttled_count = 0
        self.deferred_count = 0
        for operation, (rate, burst) in (limits or {}).items():
            self.limit(operation, rate, burst)

    def now(self) -> float:
        return self._clock()

    def limit(self, operation: str, rate: float, burst: float) -> None:
        """Keep every (account, region) of ``operation`` ("service:Operation") under a
        documented limit: ``burst`` requests at once, then ``rate`` a second (a token
        bucket, kept as slots: the generic cell rate algorithm). AWS's own throttling
        still lowers the rate below it."""
        with self._lock:
            self._limits[operation] = (float(rate), max(1.0, float(burst)))

    def rate(self, key: Key) -> float | None:
        with self._lock:
            lane = self._lanes.get(key)
            return None if lane is None else lane.rate_at(self._clock())

    def _lane(self, key: Key) -> _Lane | None:  # with self._lock held
        lane = self._lanes.get(key)
        if lane is None and key[2] in self._limits:
            lane = self._lanes[key] = _Lane()
        return lane

    def _slot(self, key: Key, lane: _Lane, now: float) -> float:
        """The key's next free slot, no earlier than ``now``."""
        slot = now if lane.base is None else max(now, lane.next_slot)
        limit = self._limits.get(key[2])
        if limit is not None:
            rate, burst = limit
            slot = max(slot, lane.tat - (burst - 1.0) / rate)
        return slot if slot - now > 1e-9 else now  # float residue is no wait

    def reserve(self, key: Key, horizon: float | None = None) -> float | None:
        """Take the key's next slot; seconds until it (0 when the key is unpaced).

        With ``horizon``, a slot further away than that is not taken (None): a slot
        reserved far ahead would keep today's rate after the rate has grown.
        """
        with self._lock:
            lane = self._lane(key)
            if lane is None:
                return 0.0
            now = self._clock()
            slot = self._slot(key, lane, now)
            if horizon is not None and slot - now > horizon:
                return None
            if lane.base is not None:
                lane.next_slot = slot + 1.0 / (lane.rate_at(slot) or MAX_RATE)
            limit = self._limits.get(key[2])
            if limit is not None:
                lane.tat = max(lane.tat, slot) + 1.0 / limit[0]
            return slot - now

    def until_next(self, key: Key) -> float:
        """Seconds until the key's next free slot (without taking it)."""
        with self._lock:
            lane = self._lanes.get(key)
            if lane is None:
                return 0.0
            now = self._clock()
            return max(0.0, self._slot(key, lane, now) - now)

    def succeeded(self, key: Key) -> None:
        now = self._clock()
        window = self._windows.get(key)
        if window is None or now - window[0] > 1.0:
            self._windows[key] = [now, 1]
        else:
            window[1] += 1

    def throttled(self, key: Key, sent_at: float) -> None:
        """AWS throttled a request of ``key`` sent at ``sent_at`` (clock time)."""
        with self._lock:
            self.throttled_count += 1
            lane = self._lanes.setdefault(key, _Lane())
            now = self._clock()
            if lane.base is None:
                # What succeeded in the last second is what the bucket let through.
                start, count = self._windows.get(key) or (now, 0)
                seen = count / max(0.1, now - start) if now - start <= 1.0 else 0.0
                lane.base = max(1.0, seen * DECREASE)
                lane.last_decrease = now
                lane.next_slot = now + 1.0 / lane.base
            elif sent_at >= lane.last_decrease:
                lane.base = max(MIN_RATE, (lane.rate_at(now) or MIN_RATE) * DECREASE)
                lane.last_decrease = now

    def call(
        self,
        key: Key,
        fn: Callable[[], T],
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_throttled: Callable[[BaseException], None] | None = None,
    ) -> T:
        """Make one AWS request ``fn()`` through the engine, for a caller that is not a
        scan task: wait for ``key``'s slot, and while AWS throttles the request retry it
        at the key's next slot, until ``budget_s`` has passed; any other error is raised.

        On a client the pacer is installed on (``auditor.aws.hooks``), the request is
        already paid for and its throttling surfaces here, counted once under ``key``; on
        any other client this is all the pacing it gets.
        """
        first = self.now()
        state = self._local
        while True:
            delay = self.reserve(key) or 0.0
            if delay > 0:
                sleep(delay)
            sent = self.now()
            state.key, state.claimed = key, False
            try:
                with self.prepaid(), self.surfacing():
                    result = fn()
            except Exception as exc:
                if not throttled(exc):
                    raise
                if not state.claimed:
                    self.throttled(key, sent)
                if on_throttled is not None:
                    on_throttled(exc)
                if self.now() - first >= self.budget_s:
                    raise
                continue
            finally:
                state.key = None
            if not state.claimed:
                self.succeeded(key)
            return result

    def claim_call(self) -> Key | None:
        """The key of the :meth:`call` this thread is making, if any: the installed hook
        then paces and counts the request under that key, and :meth:`call` does not."""
        key = getattr(self._local, "key", None)
        if key is not None:
            self._local.claimed = True
        return key

    # -- a slot reserved by the task layer, used by the call the thread makes next
    @contextmanager
    def prepaid(self) -> Iterator[None]:
        previous, self._local.prepaid = getattr(self._local, "prepaid", False), True
        try:
            yield
        finally:
            self._local.prepaid = previous

    @contextmanager
    def surfacing(self) -> Iterator[None]:
        """Inside, a throttled call is not retried in place: the error surfaces at once
        (after being counted), for a caller that re-queues the work instead of holding
        a worker while it waits."""
        previous, self._local.surface = self.surfaces(), True
        try:
            yield
        finally:
            self._local.surface = previous

    def surfaces(self) -> bool:
        return bool(getattr(self._local, "surface", False))

    def take_prepaid(self) -> bool:
        if getattr(self._local, "prepaid", False):
            self._local.prepaid = False
            return True
        return False


class Lanes:
    """Fan-out tasks of paced keys wait in a FIFO per key, off the workers.

    :meth:`run` runs a task at once when its key is unpaced (or its slot is imminent);
    otherwise the task joins its key's queue, and one timer per key releases the head at
    each slot, at the rate the key has *then* (so a recovering rate applies at once).
    ``submit_after(delay, fn, *args)`` is the scheduler (``TaskGroup.submit_after``).
    """

    def __init__(self, pacer: Pacer, submit_after: Callable[..., None]) -> None:
        self.pacer = pacer
        self._submit_after = submit_after
        self._lock = threading.Lock()
        self._queues: dict[Key, deque[tuple[Callable[..., None], tuple[Any, ...]]]] = {}
        self._armed: set[Key] = set()

    def run(self, key: Key, fn: Callable[..., None], *args: Any) -> None:
        """Call ``fn(*args)`` with a slot of ``key`` reserved (``Pacer.prepaid``); a
        throttled call inside surfaces at once, for ``fn`` to :meth:`retry` it."""
        with self._lock:
            queued = self._queues.get(key)
            delay = None if queued else self.pacer.reserve(key, horizon=DEFER_THRESHOLD_S)
            if delay is None:
                self._queues.setdefault(key, deque()).append((fn, args))
                self.pacer.deferred_count += 1
                self._arm(key)
                return
        self._call(delay, fn, args)

    def retry(self, key: Key, fn: Callable[..., None], *args: Any) -> None:
        """Put throttled work back at the head of its key's queue."""
        with self._lock:
            self._queues.setdefault(key, deque()).appendleft((fn, args))
            self._arm(key)

    def _call(self, delay: float, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        if delay > 0:
            time.sleep(delay)
        with self.pacer.prepaid(), self.pacer.surfacing():
            fn(*args)

    def _arm(self, key: Key) -> None:  # with self._lock held
        if key not in self._armed:
            self._armed.add(key)
            self._submit_after(self.pacer.until_next(key), self._release, key)

    def _release(self, key: Key) -> None:
        with self._lock:
            self._armed.discard(key)
            queued = self._queues.get(key)
            if not queued:
                return
            delay = self.pacer.reserve(key, horizon=DEFER_THRESHOLD_S)
            if delay is None:  # the rate fell meanwhile: wait for the new next slot
                self._arm(key)
                return
            fn, args = queued.popleft()
            if queued:
                self._arm(key)
            else:
                del self._queues[key]
        self._call(delay, fn, args)
