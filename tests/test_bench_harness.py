"""The benchmark harness charges mediamon for its parse workers: they are forked by a fork
server, so they are grandchildren of the measured process, and their CPU reaches it only
through the fork server that reaped them."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import systems  # noqa: E402  (benchmarks/ is not a package)

from mediamon.workers import WorkerPool  # noqa: E402

BURN = 0.5  # CPU seconds each worker spends


def burn(seconds: float) -> float:
    """Spend ``seconds`` of CPU in the calling process."""
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass
    return seconds


def test_cold_cpu_counts_the_fork_servers_workers() -> None:
    """Two workers each burning half a CPU second add at least a second to ``_cpu``."""
    before = systems._cpu()

    async def run() -> None:
        pool = WorkerPool(2)
        try:
            await asyncio.gather(*(pool.run(burn, BURN) for _ in range(2)))
        finally:
            pool.close()

    asyncio.run(run())
    assert systems._cpu() - before >= 2 * BURN


def test_descendants_reach_the_workers() -> None:
    """While a pool runs, its workers are among the process's descendants."""

    async def run() -> tuple[list[int], list[int]]:
        pool = WorkerPool(1)
        try:
            await pool.run(burn, 0.0)
            return pool.pids(), systems.descendants()
        finally:
            pool.close()

    workers, found = asyncio.run(run())
    assert workers and set(workers) <= set(found)
