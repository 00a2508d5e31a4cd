"""Keeps runhub's children alive: a child that dies is started again (with backoff); one
that keeps dying stops the whole hub, which exits non-zero. Never half alive, never
orphans: each child runs under a guard (``a1111hub.childguard``) that leads a process
group of its own; stopping signals the group (django-q2's sentinel, pusher and workers
with it), and if runhub itself is killed the kernel tells each guard, which takes its
group down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# How long a child's group has between SIGTERM and SIGKILL, when runhub stops it or dies:
# runhub stops within 5 s (supervisors send SIGKILL after 10). A job cut short is not
# lost: its lease expires and housekeeping gives it back to the queue or fails it.
CHILD_GRACE_SECONDS = 3.0
STOP_SECONDS = 4.0


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)  # when it was restarted (monotonic)
    next_start: float = 0.0  # when a dead child may be started again

    def start(self) -> None:
        guarded = [sys.executable, "-m", "a1111hub.childguard", str(CHILD_GRACE_SECONDS), "--"]
        self.process = subprocess.Popen(
            [*guarded, *self.argv], env=self.env, cwd=self.cwd, start_new_session=True
        )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class GaveUp(Exception):
    """A child died too often; the message says which and how."""


class Supervisor:
    def __init__(
        self,
        children: list[Child],
        log: Callable[[str], None],
        max_restarts: int = 5,
        window_seconds: float = 300.0,
        max_backoff: float = 30.0,
    ):
        self.children = children
        self.log = log
        self.max_restarts = max_restarts
        self.window_seconds = window_seconds
        self.max_backoff = max_backoff

    def start(self) -> None:
        for child in self.children:
            child.start()

    def check(self, now: float | None = None) -> None:
        """Restart what died (once its backoff has passed); GaveUp if it dies too often."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            if child.alive:
                continue
            if child.next_start == 0.0:  # just found dead
                code = child.process.returncode if child.process else None
                child.restarts = [t for t in child.restarts if now - t < self.window_seconds]
                if len(child.restarts) >= self.max_restarts:
                    raise GaveUp(
                        f"{child.name} exited with {code} and was restarted "
                        f"{len(child.restarts)} times in {self.window_seconds:.0f} s; giving up."
                    )
                _kill_group(child)  # what it left behind (a sentinel's workers)
                delay = min(self.max_backoff, 2 ** len(child.restarts))
                child.next_start = now + delay
                self.log(f"{child.name} exited with {code}; restarting it in {delay:.0f} s.")
            elif now >= child.next_start:
                child.restarts.append(now)
                child.next_start = 0.0
                child.start()

    def stop(self, grace_seconds: float = STOP_SECONDS) -> None:
        for child in self.children:
            if child.alive:
                _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _kill_group(child)


def _signal_group(child: Child, signum: int) -> None:
    try:
        os.killpg(child.process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(child: Child) -> None:
    if child.process is None:
        return
    _signal_group(child, signal.SIGKILL)
    try:
        child.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
