from collections import Counter

import pytest

from catalog.selectors import RouteView
from gateway import routing


@pytest.fixture(autouse=True)
def _fresh_health(settings):
    settings.ROUTE_FAILURES_BEFORE_COOLDOWN = 2
    settings.ROUTE_COOLDOWN_SECONDS = 30
    routing.route_health_reset()
    yield
    routing.route_health_reset()


def route(route_id: int, priority: int, weight: int = 1) -> RouteView:
    return RouteView(
        route_id=route_id,
        provider_id=route_id,
        provider_slug=f"p{route_id}",
        protocol="openai_chat",
        base_url="http://x",
        api_key="",
        extra_headers={},
        timeout_seconds=600,
        upstream_model="m",
        variant="standard",
        priority=priority,
        weight=weight,
    )


def test_priority_first_then_weighted_among_equals():
    routes = (route(1, 20), route(2, 10, weight=1), route(3, 10, weight=9))
    firsts = Counter(routing.route_order(routes)[0].route_id for _ in range(2000))
    assert set(firsts) == {2, 3}
    assert 0.8 < firsts[3] / 2000 < 0.97
    assert all(routing.route_order(routes)[-1].route_id == 1 for _ in range(50))


def test_cooldown_after_consecutive_failures_and_reset_on_success():
    a, b = route(1, 1), route(2, 2)
    routing.route_failed(a)
    assert [r.route_id for r in routing.route_order((a, b))] == [1, 2]
    routing.route_succeeded(a)
    routing.route_failed(a)
    assert [r.route_id for r in routing.route_order((a, b))] == [1, 2]  # not two in a row
    routing.route_failed(a)
    assert [r.route_id for r in routing.route_order((a, b))] == [2]
    assert routing.route_health(1)["cooling"]


def test_when_every_route_cools_the_soonest_back_is_probed():
    a, b = route(1, 1), route(2, 2)
    for r in (a, a, b, b):
        routing.route_failed(r)
    order = routing.route_order((a, b))
    assert [r.route_id for r in order] == [1]
    # Cooldowns end: both are tried again in priority order.
    assert [r.route_id for r in routing.route_order((a, b), now=10**9)] == [1, 2]
