"""Event-stream slots: per key across web processes, a share kept for service keys, and
idle streams closed."""

from __future__ import annotations

import gc
import time

from django.conf import settings as django_settings

from core.limits import KeySlots
from core.models import ApiKey
from generation_app.delivery import streams


def another_process_slots() -> KeySlots:
    """The per-key slots as a second web process has them: its own object, same cache."""
    return KeySlots(
        lambda: django_settings.HUB_MAX_EVENT_STREAMS_PER_KEY,
        "event streams",
        hold_seconds=lambda: 60,
    )


def test_a_keys_stream_cap_holds_across_web_processes(user_api, db, settings):
    settings.HUB_MAX_EVENT_STREAMS_PER_KEY = 1
    alice = user_api("alice")
    key_id = ApiKey.objects.get(user_id="alice").pk
    release = another_process_slots().acquire(key_id)  # alice streams from another process
    try:
        refused = alice.get("/users/alice/events")
        assert refused.status_code == 429 and refused.json()["error"] == "too_many_streams"
        assert "across the hub" in refused.json()["detail"]
    finally:
        release()
    settings.HUB_EVENT_STREAM_SECONDS = 0
    assert alice.get("/users/alice/events").status_code == 200


def test_users_holding_every_stream_cannot_lock_out_a_service_key(user_api, api, db, settings):
    gc.collect()  # streams of earlier tests that nobody closed give their slots back
    assert streams.process_slots.held == 0
    settings.HUB_MAX_EVENT_STREAMS = 2
    settings.HUB_EVENT_STREAMS_RESERVED = 1
    alice, bob = user_api("alice"), user_api("bob")
    held = alice.get("/users/alice/events")  # open, not read: holds a slot
    assert held.status_code == 200
    refused = bob.get("/users/bob/events")
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_streams"
    service = api.get("/users/bob/events")  # the bot that serves bob still gets through
    assert service.status_code == 200
    held.close()
    service.close()
    assert streams.process_slots.held == 0


def test_a_slot_of_a_killed_process_frees_itself(db):
    slots = KeySlots(lambda: 1, "event streams", hold_seconds=lambda: 1)
    slots.acquire("k")  # never released: the process holding it died
    assert slots.held("k") == 1
    time.sleep(1.2)
    assert slots.held("k") == 0
    slots.acquire("k")()


def test_an_idle_stream_is_closed_and_gives_its_slots_back(user_api, db, settings):
    settings.HUB_EVENT_STREAM_SECONDS = 60
    settings.HUB_EVENT_STREAM_IDLE_SECONDS = 1
    alice = user_api("alice")
    key_id = ApiKey.objects.get(user_id="alice").pk
    started = time.monotonic()
    response = alice.get("/users/alice/events")
    text = b"".join(response.streaming_content).decode()
    assert time.monotonic() - started < 5  # not the 60 s the stream may last
    assert text.startswith("retry: 2000")
    assert streams.process_slots.held == 0 and streams.key_slots.held(key_id) == 0
