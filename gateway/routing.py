"""Which upstream routes a request tries, in what order, and route health.

Routes of a model are tried by priority (lower first); routes of equal
priority are ordered by a weighted random draw, so traffic splits by weight.
A route that failed N times in a row cools down for a while and is skipped;
when every route is cooling, the one that cools down first is tried anyway
(a single probe), so a model is never refused on stale health alone.

Health is per process: it reacts within a few requests and costs no
round trip on the hot path.
"""

from __future__ import annotations

import random
import threading
import time
from itertools import groupby

from django.conf import settings

from catalog.selectors import RouteView

_lock = threading.Lock()
_failures: dict[int, int] = {}
_cool_until: dict[int, float] = {}


def _weighted_order(routes: list[RouteView]) -> list[RouteView]:
    pool = list(routes)
    ordered = []
    while pool:
        weights = [max(r.weight, 0) or 0.0001 for r in pool]
        pick = random.choices(range(len(pool)), weights=weights)[0]
        ordered.append(pool.pop(pick))
    return ordered


def route_order(routes: tuple[RouteView, ...], *, now: float | None = None) -> list[RouteView]:
    now = time.monotonic() if now is None else now
    ordered: list[RouteView] = []
    for _, group in groupby(sorted(routes, key=lambda r: r.priority), key=lambda r: r.priority):
        group = list(group)
        ordered.extend(group if len(group) == 1 else _weighted_order(group))
    healthy = [r for r in ordered if _cool_until.get(r.route_id, 0.0) <= now]
    if healthy or not ordered:
        return healthy
    return [min(ordered, key=lambda r: _cool_until.get(r.route_id, 0.0))]


def route_failed(route: RouteView) -> None:
    with _lock:
        count = _failures.get(route.route_id, 0) + 1
        if count >= settings.ROUTE_FAILURES_BEFORE_COOLDOWN:
            _cool_until[route.route_id] = time.monotonic() + settings.ROUTE_COOLDOWN_SECONDS
            count = 0
        _failures[route.route_id] = count


def route_succeeded(route: RouteView) -> None:
    if _failures.get(route.route_id) or route.route_id in _cool_until:
        with _lock:
            _failures.pop(route.route_id, None)
            _cool_until.pop(route.route_id, None)


def route_health(route_id: int) -> dict:
    return {"failures": _failures.get(route_id, 0), "cooling": _cool_until.get(route_id, 0.0) > time.monotonic()}


def route_health_reset() -> None:
    with _lock:
        _failures.clear()
        _cool_until.clear()
