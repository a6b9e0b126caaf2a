"""Throughput sanity check (not a test).

Starts one simulator process (unless ``--url`` is given) and hammers it with
aiohttp clients, then prints requests/s::

    python -m simulator.loadcheck                      # non-streaming chat, 5 s
    python -m simulator.loadcheck --kind stream --seconds 10 --concurrency 128
    python -m simulator.loadcheck --url http://127.0.0.1:8100 --clients 2

The client side can be spread over several processes (``--clients``) so the
Python client is less likely to be the bottleneck than the server.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
import urllib.request

BODIES = {
    "chat": (
        "/openai/v1/chat/completions",
        b'{"model":"gpt-5.5","messages":[{"role":"user","content":"Hello there, how are you?"}]}',
    ),
    "stream": (
        "/openai/v1/chat/completions",
        b'{"model":"gpt-5.5","stream":true,"stream_options":{"include_usage":true},'
        b'"messages":[{"role":"user","content":"Hello there, how are you?"}]}',
    ),
    "anthropic": (
        "/anthropic/v1/messages",
        b'{"model":"claude-sonnet-4-6","max_tokens":256,"messages":[{"role":"user","content":"Hello there"}]}',
    ),
    "gemini": (
        "/gemini/v1beta/models/gemini-2.5-flash:generateContent",
        b'{"contents":[{"role":"user","parts":[{"text":"Hello there"}]}]}',
    ),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _client(url: str, body: bytes, seconds: float, concurrency: int) -> tuple[int, int]:
    import aiohttp

    headers = {
        "Authorization": "Bearer sk-load",
        "x-api-key": "sk-load",
        "x-goog-api-key": "sk-load",
        "Content-Type": "application/json",
    }
    ok = errors = 0
    deadline = time.monotonic() + seconds
    conn = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker() -> None:
            nonlocal ok, errors
            while time.monotonic() < deadline:
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status == 200:
                            ok += 1
                        else:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, errors


def _client_proc(url: str, body: bytes, seconds: float, concurrency: int, q) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    q.put(asyncio.run(_client(url, body, seconds, concurrency)))


def _cpu_seconds(pid: int) -> float | None:
    """utime+stime of a process (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="existing simulator base URL (default: start one)")
    ap.add_argument("--kind", choices=sorted(BODIES), default="chat")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=64, help="in-flight requests per client process")
    ap.add_argument("--clients", type=int, default=1, help="client processes")
    ap.add_argument("--pid", type=int, help="simulator pid (with --url) to report its CPU time")
    args = ap.parse_args(argv)

    proc = None
    base = args.url
    if base is None:
        port = _free_port()
        env = dict(os.environ)
        env.pop("SIM_API_KEY", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=0.5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        else:
            proc.kill()
            raise SystemExit("simulator did not start")
    path, body = BODIES[args.kind]
    url = base + path
    try:
        # short warm-up
        asyncio.run(_client(url, body, 0.5, 8))
        q: mp.Queue = mp.Queue()
        procs = [
            mp.Process(target=_client_proc, args=(url, body, args.seconds, args.concurrency, q))
            for _ in range(args.clients)
        ]
        server_pid = proc.pid if proc is not None else args.pid
        cpu0 = _cpu_seconds(server_pid) if server_pid else None
        t0 = time.monotonic()
        for p in procs:
            p.start()
        results = [q.get() for _ in procs]
        for p in procs:
            p.join()
        elapsed = time.monotonic() - t0
        cpu1 = _cpu_seconds(server_pid) if server_pid else None
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    print(
        f"kind={args.kind} clients={args.clients}x{args.concurrency} seconds={args.seconds:.1f} "
        f"ok={ok} errors={errors} -> {ok / args.seconds:,.0f} req/s "
        f"(wall {elapsed:.1f}s, 1 simulator process, {os.cpu_count()} CPUs)"
    )
    if cpu0 is not None and cpu1 is not None and ok:
        used = cpu1 - cpu0
        per_req = used / ok
        print(
            f"simulator CPU: {used:.2f}s = {per_req * 1e6:.0f} us/request "
            f"(~{1 / per_req:,.0f} req/s per fully used core; if this is far above the measured "
            f"rate, the load generator, not the simulator, was the limit)"
        )


if __name__ == "__main__":
    main()
