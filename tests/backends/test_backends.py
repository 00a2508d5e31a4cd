"""Which backends are enabled: configuration, earlier runs, the admin."""

from __future__ import annotations

import pytest

from backends.models import Backend
from backends.registry import sync_configured_backends

pytestmark = pytest.mark.django_db


def test_named_backends_become_the_enabled_ones_and_old_configured_ones_are_disabled():
    Backend.objects.create(url="http://old-box:7860", from_config=True)
    Backend.objects.create(url="http://127.0.0.1:40001", is_simulator=True)
    Backend.objects.create(url="http://admin-added:7860")
    enabled = sync_configured_backends(["http://gpu-a:7860/", "http://gpu-b:7860"])
    assert {b.url for b in enabled} == {
        "http://gpu-a:7860",
        "http://gpu-b:7860",
        "http://admin-added:7860",
    }
    assert not Backend.objects.get(url="http://old-box:7860").enabled
    assert not Backend.objects.get(url="http://127.0.0.1:40001").enabled


def test_a_configured_backend_named_again_is_enabled_again():
    Backend.objects.create(url="http://gpu-a:7860", from_config=True, enabled=False)
    assert [b.url for b in sync_configured_backends(["http://gpu-a:7860"])] == ["http://gpu-a:7860"]
