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


def test_corpus_workload_serves_every_feed_file(tmp_path: Path) -> None:
    """``workload.corpus``: one document per feed file at its quoted relative path; the
    licence and provenance files are not feeds."""
    import workload

    (tmp_path / "suite one").mkdir()
    (tmp_path / "suite one" / "a feed.xml").write_bytes(
        b"<rss><channel><item/><item/></channel></rss>")
    (tmp_path / "b.json").write_bytes(b'{"items": [{"id": "1"}]}')
    (tmp_path / "LICENSE").write_text("not a feed")
    docs = {d.path: d for d in workload.corpus(tmp_path)}
    assert set(docs) == {"/suite%20one/a%20feed.xml", "/b.json"}
    assert docs["/suite%20one/a%20feed.xml"].items == 2
    assert docs["/b.json"].content_type == "application/feed+json"
    assert workload.corpus(tmp_path / "absent") == []


def test_sequential_baseline_stores_entries_without_id_or_link(tmp_path: Path) -> None:
    """Real feeds have entries with neither id nor link; the baseline loop stores them
    (by their place in the feed) instead of failing the whole run."""
    import http.server
    import threading

    body = (b"<rss version='2.0'><channel><title>t</title>"
            b"<item><title>one</title></item><item><title>two</title></item></channel></rss>")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
        result = systems.run_sequential([url], tmp_path)()
    finally:
        server.shutdown()
        server.server_close()
    assert result["stored"] == 2
