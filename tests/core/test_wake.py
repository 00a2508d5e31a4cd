"""Wake signals and the ORM broker they wake: an idle queue costs no query, an enqueue is
seen at the next poll, a slow recheck finds what no signal announced."""

from __future__ import annotations

import time

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_q.signing import SignedPackage

from core import wake
from core.broker import WakingORM


def test_a_signal_is_a_change_even_twice_in_one_clock_tick(transactional_db):
    before = wake.read("test-ticks")
    wake.send("test-ticks")
    first = wake.read("test-ticks")
    wake.send("test-ticks")
    assert before != first != wake.read("test-ticks")


def test_a_signal_sent_in_a_transaction_is_seen_once_it_commits(transactional_db):
    before = wake.read("test-commit")
    with transaction.atomic():
        wake.send("test-commit")
        assert wake.read("test-commit") == before  # a poller woken now would see nothing
    assert wake.read("test-commit") != before


def _package(name: str) -> str:
    return SignedPackage.dumps({"id": name, "name": name, "func": "math.floor", "args": (1,)})


def test_an_idle_queue_is_not_queried_until_an_enqueue_wakes_it(transactional_db, settings):
    settings.HUB_QUEUE_RECHECK = 600
    pusher_side = WakingORM(list_key="test-waking")
    pusher_side.purge_queue()
    assert pusher_side.dequeue() is None  # the first look queries
    with CaptureQueriesContext(connection) as idle:
        for _ in range(3):
            assert pusher_side.dequeue() is None
    assert len(idle.captured_queries) == 0

    WakingORM(list_key="test-waking").enqueue(_package("woken"))  # as a web process does
    tasks = pusher_side.dequeue()
    assert tasks and SignedPackage.loads(tasks[0][1])["id"] == "woken"


def test_a_task_no_signal_announced_is_found_by_the_recheck(transactional_db, settings):
    settings.HUB_QUEUE_RECHECK = 0.3
    pusher_side = WakingORM(list_key="test-recheck")
    pusher_side.purge_queue()
    assert pusher_side.dequeue() is None
    # Written straight to the table, as a process that cannot reach the signal would.
    pusher_side.get_connection().create(
        key="test-recheck", payload=_package("silent"), lock="2000-01-01T00:00:00Z"
    )
    found = None
    for _ in range(20):  # Conf.POLL apart: the recheck comes within 0.3 s
        found = pusher_side.dequeue()
        if found:
            break
    assert found and SignedPackage.loads(found[0][1])["id"] == "silent"


def test_tasks_enqueued_under_one_signal_are_each_taken_at_the_next_polls(
    transactional_db, settings
):
    settings.HUB_QUEUE_RECHECK = 600
    pusher_side = WakingORM(list_key="test-two")
    pusher_side.purge_queue()
    assert pusher_side.dequeue() is None
    web_side = WakingORM(list_key="test-two")
    web_side.enqueue(_package("one"))
    web_side.enqueue(_package("two"))
    taken = [pusher_side.dequeue(), pusher_side.dequeue()]  # one each (django-q2's BULK)
    ids = sorted(SignedPackage.loads(t[1])["id"] for batch in taken for t in batch or [])
    assert ids == ["one", "two"]


def test_a_duty_is_held_until_it_is_given_up_or_expires(transactional_db):
    assert not wake.on_duty("test-duty")  # never held
    wake.hold("test-duty", 30)
    assert wake.on_duty("test-duty")
    wake.release("test-duty")
    assert not wake.on_duty("test-duty")
    wake.hold("test-duty", 0.1)
    time.sleep(0.2)
    assert not wake.on_duty("test-duty")


def test_a_duty_given_up_is_not_dropped_again_from_under_its_next_holder(transactional_db):
    mine = wake.Duty("test-duty-twice", 30, 1)
    mine.hold()
    mine.release()
    wake.Duty("test-duty-twice", 30, 1).hold()  # another dispatcher takes it
    mine.release()  # as in mine's `finally`
    assert wake.on_duty("test-duty-twice")
