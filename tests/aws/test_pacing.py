"""The per-(account, region, API) pacer: unpaced until throttled, multiplicative decrease
once per round, growth between throttles, evenly spaced slots, documented limits, the
engine's own calls and backoff, and FIFO lanes."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from auditor.aws.pacing import DECREASE, GROWTH, Lanes, Pacer, backoff, is_throttling

KEY = ("111111111111", "us-east-1", "sagemaker:DescribeMlflowTrackingServer")
OTHER = ("222222222222", "us-east-1", "sagemaker:DescribeMlflowTrackingServer")


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_unpaced_until_throttled_then_slots_are_spaced_by_the_rate():
    clock = Clock()
    pacer = Pacer(clock=clock)
    assert pacer.reserve(KEY) == 0.0 and pacer.rate(KEY) is None
    for _ in range(10):  # 10 successes in the 0.5 s before the throttle: 20/s got through
        pacer.succeeded(KEY)
        clock.t += 0.05
    pacer.throttled(KEY, sent_at=clock.t)
    rate = pacer.rate(KEY)
    assert rate == pytest.approx(10 / 0.5 * DECREASE, rel=0.01)
    first = pacer.reserve(KEY)
    second = pacer.reserve(KEY)
    # the first slot is 1/rate away; the next one follows at the rate grown by then
    assert first == pytest.approx(1 / rate, rel=0.01)
    assert second - first == pytest.approx(1 / (rate * GROWTH**first), rel=0.01)
    assert pacer.rate(OTHER) is None and pacer.reserve(OTHER) == 0.0  # other account


def test_one_decrease_per_round_and_growth_between_throttles():
    clock = Clock()
    pacer = Pacer(clock=clock)
    pacer.succeeded(KEY)
    pacer.throttled(KEY, sent_at=clock.t)
    base = pacer.rate(KEY)
    sent_before = clock.t - 0.01
    clock.t += 0.001
    # a volley of rejections of requests sent before the decrease counts once
    for _ in range(5):
        pacer.throttled(KEY, sent_at=sent_before)
    assert pacer.rate(KEY) == pytest.approx(base * GROWTH**0.001, rel=1e-6)
    clock.t += 1.0
    assert pacer.rate(KEY) == pytest.approx(base * GROWTH**1.001, rel=1e-6)
    pacer.throttled(KEY, sent_at=clock.t)
    assert pacer.rate(KEY) == pytest.approx(base * GROWTH**1.001 * DECREASE, rel=1e-6)


def test_reserve_with_horizon_does_not_book_far_ahead():
    clock = Clock()
    pacer = Pacer(clock=clock)
    pacer.succeeded(KEY)
    pacer.throttled(KEY, sent_at=clock.t)  # 1 request/s
    assert pacer.reserve(KEY, horizon=0.01) is None  # next slot is 1 s away
    clock.t += 1.0
    assert pacer.reserve(KEY, horizon=0.01) == 0.0


def test_lanes_release_in_order_one_per_slot():
    clock = Clock()
    pacer = Pacer(clock=clock)
    pacer.succeeded(KEY)
    pacer.throttled(KEY, sent_at=clock.t)
    timers: list[tuple[float, object, tuple]] = []
    lanes = Lanes(pacer, lambda delay, fn, *args: timers.append((delay, fn, args)))
    ran: list[int] = []
    for i in range(3):
        lanes.run(KEY, ran.append, i)
    assert ran == [] and len(timers) == 1  # one timer per key, whatever is queued
    while timers:
        delay, fn, args = timers.pop(0)
        clock.t += delay
        fn(*args)
    assert ran == [0, 1, 2]
    lanes.run(OTHER, ran.append, 9)  # an unpaced key runs at once
    assert ran[-1] == 9


def test_throttling_codes_are_botocores():
    assert is_throttling("ThrottlingException") and is_throttling("SlowDown")
    assert is_throttling(None, 429)
    assert not is_throttling("AccessDeniedException", 403)


HUB = "securityhub:BatchImportFindings"


def test_a_documented_limit_is_a_token_bucket_per_account_region():
    """12 calls at 5/s burst 5 wait (12-5)/5 s in all, from the very first call."""
    clock = Clock()
    pacer = Pacer(clock=clock, limits={HUB: (5, 5)})
    key = ("111111111111", "us-east-1", HUB)
    start = clock.t
    for _ in range(12):
        clock.t += pacer.reserve(key)
    assert clock.t - start == pytest.approx(7 / 5, rel=1e-6)
    assert pacer.reserve(("222222222222", "us-east-1", HUB)) == 0.0  # its own bucket
    assert pacer.reserve(KEY) == 0.0  # another operation is not limited
    clock.t += 10  # idle: the burst is back
    assert [pacer.reserve(key) for _ in range(5)] == [0.0] * 5


def _throttling() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "Op")


def test_call_retries_throttling_at_the_next_slot_and_raises_anything_else():
    clock = Clock()
    pacer = Pacer(clock=clock)
    answers = [_throttling(), _throttling(), {"ok": True}]
    seen, slept = [], []

    def request():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def sleep(s):
        slept.append(s)
        clock.t += s

    assert pacer.call(KEY, request, sleep=sleep, on_throttled=seen.append) == {"ok": True}
    assert len(seen) == 2 and pacer.throttled_count == 2
    assert pacer.rate(KEY) is not None and len(slept) == 2 and all(s > 0 for s in slept)
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "Op")

    def refuse():
        raise denied

    with pytest.raises(ClientError):
        pacer.call(OTHER, refuse, sleep=sleep)
    assert pacer.throttled_count == 2


def test_call_gives_up_on_throttling_after_the_budget():
    clock = Clock()
    pacer = Pacer(budget_s=5.0, clock=clock)

    def request():
        clock.t += 1.0
        raise _throttling()

    with pytest.raises(ClientError):
        pacer.call(KEY, request, sleep=lambda s: None)
    assert 5 <= pacer.throttled_count <= 6


def test_backoff_grows_with_equal_jitter_up_to_the_cap():
    for attempt in range(1, 12):
        ceiling = min(5.0, 0.2 * 2 ** (attempt - 1))
        delays = [backoff(attempt, base=0.2, cap=5.0) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
