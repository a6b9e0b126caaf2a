"""The one pooled upstream HTTP client of a process.

aiohttp rather than httpx: measured about three times faster under
concurrency on this stack (ARCHITECTURE.md). A session is bound to the event
loop it was made on, so there is one per loop; an ASGI server runs one loop
per process, so in practice one per process.
"""

from __future__ import annotations

import asyncio
import weakref

import aiohttp
from django.conf import settings

_sessions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def upstream_session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(
            limit=settings.UPSTREAM_MAX_CONNECTIONS,
            limit_per_host=0,
            ttl_dns_cache=300,
            keepalive_timeout=60,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            # Per request timeouts (ClientTimeout) replace this default.
            timeout=aiohttp.ClientTimeout(total=None),
            # Streams are forwarded as they come; compression would make
            # intermediaries buffer them.
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )
        _sessions[loop] = session
    return session


def upstream_timeout(read_seconds: float) -> aiohttp.ClientTimeout:
    """No overall limit (a reasoning stream can run for many minutes); a
    bound on connecting and on silence between two reads."""
    return aiohttp.ClientTimeout(
        total=None,
        connect=None,
        sock_connect=settings.UPSTREAM_CONNECT_TIMEOUT_SECONDS,
        sock_read=read_seconds,
    )
