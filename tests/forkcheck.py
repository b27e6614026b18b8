"""Catch every ``os.fork()`` made while other threads run (the deadlock at a worker's birth).

``install()`` registers a hook that Python runs just before each ``os.fork()`` in this
process (``multiprocessing``'s fork start method goes through it; ``subprocess`` and the
fork server's fork+exec do not, and need not: they exec at once). The conftest installs it
for the whole suite and fails any test during which such a fork happened.
"""

from __future__ import annotations

import os
import threading
import traceback

FORKS_WITH_THREADS: list[str] = []
_installed = False


def _before_fork() -> None:
    if threading.active_count() > 1:
        names = ", ".join(sorted(t.name for t in threading.enumerate()))
        FORKS_WITH_THREADS.append(
            f"fork() with {threading.active_count()} threads ({names}) at:\n"
            + "".join(traceback.format_stack(limit=15)[:-1]))


def install() -> None:
    global _installed
    if not _installed:
        os.register_at_fork(before=_before_fork)
        _installed = True
