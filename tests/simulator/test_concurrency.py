"""The simulator holds 1,000 simultaneous slow streams in one process."""

from __future__ import annotations

import asyncio
import time

import aiohttp

N_STREAMS = 1000


async def _one(session: aiohttp.ClientSession, url: str, i: int) -> int:
    body = {"model": "gpt-5.5", "stream": True, "messages": [{"role": "user", "content": f"stream {i}"}]}
    headers = {"Authorization": "Bearer k", "X-Sim-Fault": "tokens_per_s=8;tokens=8"}
    tokens = 0
    async with session.post(url, json=body, headers=headers) as resp:
        assert resp.status == 200
        async for line in resp.content:
            if line.startswith(b"data: ") and b'"content":"' in line and b'"content":""' not in line:
                tokens += 1
    return tokens


async def _run(sim: str) -> tuple[list[int], float]:
    url = f"{sim}/openai/v1/chat/completions"
    conn = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        t0 = time.monotonic()
        results = await asyncio.gather(*(_one(session, url, i) for i in range(N_STREAMS)))
        return results, time.monotonic() - t0


def test_thousand_concurrent_slow_streams(sim):
    results, elapsed = asyncio.run(_run(sim))
    assert results == [8] * N_STREAMS
    # each stream lasts ~1 s (8 tokens at 8/s); run concurrently they must not serialise
    assert elapsed >= 0.9
    assert elapsed < 15, f"1000 slow streams took {elapsed:.1f}s"
