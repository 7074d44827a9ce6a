import threading

import pytest

from auditor.tasks import TaskGroup


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
