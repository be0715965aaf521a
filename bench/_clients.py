"""Clients of a balancer from many loopback addresses (all of 127/8 is this machine): addresses that the
balancer's hash spreads evenly over its replicas, read back from its access log (bench/bench_cluster.py),
and Streamlit page sessions: GET / then the websocket, and the home page run to its end."""

from __future__ import annotations

import asyncio
import http.client
import time
import urllib.request
from pathlib import Path


async def page_session(port: int, source: str) -> float:
    """One visitor: GET /, then the websocket and one run of the home page; seconds taken."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
    page = await reader.read()
    writer.close()
    if not page.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(page[:100])
    async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                  origin=f"http://127.0.0.1:{port}", max_size=None, local_addr=(source, 0)) as ws:
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        await ws.send(rerun.SerializeToString())
        while True:
            message = ForwardMsg()
            message.ParseFromString(await ws.recv())
            if message.WhichOneof("type") == "script_finished":
                if message.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                    raise RuntimeError(f"the page ended with status {message.script_finished}")
                return time.perf_counter() - t0


def sessions(port: int, sources: list[str], seconds: float) -> dict:
    """Each source a visitor, one session after another for ``seconds``; sessions finished per second."""
    async def visitor(source: str, times: list[float], failures: list[str], stop_at: float) -> None:
        while time.perf_counter() < stop_at:
            try:
                times.append(await asyncio.wait_for(page_session(port, source), 120))
            except Exception as e:  # noqa: BLE001 - counted and shown
                failures.append(f"{type(e).__name__}: {e}"[:200])

    async def run() -> dict:
        times: list[float] = []
        failures: list[str] = []
        t0 = time.perf_counter()
        await asyncio.gather(*(visitor(s, times, failures, t0 + seconds) for s in sources))
        wall = time.perf_counter() - t0
        times.sort()
        return {"visitors": len(sources), "sessions": len(times), "seconds": round(wall, 1),
                "per_second": round(len(times) / wall, 2), "failures": len(failures), "first_failures": failures[:3],
                "p50_s": round(times[len(times) // 2], 2) if times else None,
                "p95_s": round(times[int(0.95 * (len(times) - 1))], 2) if times else None}

    return asyncio.run(run())


def _from(source: str, url: str):
    """GET ``url`` from the loopback address ``source``."""
    class Connection(http.client.HTTPConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, source_address=(source, 0), **kwargs)

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(Connection, req)

    return urllib.request.build_opener(Handler).open(url, timeout=30)


def spread_sources(port: int, replicas: int, clients: int, access_log: Path | None) -> list[str]:
    """``clients`` loopback addresses the balancer sends to the replicas in turn (as evenly as possible)."""
    candidates = [f"127.0.0.{n}" for n in range(10, 250)]
    if access_log is None or replicas == 1:
        return candidates[:clients]
    by_replica: dict[str, list[str]] = {}
    for source in candidates:
        by_replica.setdefault(_upstream_of_request(port, source, access_log), []).append(source)
        if len(by_replica) == replicas and min(len(v) for v in by_replica.values()) >= -(-clients // replicas):
            break
    lists = list(by_replica.values())
    return [lists[c % replicas][c // replicas] for c in range(clients)]


def _upstream_of_request(port: int, source: str, access_log: Path) -> str:
    """The replica (host:port) the balancer sent a request from ``source`` to, by its access log."""
    lines = len(access_log.read_text().splitlines())
    with _from(source, f"http://127.0.0.1:{port}/_stcore/health"):
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logged = access_log.read_text().splitlines()
        if len(logged) > lines:
            return logged[-1].split("upstream=")[1].split()[0]
        time.sleep(0.05)
    raise RuntimeError("the balancer did not log the request")


def count_by_replica(port: int, sources: list[str], access_log: Path) -> list[int]:
    """How many of ``sources`` the balancer sends to each replica."""
    counts: dict[str, int] = {}
    for source in sources:
        upstream = _upstream_of_request(port, source, access_log)
        counts[upstream] = counts.get(upstream, 0) + 1
    return list(counts.values())


def free_run(count: int) -> int:
    """A port such that it and the ``count - 1`` after it are free on 127.0.0.1."""
    import socket

    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count >= 65536:
            continue
        taken = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                taken.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in taken:
                s.close()
