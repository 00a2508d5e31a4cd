"""LoRA scans and hashing are housekeeping: they are queued on their own queue."""

from __future__ import annotations

import pytest
from django.conf import settings
from django_q.brokers import get_broker


@pytest.fixture
def housekeeping(cluster):
    """The in-process cluster (tests/conftest.py), draining the housekeeping queue instead
    of the generation one: where queued scans, the schedule's scans and hashing go."""
    cluster.broker = get_broker(settings.HUB_HOUSEKEEPING_QUEUE)
    cluster.broker.purge_queue()
    return cluster
