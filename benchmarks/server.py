"""A lean loopback HTTP/1.1 server for the benchmark workload, meant to run in its own process.

    python benchmarks/server.py --feeds 500 --items 50 --seed 1 --hosts 50 --latency 0

It generates the workload (``workload.generate``) into memory, listens on ``--hosts``
ephemeral ports of 127.0.0.1 (one "host" each, so per-host connection limits behave as they
would across many sites; feed ``i`` is served by port ``i % hosts``), and prints one JSON
line on stdout: ``{"urls": [...], "bytes": ..., "items": ..., "stats": "http://..."}``.

Every feed answers 200 with an ETag, or 304 when ``If-None-Match`` matches. With
``--changing N`` every feed moves on between the cold poll and the re-poll: after ``GET
/__reset?phase=repoll`` it serves its ``later`` body (N newer entries, the N oldest gone,
another ETag), after any other reset the first one again. ``--latency MS``
delays every response (asyncio, so one slow answer never holds up another). Connections are
kept alive. ``GET /__stats`` returns the status counts and this process's CPU seconds since
the last ``GET /__reset``; neither is counted. It stops on SIGTERM/SIGINT or when stdin closes.

Not a general web server: GET only, no TLS, no chunked requests, no Last-Modified.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import sys
from collections import Counter

import workload

REASONS = {200: "OK", 304: "Not Modified", 404: "Not Found", 405: "Method Not Allowed"}


def target_query(target: str) -> str:
    return target.partition("?")[2]


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class FeedServer:
    def __init__(self, docs: list[workload.Document], latency: float) -> None:
        self.docs = {d.path: d for d in docs}
        self.latency = latency
        self.later = False  # serving the documents' later bodies (the re-poll of --changing)
        self.counts: Counter[int] = Counter()
        self.cpu_mark = _cpu()

    def stats(self) -> dict[str, object]:
        return {"status": dict(self.counts), "cpu": round(_cpu() - self.cpu_mark, 3)}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                code, extra, body = await self.respond(method, target, headers)
                close = headers.get("connection", "").lower() == "close"
                out = [f"HTTP/1.1 {code} {REASONS[code]}", f"Content-Length: {len(body)}"]
                out += [f"{k}: {v}" for k, v in extra.items()]
                if close:
                    out.append("Connection: close")
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
                if method != "HEAD" and code != 304:
                    writer.write(body)
                await writer.drain()
                if close:
                    return
        except ConnectionError:
            return
        finally:
            writer.close()

    async def respond(self, method: str, target: str, headers: dict[str, str]
                      ) -> tuple[int, dict[str, str], bytes]:
        path = target.split("?", 1)[0]
        if path == "/__stats":
            return 200, {"Content-Type": "application/json"}, json.dumps(self.stats()).encode()
        if path == "/__reset":
            self.later = target_query(target) == "phase=repoll"
            self.counts.clear()
            self.cpu_mark = _cpu()
            return 200, {}, b""
        if self.latency:
            await asyncio.sleep(self.latency)
        doc = self.docs.get(path)
        if method not in ("GET", "HEAD"):
            code, extra, body = 405, {}, b""
        elif doc is None:
            code, extra, body = 404, {}, b"not found"
        else:
            served = doc.later if self.later and doc.later is not None else doc.body
            etag = doc.etag if served is doc.body else workload.etag_of(served)
            extra = {"Content-Type": doc.content_type, "ETag": etag}
            sent = headers.get("if-none-match", "").split(",")
            tags = {t.strip().removeprefix("W/") for t in sent}
            code, body = (304, b"") if etag in tags else (200, served)
        self.counts[code] += 1
        return code, extra, body


async def serve(args: argparse.Namespace) -> None:
    if args.shape == "corpus":  # the real feed files of ../shared, not generated
        docs = workload.corpus()
        if not docs:
            sys.exit(f"no feed corpus at {workload.CORPUS}")
    else:
        docs = workload.generate(args.feeds, args.items, args.seed, args.shape, args.changing)
    app = FeedServer(docs, args.latency / 1000)
    servers = [await asyncio.start_server(app.handle, "127.0.0.1", 0, backlog=1024)
               for _ in range(max(1, min(args.hosts, len(docs))))]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    urls = [f"http://127.0.0.1:{ports[i % len(ports)]}{d.path}" for i, d in enumerate(docs)]
    print(json.dumps({
        "urls": urls,
        "bytes": sum(len(d.body) for d in docs),
        "items": sum(d.items for d in docs),
        "stats": f"http://127.0.0.1:{ports[0]}",
    }), flush=True)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1() or stop.set())
    await stop.wait()
    for s in servers:
        s.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shape", choices=[*sorted(workload.SHAPES), "corpus"],
                        default="default",
                        help="the kind of items (workload.SHAPES), or corpus: every file of "
                             "../shared/corpus/feeds as it is (--feeds and --items unused)")
    parser.add_argument("--hosts", type=int, default=50, help="listening ports (default 50)")
    parser.add_argument("--latency", type=float, default=0, help="ms before each response")
    parser.add_argument("--changing", type=int, default=0, metavar="N",
                        help="N new entries per feed on the re-poll (workload.generate)")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
