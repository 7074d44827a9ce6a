import threading

import pytest

from auditor.aws.tasks import TaskGroup


def test_tasks_can_submit_follow_ups_and_wait_drains_the_graph():
    done = []
    lock = threading.Lock()
    with TaskGroup(max_workers=2) as group:

        def leaf(i):
            with lock:
                done.append(i)

        def parent(n):
            for i in range(n):
                group.submit(leaf, i, priority=0)

        for _ in range(5):
            group.submit(parent, 10, priority=1)
        group.wait()
    assert sorted(done) == sorted(list(range(10)) * 5)


def test_follow_up_work_runs_before_new_scopes_with_one_worker():
    order = []
    with TaskGroup(max_workers=1) as group:

        def child(tag):
            order.append(tag)

        def scope(tag):
            order.append(tag)
            group.submit(child, tag + "-describe", priority=0)

        for tag in ("a", "b", "c"):
            group.submit(scope, tag, priority=1)
        group.wait()
    assert order == ["a", "a-describe", "b", "b-describe", "c", "c-describe"]


def test_a_bug_in_a_task_is_raised_not_lost():
    with TaskGroup(max_workers=2) as group:
        group.submit(lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            group.wait()


def test_an_exception_in_the_caller_cancels_queued_work():
    import time

    ran = []
    with pytest.raises(KeyboardInterrupt), TaskGroup(max_workers=1) as group:
        for i in range(50):
            group.submit(lambda i=i: (time.sleep(0.01), ran.append(i)))
        raise KeyboardInterrupt
    assert len(ran) < 5  # the call in hand finishes; the queue is dropped


def test_submit_after_runs_later_without_holding_a_worker():
    """A delayed task does not occupy the only worker: work submitted after it runs
    first, and wait() covers the delayed task too."""
    import time

    order = []
    with TaskGroup(max_workers=1) as group:
        t0 = time.monotonic()
        group.submit_after(0.2, lambda: order.append(("late", time.monotonic() - t0)))
        group.submit(lambda: order.append(("now", time.monotonic() - t0)))
        group.wait()
    assert [name for name, _ in order] == ["now", "late"]
    assert order[1][1] >= 0.2


def test_cancel_drops_delayed_tasks():
    ran = []
    group = TaskGroup(max_workers=1)
    group.submit_after(5.0, ran.append, 1)
    group.cancel()
    group.close()
    assert ran == []


def test_ctrl_c_in_wait_cancels_the_pool_within_a_second():
    """A real SIGINT to this process while the main thread waits on a pool whose workers
    are each stuck in a slow call: wait() raises KeyboardInterrupt at once, the queued
    tasks never start, and closing after cancel() leaves the calls in hand behind."""
    import os
    import signal
    import time

    from auditor.aws.tasks import CANCEL_GRACE_S

    release = threading.Event()
    started = []
    group = TaskGroup(max_workers=2)

    def slow(i):
        started.append(i)
        release.wait(30)  # an AWS call that takes far longer than a second

    for i in range(20):
        group.submit(slow, i)
    while len(started) < 2:
        time.sleep(0.01)
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
    sent = time.monotonic() + 0.2
    with pytest.raises(KeyboardInterrupt):
        group.wait()
    group.cancel()
    stopped = group.close(CANCEL_GRACE_S)
    took = time.monotonic() - sent
    assert took < 1.0, f"took {took:.2f}s"
    assert not stopped  # the two calls in hand were left behind, not waited for
    release.set()
    time.sleep(0.2)
    assert sorted(started) == [0, 1]  # nothing queued ran after the cancel
