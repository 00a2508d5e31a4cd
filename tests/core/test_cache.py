"""The Redis cache (PostgreSQL + Redis runs): one client per connection pool, shared by
threads, so a cache call does not build a Redis client each time."""

from __future__ import annotations

import threading

import pytest
from django.core.cache import cache, caches

from core.cache import RedisCache

pytestmark = pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache),
    reason="the cache is Redis only when REDIS_URL is set",
)


def test_cache_calls_share_one_redis_client():
    client = caches["default"]._cache.get_client(write=True)
    assert caches["default"]._cache.get_client(write=True) is client
    assert caches["default"]._cache.get_client(write=False) is client  # one server: one pool


def test_the_shared_client_serves_threads_at_once():
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                cache.set(f"test-cache:{n}:{i}", i, 30)
                assert cache.get(f"test-cache:{n}:{i}") == i
        except Exception as exc:  # reported below, with the thread's number
            errors.append((n, exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
