"""The per-key and per-user limiter, on Redis (when REDIS_URL is set) and
on the in-process table, with a controlled clock."""

import asyncio
import itertools
import os
import threading

import pytest

from accounts.selectors import KeyPrincipal
from gateway.ratelimit import (
    RateLimitResult,
    rate_limit_headers,
    rate_limit_hit,
    rate_limit_hit_sync,
    rate_limit_reset_local,
)

HOUR_MS = 3_600_000
# A fixed instant at the very start of a window, so tests control elapsed time.
T0 = 1_900_000 * HOUR_MS
_ids = itertools.count(1000)

BACKENDS = ["local"] + (["redis"] if os.environ.get("REDIS_URL") else [])


@pytest.fixture(params=BACKENDS)
def backend(request, settings):
    if request.param == "local":
        settings.REDIS_URL = ""
    rate_limit_reset_local()
    yield request.param
    rate_limit_reset_local()


def principal(*, user_id=None, key_limit=None, user_limit=None) -> KeyPrincipal:
    return KeyPrincipal(
        key_id=next(_ids),
        user_id=user_id if user_id is not None else next(_ids),
        key_hash="x",
        allowed_models=frozenset(),
        spend_limit_micros=None,
        spend_limit_period="month",
        key_rate_limit_per_hour=key_limit,
        user_rate_limit_per_hour=user_limit,
        expires_at=None,
    )


def test_counts_down_then_refuses_with_retry_after(backend):
    p = principal(key_limit=3, user_limit=100)
    results = [rate_limit_hit_sync(principal=p, now_ms=T0 + i) for i in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results[:3]] == [2, 1, 0]
    assert all(r.limit == 3 for r in results)
    refused = results[3]
    # The three requests keep counting through this window and then fade
    # over the next one: 3 × (1 - x) + 1 <= 3 once x = 1/3, 20 minutes in.
    assert refused.retry_after == 3600 + 1200
    headers = rate_limit_headers(refused)
    assert headers["X-RateLimit-Limit"] == "3"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert headers["Retry-After"] == str(refused.retry_after)
    assert int(headers["X-RateLimit-Reset"]) >= (T0 + HOUR_MS) // 1000
    assert "Retry-After" not in rate_limit_headers(results[0])


def test_refused_requests_are_not_counted(backend):
    p = principal(key_limit=2, user_limit=0)
    for _ in range(2):
        assert rate_limit_hit_sync(principal=p, now_ms=T0).allowed
    for _ in range(5):
        assert not rate_limit_hit_sync(principal=p, now_ms=T0).allowed
    # In the next window the previous count weighs (1 - elapsed share): a
    # quarter in, 2 × 0.75 + 1 > 2, and the answer says when it will fit.
    quarter = T0 + HOUR_MS + HOUR_MS // 4
    refused = rate_limit_hit_sync(principal=p, now_ms=quarter)
    assert not refused.allowed and refused.retry_after == 900
    half = T0 + HOUR_MS + HOUR_MS // 2
    assert rate_limit_hit_sync(principal=p, now_ms=half).allowed
    refused = rate_limit_hit_sync(principal=p, now_ms=half)
    # 2 × (1 - x) + 1 + 1 <= 2 needs x = 1: the rest of this window.
    assert not refused.allowed and refused.retry_after == 1800


def test_sliding_window_frees_capacity_gradually(backend):
    p = principal(key_limit=10, user_limit=0)
    for _ in range(10):
        assert rate_limit_hit_sync(principal=p, now_ms=T0 + HOUR_MS - 1000).allowed
    # Half-way through the next window half of those 10 still count.
    half = T0 + 2 * HOUR_MS - HOUR_MS // 2
    allowed = [rate_limit_hit_sync(principal=p, now_ms=half).allowed for _ in range(10)]
    assert allowed == [True] * 5 + [False] * 5
    # Two windows on, everything has expired.
    later = T0 + 3 * HOUR_MS
    assert rate_limit_hit_sync(principal=p, now_ms=later).remaining == 9


def test_keys_of_one_user_share_the_user_quota(backend):
    a = principal(user_id=77, key_limit=100, user_limit=3)
    b = principal(user_id=77, key_limit=100, user_limit=3)
    assert rate_limit_hit_sync(principal=a, now_ms=T0).allowed
    assert rate_limit_hit_sync(principal=b, now_ms=T0).allowed
    last = rate_limit_hit_sync(principal=a, now_ms=T0)
    assert last.allowed and last.remaining == 0 and last.limit == 3
    refused = rate_limit_hit_sync(principal=b, now_ms=T0)
    assert not refused.allowed and refused.limit == 3
    # Another user's key is untouched.
    assert rate_limit_hit_sync(principal=principal(key_limit=100, user_limit=3), now_ms=T0).allowed


def test_refusal_by_one_scope_does_not_count_in_the_other(backend):
    user_id = next(_ids)
    tight = principal(user_id=user_id, key_limit=1, user_limit=5)
    other = principal(user_id=user_id, key_limit=100, user_limit=5)
    assert rate_limit_hit_sync(principal=tight, now_ms=T0).allowed
    for _ in range(3):
        refused = rate_limit_hit_sync(principal=tight, now_ms=T0)
        assert not refused.allowed and refused.limit == 1
    # Only the one admitted request used the user's quota of 5.
    assert rate_limit_hit_sync(principal=other, now_ms=T0).remaining == 3


def test_defaults_come_from_settings(backend, settings):
    settings.RATE_LIMIT_KEY_PER_HOUR = 1000
    settings.RATE_LIMIT_USER_PER_HOUR = 5000
    result = rate_limit_hit_sync(principal=principal(), now_ms=T0)
    assert (result.limit, result.remaining) == (1000, 999)
    settings.RATE_LIMIT_KEY_PER_HOUR = 0
    settings.RATE_LIMIT_USER_PER_HOUR = 0
    unlimited = rate_limit_hit_sync(principal=principal(), now_ms=T0)
    assert unlimited.allowed


def test_async_and_sync_share_counts(backend):
    p = principal(key_limit=4, user_limit=0)

    async def two():
        return [await rate_limit_hit(principal=p, now_ms=T0) for _ in range(2)]

    first = asyncio.run(two())
    assert [r.remaining for r in first] == [3, 2]
    assert isinstance(first[0], RateLimitResult)
    assert rate_limit_hit_sync(principal=p, now_ms=T0).remaining == 1


def test_concurrent_hits_admit_exactly_the_limit(backend):
    p = principal(key_limit=25, user_limit=0)
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(10)

    def worker():
        barrier.wait()
        for _ in range(5):
            allowed = rate_limit_hit_sync(principal=p, now_ms=T0).allowed
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 25
    assert results.count(False) == 25


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")
def test_redis_counts_are_shared_across_processes():
    """A second process sees the counts of the first."""
    import subprocess
    import sys

    p = principal(key_limit=5, user_limit=0)
    for _ in range(3):
        rate_limit_hit_sync(principal=p, now_ms=T0)
    script = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'hypereal_site.settings'); django.setup()\n"
        "from accounts.selectors import KeyPrincipal\n"
        "from gateway.ratelimit import rate_limit_hit_sync\n"
        f"p = KeyPrincipal(key_id={p.key_id}, user_id={p.user_id}, key_hash='x', allowed_models=frozenset(),"
        " spend_limit_micros=None, spend_limit_period='month', key_rate_limit_per_hour=5,"
        " user_rate_limit_per_hour=0, expires_at=None)\n"
        f"print(rate_limit_hit_sync(principal=p, now_ms={T0}).remaining)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.strip().splitlines()[-1] == "1"
