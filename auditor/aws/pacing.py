"""Pacing per (account, region, API): AWS throttles each with its own token bucket.

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
- **Throttled requests are retried by the pacer**, not by botocore's retry policy: the
  ``needs-retry`` handler answers a throttling error with the delay until the key's next
  slot, whatever ``max_attempts`` says, until ``budget_s`` has passed since the call's first
  attempt; only then does the throttling error surface. Every other retryable error (5xx,
  timeouts, connection errors) is still botocore's, with the user's retry mode and
  attempts, and never spends retry quota on throttling.
- **Fan-out work waits in a queue, not in a worker** (:class:`Lanes`): a Describe of a
  paced key joins the key's FIFO, released one per slot by a timer (tasks.py
  ``submit_after``); a throttled Describe surfaces at once and goes back to the head of
  its queue (until ``budget_s``). A throttled scope never holds the workers that other
  scopes need.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from auditor.core.request import DEFAULT_THROTTLE_BUDGET_S as DEFAULT_BUDGET_S

# botocore's own list (botocore.retries.standard.ThrottledRetryableChecker).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
DECREASE = 0.7
GROWTH = 2.0  # the rate doubles per second without throttling: back from a decrease in 0.5 s
MAX_RATE = 10_000.0
MIN_RATE = 0.05  # requests a second
DEFER_THRESHOLD_S = 0.02  # below this a task just waits for its slot

Key = tuple[str, str, str]


def is_throttling(code: str | None, status: int | None = None) -> bool:
    return code in THROTTLING_CODES or status == 429


@dataclass(slots=True)
class _Lane:
    base: float | None = None  # rate set at the last decrease; None: unpaced
    next_slot: float = 0.0
    last_decrease: float = float("-inf")

    def rate_at(self, now: float) -> float | None:
        if self.base is None:
            return None
        return min(MAX_RATE, self.base * GROWTH ** min(now - self.last_decrease, 20.0))


class Pacer:
    """Rates and slots per scope key (thread-safe)."""

    def __init__(
        self, budget_s: float = DEFAULT_BUDGET_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.budget_s = budget_s
        self._clock = clock
        self._lanes: dict[Key, _Lane] = {}  # only keys AWS has throttled
        # Per key: [start, successes] of the current one-second window. Kept without the
        # lock (every successful call updates it; a lost count under a race is harmless).
        self._windows: dict[Key, list[float]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self.throttled_count = 0
        self.deferred_count = 0

    def now(self) -> float:
        return self._clock()

    def rate(self, key: Key) -> float | None:
        with self._lock:
            lane = self._lanes.get(key)
            return None if lane is None else lane.rate_at(self._clock())

    def reserve(self, key: Key, horizon: float | None = None) -> float | None:
        """Take the key's next slot; seconds until it (0 when the key is unpaced).

        With ``horizon``, a slot further away than that is not taken (None): a slot
        reserved far ahead would keep today's rate after the rate has grown.
        """
        with self._lock:
            lane = self._lanes.get(key)
            if lane is None or lane.base is None:
                return 0.0
            now = self._clock()
            slot = max(now, lane.next_slot)
            if horizon is not None and slot - now > horizon:
                return None
            lane.next_slot = slot + 1.0 / (lane.rate_at(slot) or MAX_RATE)
            return slot - now

    def until_next(self, key: Key) -> float:
        """Seconds until the key's next free slot (without taking it)."""
        with self._lock:
            lane = self._lanes.get(key)
            if lane is None or lane.base is None:
                return 0.0
            return max(0.0, lane.next_slot - self._clock())

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

    # -- a slot reserved by the task layer, used by the call the thread makes next
    @contextmanager
    def prepaid(self) -> Iterator[None]:
        self._local.prepaid = True
        try:
            yield
        finally:
            self._local.prepaid = False

    @contextmanager
    def surfacing(self) -> Iterator[None]:
        """Inside, a throttled call is not retried in place: the error surfaces at once
        (after being counted), for a caller that re-queues the work instead of holding
        a worker while it waits."""
        self._local.surface = True
        try:
            yield
        finally:
            self._local.surface = False

    def surfaces(self) -> bool:
        return bool(getattr(self._local, "surface", False))

    def take_prepaid(self) -> bool:
        if getattr(self._local, "prepaid", False):
            self._local.prepaid = False
            return True
        return False


def install(client: Any, pacer: Pacer, region: str, account_of: Callable[[], str]) -> None:
    """Pace ``client``'s calls per (account, region, operation) and retry its throttling.

    ``account_of`` names the account the calling thread acts as. The client's own retry
    handler (registered by botocore under ``retry-config-<service>``) keeps every other
    retry decision.
    """
    emitter = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()
    signing = client.meta.service_model.signing_name or service
    uid = f"retry-config-{service}"
    # botocore exposes no getter for a registered handler; its emitter keeps them by id.
    entry = emitter._emitter._unique_id_handlers.get(uid)
    original = entry["handler"] if entry else None

    def key_for(op: str) -> Key:
        return (account_of(), region, f"{signing}:{op}")

    def before_call(model: Any, context: dict[str, Any], **_: Any) -> None:
        if not pacer.take_prepaid():
            delay = pacer.reserve(key_for(model.name))
            if delay > 0:
                time.sleep(delay)
        context["pace_first"] = context["pace_sent"] = pacer.now()

    def after_call(model: Any, http_response: Any = None, **_: Any) -> None:
        status = getattr(http_response, "status_code", 200)
        if status < 400:
            pacer.succeeded(key_for(model.name))

    def needs_retry(**kwargs: Any) -> Any:
        response = kwargs.get("response")
        if response is not None:
            http, parsed = response
            code = (parsed or {}).get("Error", {}).get("Code")
            if is_throttling(code, getattr(http, "status_code", None)):
                op = kwargs["operation"].name
                context = kwargs["request_dict"].get("context", {})
                now = pacer.now()
                key = key_for(op)
                pacer.throttled(key, context.get("pace_sent", now))
                if pacer.surfaces() or now - context.get("pace_first", now) >= pacer.budget_s:
                    return False  # the error surfaces: re-queued by the caller, or too late
                delay = pacer.reserve(key) or 0.0
                context["pace_sent"] = now + delay
                return delay
        return original(**kwargs) if original is not None else None

    if original is not None:
        emitter.unregister(f"needs-retry.{service}", unique_id=uid)
    emitter.register(f"needs-retry.{service}", needs_retry, unique_id=uid)
    emitter.register(f"before-call.{service}", before_call)
    emitter.register(f"after-call.{service}", after_call)


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
