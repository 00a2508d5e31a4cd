"""The generation rate limit holds across web processes without Redis: it is counted in
the "shared" cache (a database table then). With three gunicorn workers a key limited to
20/min used to get 60 through."""

from __future__ import annotations

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from core.throttles import UserGenerationThrottle


def test_the_generation_rate_is_counted_where_every_process_sees_it(db, settings):
    assert not isinstance(caches["shared"], LocMemCache)
    assert UserGenerationThrottle("u").cache is caches["shared"]


def test_a_count_written_by_another_process_is_seen(api, backend, settings):
    """What another web process wrote to the shared cache counts here: a full window
    written under the throttle's key makes the next request a 429."""
    settings.HUB_GENERATION_RATE_LIMIT = "3/min"
    throttle = UserGenerationThrottle("u")
    throttle.rate = "3/min"
    throttle.num_requests, throttle.duration = throttle.parse_rate("3/min")
    key = throttle.get_cache_key(None, None)
    now = throttle.timer()
    caches["shared"].set(key, [now, now, now], 60)  # three requests seen by other processes
    response = api.post("/generate/txt2img", {"user_id": "u", "prompt": "x"}, format="json")
    assert response.status_code == 429, response.content
