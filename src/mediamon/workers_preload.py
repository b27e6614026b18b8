"""What the parse workers' fork server runs before it forks any worker (``workers.PRELOAD``
names it first); imported there only, never in mediamon's main process.

    import mediamon.workers_preload    in the fork server, then mediamon.process
      -> numpy's thread pools set to one thread (this process's environment only)
      -> the language detector's model loaded (core.language.warm), the public suffix
         list parsed (core.urls.warm)
      -> before each fork: gc.freeze(), and THREADS_AT_FORK = this process's threads now
      -> in each child that is one of mediamon's workers: no run of the parent's main
         module (_prepare_without_main)

Why load the model here. py3langid's tables and numpy take about 75 MB; loaded by each worker
as it started, they doubled every worker's memory. Loaded once here, each worker shares those
pages with the fork server copy-on-write: the tables are only read, and ``gc.freeze()`` keeps
the collector from writing into the objects made so far (a collection in a worker would
otherwise touch every one of them, and copy the page it is on).

Why one thread. A process that forks must have one thread (see ``workers``), and numpy's import
starts OpenBLAS's thread pool, one thread per core but the caller's. The model multiplies a
few hundred rows at a time, for which one thread is as fast, so the pools' variables are set
to 1 before numpy is imported; the workers inherit them. ``THREADS_AT_FORK`` is this process's
thread count (``/proc/self/task``) just before its last fork: a worker reads the value of its
own fork, and ``workers`` warns if it was more than one.
"""

from __future__ import annotations

import os

# Before anything imports numpy: each library's pool reads its variable once, at load.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
for _variable in THREAD_VARIABLES:
    os.environ[_variable] = "1"

import contextlib  # noqa: E402
import gc  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from multiprocessing import spawn  # noqa: E402
from typing import Any  # noqa: E402

from mediamon.core import language, urls  # noqa: E402

THREADS_AT_FORK = 0  # set just before each fork of this process
# How mediamon's workers are named (workers.WORKER_NAME: that module is not imported here,
# where every import delays the first worker).
WORKER_NAME = "mediamon-worker:"


def thread_count() -> int:
    """This process's threads, C ones included (``threading`` sees only Python's)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc (macOS): Python's threads are all one can count
        import threading

        return threading.active_count()


def _before_fork() -> None:
    global THREADS_AT_FORK
    gc.freeze()  # what exists now is the workers' shared start: no collection moves it
    THREADS_AT_FORK = thread_count()


with contextlib.suppress(Exception):  # a broken model: each worker's own warm() raises it
    language.warm()
urls.warm()
os.register_at_fork(before=_before_fork)


def _prepare_without_main(data: Mapping[str, Any]) -> None:
    """``multiprocessing.spawn.prepare`` for the children of this fork server: one of
    mediamon's workers (``workers.WORKER_NAME``) starts without running the parent's main
    module (see ``workers._WorkerProcess``); any other child as multiprocessing starts it."""
    if str(data.get("name", "")).startswith(WORKER_NAME):
        data = {k: v for k, v in data.items()
                if k not in ("init_main_from_path", "init_main_from_name")}
    _prepare(data)


_prepare = spawn.prepare
spawn.prepare = _prepare_without_main
