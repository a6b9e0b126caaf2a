"""Request rate limits per API key and per user over a rolling hour.

A sliding-window counter: each scope (key, user) keeps a count for the
current fixed window and the previous one, and the rolling count is
`previous × (unexpired share of the previous window) + current`. That is
two integers per scope instead of one timestamp per request, and it is
accurate to within the spread of requests inside one window.

With Redis (REDIS_URL) both scopes are checked and counted in one round
trip by a Lua script, so every process shares the same counts and a request
is counted in both scopes or in neither. Without Redis the same arithmetic
runs on an in-process table (one process, e.g. `make run` without Redis).
A rejected request is not counted, so a client that keeps retrying through
a 429 is let in again as soon as the window allows.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import weakref
from dataclasses import dataclass

from django.conf import settings

from accounts.selectors import KeyPrincipal

logger = logging.getLogger(__name__)

REDIS_KEY_PREFIX = "hr:rl"

# KEYS: key scope (previous, current), user scope (previous, current).
# ARGV: key limit, user limit, window ms, ms elapsed in the current window.
# A limit of 0 turns its scope off. Returns {allowed, kp, kc, up, uc} with
# the current counts after this request was (or was not) counted.
_LUA = """
local window = tonumber(ARGV[3])
local elapsed = tonumber(ARGV[4])
local out = {1, 0, 0, 0, 0}
for i = 0, 1 do
  local limit = tonumber(ARGV[1 + i])
  if limit > 0 then
    local prev = tonumber(redis.call('GET', KEYS[1 + 2 * i]) or '0')
    local cur = tonumber(redis.call('GET', KEYS[2 + 2 * i]) or '0')
    out[2 + 2 * i] = prev
    out[3 + 2 * i] = cur
    if prev * (window - elapsed) + (cur + 1) * window > limit * window then
      out[1] = 0
    end
  end
end
if out[1] == 1 then
  for i = 0, 1 do
    if tonumber(ARGV[1 + i]) > 0 then
      out[3 + 2 * i] = redis.call('INCR', KEYS[2 + 2 * i])
      redis.call('PEXPIRE', KEYS[2 + 2 * i], 2 * window)
    end
  end
end
return out
"""


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    # Epoch second at which the scope's full quota is back if no more requests come.
    reset_at: int
    # Seconds until one more request would be admitted (0 when allowed).
    retry_after: int


def rate_limit_headers(result: RateLimitResult) -> dict[str, str]:
    headers = {
        "X-RateLimit-Limit": str(result.limit),
        "X-RateLimit-Remaining": str(result.remaining),
        "X-RateLimit-Reset": str(result.reset_at),
    }
    if not result.allowed:
        headers["Retry-After"] = str(result.retry_after)
    return headers


# --- the arithmetic (shared by the Redis and in-process paths) ---------------


def _window_ms() -> int:
    return int(settings.RATE_LIMIT_WINDOW_SECONDS * 1000)


def _limits(principal: KeyPrincipal) -> tuple[int, int]:
    key_limit = principal.key_rate_limit_per_hour
    user_limit = principal.user_rate_limit_per_hour
    if key_limit is None:
        key_limit = settings.RATE_LIMIT_KEY_PER_HOUR
    if user_limit is None:
        user_limit = settings.RATE_LIMIT_USER_PER_HOUR
    return int(key_limit or 0), int(user_limit or 0)


def _scope_result(
    *, allowed: bool, limit: int, prev: int, cur: int, now_ms: int, window: int, elapsed: int
) -> RateLimitResult:
    """Remaining, reset and retry-after for one scope, from its two counts
    (cur includes this request when it was allowed)."""
    used_scaled = prev * (window - elapsed) + cur * window
    remaining = max(0, limit - math.ceil(used_scaled / window))
    window_end = now_ms - elapsed + window
    if cur > 0:
        reset_ms = window_end + window
    elif prev > 0:
        reset_ms = window_end
    else:
        reset_ms = now_ms
    retry_ms = 0
    if not allowed:
        retry_ms = _admit_after_ms(limit=limit, prev=prev, cur=cur, window=window, elapsed=elapsed)
    return RateLimitResult(
        allowed=allowed,
        limit=limit,
        remaining=remaining,
        reset_at=math.ceil(reset_ms / 1000),
        retry_after=math.ceil(retry_ms / 1000) if retry_ms > 0 else (0 if allowed else 1),
    )


def _admit_after_ms(*, limit: int, prev: int, cur: int, window: int, elapsed: int) -> int:
    """Milliseconds until `prev*(window-elapsed) + (cur+1)*window <= limit*window`."""
    if cur + 1 <= limit and prev > 0:
        # Still inside this window: wait for enough of the previous one to expire.
        needed_elapsed = window - (limit - cur - 1) * window / prev
        if needed_elapsed < window:
            return max(0, math.ceil(needed_elapsed - elapsed))
    # Next window: the current count becomes the previous one.
    wait = window - elapsed
    if cur > 0 and cur > limit - 1:
        wait += math.ceil(window - (limit - 1) * window / cur)
    return wait


def _combine(results: list[RateLimitResult]) -> RateLimitResult:
    """The binding scope: a refusing one (longest wait), else the one with
    the fewest requests left."""
    refused = [r for r in results if not r.allowed]
    if refused:
        return max(refused, key=lambda r: r.retry_after)
    return min(results, key=lambda r: (r.remaining, r.limit))


def _unlimited(now_ms: int) -> RateLimitResult:
    return RateLimitResult(allowed=True, limit=0, remaining=0, reset_at=now_ms // 1000, retry_after=0)


def _results(*, allowed: bool, counts: list[int], limits: tuple[int, int], now_ms: int, window: int) -> RateLimitResult:
    elapsed = now_ms % window
    scoped = []
    for i, limit in enumerate(limits):
        if limit <= 0:
            continue
        prev, cur = counts[2 * i], counts[2 * i + 1]
        # When the request was refused, a scope that had room is reported as
        # such; only the scopes that refused decide Retry-After.
        fits = allowed or prev * (window - elapsed) + (cur + 1) * window <= limit * window
        scoped.append(
            _scope_result(allowed=fits, limit=limit, prev=prev, cur=cur, now_ms=now_ms, window=window, elapsed=elapsed)
        )
    return _combine(scoped)


def _redis_keys(principal: KeyPrincipal, bucket: int) -> list[str]:
    return [
        f"{REDIS_KEY_PREFIX}:k:{principal.key_id}:{bucket - 1}",
        f"{REDIS_KEY_PREFIX}:k:{principal.key_id}:{bucket}",
        f"{REDIS_KEY_PREFIX}:u:{principal.user_id}:{bucket - 1}",
        f"{REDIS_KEY_PREFIX}:u:{principal.user_id}:{bucket}",
    ]


# --- in-process counting (no Redis, or Redis unreachable) --------------------


class _LocalCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._bucket = 0

    def hit(self, keys: list[str], limits: tuple[int, int], window: int, elapsed: int, bucket: int) -> list[int]:
        with self._lock:
            if bucket != self._bucket:
                # Keep only the two windows the arithmetic reads.
                keep = (f":{bucket - 1}", f":{bucket}")
                self._counts = {k: v for k, v in self._counts.items() if k.endswith(keep)}
                self._bucket = bucket
            out = [1, 0, 0, 0, 0]
            for i, limit in enumerate(limits):
                if limit > 0:
                    prev = self._counts.get(keys[2 * i], 0)
                    cur = self._counts.get(keys[2 * i + 1], 0)
                    out[1 + 2 * i], out[2 + 2 * i] = prev, cur
                    if prev * (window - elapsed) + (cur + 1) * window > limit * window:
                        out[0] = 0
            if out[0]:
                for i, limit in enumerate(limits):
                    if limit > 0:
                        self._counts[keys[2 * i + 1]] = out[2 + 2 * i] = out[2 + 2 * i] + 1
            return out

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


_local = _LocalCounter()


# --- Redis clients (one per process; the asyncio one per event loop) ---------

_sync_client = None
_sync_script = None
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_client_lock = threading.Lock()


def _sync_redis():
    global _sync_client, _sync_script
    if _sync_client is None:
        import redis

        with _client_lock:
            if _sync_client is None:
                client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
                _sync_script = client.register_script(_LUA)
                _sync_client = client
    return _sync_script


def _async_redis():
    loop = asyncio.get_running_loop()
    script = _async_clients.get(loop)
    if script is None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        script = client.register_script(_LUA)
        _async_clients[loop] = script
    return script


def _prepare(principal: KeyPrincipal, now_ms: int | None):
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    window = _window_ms()
    bucket, elapsed = divmod(now_ms, window)
    return now_ms, window, bucket, elapsed, _limits(principal), _redis_keys(principal, bucket)


def _finish(raw, *, limits, now_ms, window) -> RateLimitResult:
    raw = [int(x) for x in raw]
    return _results(allowed=bool(raw[0]), counts=raw[1:], limits=limits, now_ms=now_ms, window=window)


async def rate_limit_hit(*, principal: KeyPrincipal, now_ms: int | None = None) -> RateLimitResult:
    """Count one request for the key and its user, or refuse it. One Redis
    round trip; no database access."""
    now_ms, window, bucket, elapsed, limits, keys = _prepare(principal, now_ms)
    if not any(limits):
        return _unlimited(now_ms)
    raw = None
    if settings.REDIS_URL:
        try:
            raw = await _async_redis()(keys=keys, args=[limits[0], limits[1], window, elapsed])
        except Exception as exc:  # a Redis outage must not take the API down
            logger.warning("rate limiter: Redis unavailable (%s); counting in-process", exc)
    if raw is None:
        raw = _local.hit(keys, limits, window, elapsed, bucket)
    return _finish(raw, limits=limits, now_ms=now_ms, window=window)


def rate_limit_hit_sync(*, principal: KeyPrincipal, now_ms: int | None = None) -> RateLimitResult:
    """The same as rate_limit_hit, for synchronous callers."""
    now_ms, window, bucket, elapsed, limits, keys = _prepare(principal, now_ms)
    if not any(limits):
        return _unlimited(now_ms)
    raw = None
    if settings.REDIS_URL:
        try:
            raw = _sync_redis()(keys=keys, args=[limits[0], limits[1], window, elapsed])
        except Exception as exc:
            logger.warning("rate limiter: Redis unavailable (%s); counting in-process", exc)
    if raw is None:
        raw = _local.hit(keys, limits, window, elapsed, bucket)
    return _finish(raw, limits=limits, now_ms=now_ms, window=window)


def rate_limit_reset_local() -> None:
    """Forget in-process counts (tests; Redis counts go with its database)."""
    _local.clear()
