"""Fixtures for the a1111sim suite: simulators over real HTTP on free loopback ports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# Runnable on its own (``-p no:django --confcutdir=tests/a1111sim``): the repo root on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from simhelpers import Sim  # noqa: E402

from a1111sim.server import SimConfig, SimServer, start_in_thread  # noqa: E402


@pytest.fixture(scope="session")
def lora_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("loras")
    (path / "broken.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00nope!")
    (path / "legacy.pt").write_bytes(b"not really a torch file")
    return path


@pytest.fixture(scope="session")
def sim_session(lora_dir: Path) -> Any:
    server = start_in_thread(
        SimConfig(port=0, step_ms=0, swap_ms=0, lora_dir=str(lora_dir), seed_loras=True)
    )
    yield server
    server.shutdown()


@pytest.fixture
def sim(sim_session: SimServer) -> Any:
    sim_session.reset()
    yield Sim(sim_session)
    sim_session.reset()


@pytest.fixture
def make_sim() -> Any:
    """Start extra simulators with their own config; all are stopped after the test."""
    servers: list[SimServer] = []

    def start(**config: Any) -> Sim:
        config.setdefault("step_ms", 0)
        config.setdefault("swap_ms", 0)
        server = start_in_thread(SimConfig(port=0, **config))
        servers.append(server)
        return Sim(server)

    yield start
    for server in servers:
        server.shutdown()
