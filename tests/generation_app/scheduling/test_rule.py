"""The fair-share rule and its forecast as pure functions: who runs next, where, and when."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.utils import timezone
from schedhelpers import ANIME, REALISTIC

from backends.models import Backend
from generation_app.scheduling import rule
from generation_app.scheduling.rule import Load, QueuedJob, forecast


def q(job_id, user, minute, checkpoint="", priority=0, kind="txt2img") -> QueuedJob:
    created = timezone.now() - timedelta(minutes=60 - minute)
    return QueuedJob(job_id, user, kind, checkpoint, priority, created)


# --- the rule as a pure function ----------------------------------------------------------
def fair_order(queued: list[QueuedJob], load: Load) -> list[QueuedJob]:
    """The rule's order on one backend, every job of the same length."""
    return [job for job, _ in forecast(queued, load, {1: 0.0}, [], lambda job, b: 1.0)]


def test_users_take_turns_least_recently_served_first():
    queued = [q("a1", "a", 1), q("a2", "a", 2), q("a3", "a", 3), q("b1", "b", 4), q("c1", "c", 5)]
    order = [j.id for j in fair_order(queued, Load())]
    assert order == ["a1", "b1", "c1", "a2", "a3"]


def test_a_user_with_jobs_running_waits_behind_users_with_none():
    queued = [q("a1", "a", 1), q("b1", "b", 2)]
    assert [j.id for j in fair_order(queued, Load(running=Counter({"a": 1})))] == ["b1", "a1"]


def test_a_user_served_a_moment_ago_waits_behind_one_served_earlier():
    queued = [q("a1", "a", 1), q("b1", "b", 2)]
    load = Load(last_served={"a": timezone.now(), "b": timezone.now() - timedelta(minutes=5)})
    assert [j.id for j in fair_order(queued, load)] == ["b1", "a1"]


def test_key_priority_comes_before_fair_share():
    queued = [q("a1", "a", 1), q("b1", "b", 2, priority=5), q("b2", "b", 3, priority=5)]
    assert [j.id for j in fair_order(queued, Load())] == ["b1", "b2", "a1"]


def test_a_backend_prefers_its_loaded_checkpoint_but_only_for_a_while(settings):
    backend = Backend(pk=1, url="http://b", loaded_checkpoint=REALISTIC)
    older, newer = q("old", "a", 50, checkpoint=ANIME), q("new", "a", 59, checkpoint=REALISTIC)
    titles = {1: {ANIME, REALISTIC}}
    now = timezone.now()
    settings.HUB_AFFINITY_MAX_WAIT_SECONDS = 3600
    assert rule.choose(backend, [older, newer], Load(), titles, now).id == "new"
    settings.HUB_AFFINITY_MAX_WAIT_SECONDS = 60  # "old" has waited 10 minutes: its turn
    assert rule.choose(backend, [older, newer], Load(), titles, now).id == "old"


def test_a_backend_never_gets_a_job_it_cannot_run():
    plain = Backend(pk=1, url="http://b", capabilities={})
    job = q("cn", "a", 1, kind="controlnet")
    assert rule.choose(plain, [job], Load(), {1: None}, timezone.now()) is None
    missing_model = q("m", "a", 1, checkpoint="other.safetensors [0]")
    assert rule.choose(plain, [missing_model], Load(), {1: {ANIME}}, timezone.now()) is None


def test_a_users_next_job_waits_behind_others_while_their_first_runs():
    """Backend 3 is free now, 1 and 2 when a's and b's running jobs end (in 5 s). c's
    first job starts now, so c's second waits behind a's and b's next ones."""
    queued = [q("c1", "c", 1), q("a2", "a", 2), q("b2", "b", 3), q("c2", "c", 4)]
    earlier = timezone.now() - timedelta(minutes=1)
    load = Load(running=Counter({"a": 1, "b": 1}), last_served={"a": earlier, "b": earlier})
    plan = forecast(
        queued, load, {1: 5.0, 2: 5.0, 3: 0.0}, [(5.0, "a"), (5.0, "b")], lambda job, b: 10.0
    )
    assert [(job.id, ends) for job, ends in plan] == [
        ("c1", 10.0),
        ("a2", 15.0),
        ("b2", 15.0),
        ("c2", 20.0),
    ]


def test_a_job_of_unknown_length_gets_a_place_but_no_eta():
    plan = forecast([q("a1", "a", 1), q("b1", "b", 2)], Load(), {1: 0.0}, [], lambda j, b: None)
    assert [(job.id, ends) for job, ends in plan] == [("a1", None), ("b1", None)]
