"""Runs one of runhub's children and takes its whole process group down with runhub.

``python -m a1111hub.childguard GRACE -- COMMAND...``: runhub starts every child (gunicorn,
each qcluster, the simulator) through this guard, as the leader of a process group the
command and all its descendants (gunicorn's workers, django-q2's sentinel and workers)
share. The kernel sends the guard SIGTERM when runhub dies, even by SIGKILL (Linux's
parent-death signal), and on SIGTERM the guard passes it to the group, waits GRACE
seconds, then kills the group. So no child outlives the hub, and a restarted hub never
runs beside an orphaned cluster. Linux only; elsewhere the guard just runs the command.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int) -> None:
    """Ask the kernel for ``signum`` when our parent exits (Linux's prctl)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)


def stop_group(grace: float) -> None:
    """SIGTERM to the whole group (this guard ignores it), then SIGKILL after ``grace``."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    group = os.getpgrp()
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _others_in_group(group):
        time.sleep(0.05)
    os.killpg(group, signal.SIGKILL)  # the guard too: it is done


def _others_in_group(group: int) -> bool:
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def main(argv: list[str]) -> int:
    grace, separator, *command = argv
    if separator != "--" or not command:
        print("usage: python -m a1111hub.childguard GRACE -- COMMAND...", file=sys.stderr)
        return 2
    parent = os.getppid()
    die_with_parent(signal.SIGTERM)
    if os.getppid() != parent:  # runhub died before the request took effect
        return 1
    signal.signal(signal.SIGTERM, lambda *_: stop_group(float(grace)))
    signal.signal(signal.SIGINT, lambda *_: stop_group(float(grace)))
    child = subprocess.Popen(command)  # in this guard's process group
    while True:
        try:
            return child.wait()
        except InterruptedError:
            continue


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
