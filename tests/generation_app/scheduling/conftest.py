"""Fixtures of the scheduling tests."""

from __future__ import annotations

import pytest

from a1111sim.server import SimConfig, start_in_thread


@pytest.fixture
def sims():
    """Two more simulators of our own (their loaded checkpoint is part of the test)."""
    servers = [start_in_thread(SimConfig(port=0, step_ms=0, swap_ms=0)) for _ in range(2)]
    yield servers
    for server in servers:
        server.shutdown()
