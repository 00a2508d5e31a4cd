"""Sessions over a real HTTP server: the brief's call verbatim, and clients racing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from loras_app.models import Lora
from sessions_app.models import SessionLora, UserSession

pytestmark = pytest.mark.django_db(transaction=True)

FILENAMES = [f"lora_{i}.safetensors" for i in range(8)]


@pytest.fixture
def loras(transactional_db):
    for filename in ["character_lora.safetensors", *FILENAMES]:
        Lora.objects.create(filename=filename, name=filename, prompt_name=filename[:-12])


@pytest.fixture
def headers(service_key) -> dict[str, str]:
    return {"X-API-Key": service_key}


def test_the_briefs_add_lora_call_works_verbatim(live_server, loras, headers):
    # From seed-readme "Basic Text Generation", with only the API key header added.
    requests.post(
        f"{live_server.url}/sessions/user123/loras",
        json={"filename": "character_lora.safetensors", "weight": 0.8},
        headers=headers,
    )
    session = requests.get(f"{live_server.url}/sessions/user123", headers=headers).json()
    assert session["active_loras"] == {"character_lora.safetensors": 0.8}


def _all_at_once(calls: list) -> list[requests.Response]:
    """Run the calls in threads released together, so they really overlap on the server."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_eight_clients_adding_loras_at_once_to_a_new_session_lose_none(live_server, loras, headers):
    url = f"{live_server.url}/sessions/race/loras"
    calls = [
        lambda f=f: requests.post(
            url, json={"filename": f, "weight": 0.5}, headers=headers, timeout=30
        )
        for f in FILENAMES
    ]
    responses = _all_at_once(calls)
    assert [r.status_code for r in responses] == [200] * 8
    session = requests.get(f"{live_server.url}/sessions/race", headers=headers).json()
    assert sorted(session["active_loras"]) == FILENAMES
    assert UserSession.objects.filter(user_id="race").count() == 1
    assert SessionLora.objects.count() == 8


def test_a_remove_and_a_settings_change_racing_with_adds_all_land(live_server, loras, headers):
    base = f"{live_server.url}/sessions/race"
    for filename in FILENAMES[:4]:
        requests.post(f"{base}/loras", json={"filename": filename}, headers=headers, timeout=30)
    calls = [
        lambda f=f: requests.post(
            f"{base}/loras", json={"filename": f}, headers=headers, timeout=30
        )
        for f in FILENAMES[4:]
    ]
    calls.append(
        lambda: requests.delete(f"{base}/loras/{FILENAMES[0]}", headers=headers, timeout=30)
    )
    calls.append(
        lambda: requests.patch(
            f"{base}/settings", json={"default_steps": 28}, headers=headers, timeout=30
        )
    )
    calls.append(
        lambda: requests.patch(
            f"{base}/settings", json={"default_cfg": 6.5}, headers=headers, timeout=30
        )
    )
    responses = _all_at_once(calls)
    assert [r.status_code for r in responses] == [200] * 7
    session = requests.get(base, headers=headers).json()
    assert sorted(session["active_loras"]) == FILENAMES[1:]
    assert session["custom_settings"] == {"default_steps": 28, "default_cfg": 6.5}
