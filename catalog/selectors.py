"""Reads over the catalog.

The gateway resolves a model, its price and its routes on every request, so
it reads an immutable in-process snapshot of the whole catalog instead of
querying. Any catalog write bumps a version number in the shared cache
(signals.py); each process checks that number at most every
SNAPSHOT_CHECK_SECONDS and rebuilds its snapshot when it moved.
"""

import bisect
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from catalog.models import AiModel, ModelAlias, ModelPrice, Provider, Route

CATALOG_VERSION_KEY = "catalog:version"
SNAPSHOT_CHECK_SECONDS = 2.0
# Without a shared cache (no Redis) other processes cannot see the version
# move, so a snapshot is also rebuilt when it gets this old.
SNAPSHOT_MAX_AGE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class PriceView:
    price_id: int
    effective_from: datetime
    input_per_mtok_micros: int
    cached_input_per_mtok_micros: int
    output_per_mtok_micros: int
    unit_price_micros: int
    minimum_charge_micros: int
    fast_surcharge_micros: int

    def rates(self) -> dict:
        return {
            "price_id": self.price_id,
            "input_per_mtok_micros": self.input_per_mtok_micros,
            "cached_input_per_mtok_micros": self.cached_input_per_mtok_micros,
            "output_per_mtok_micros": self.output_per_mtok_micros,
            "unit_price_micros": self.unit_price_micros,
            "minimum_charge_micros": self.minimum_charge_micros,
            "fast_surcharge_micros": self.fast_surcharge_micros,
        }


@dataclass(frozen=True, slots=True)
class RouteView:
    route_id: int
    provider_id: int
    provider_slug: str
    protocol: str
    base_url: str
    api_key: str
    extra_headers: dict
    timeout_seconds: int
    upstream_model: str
    variant: str
    priority: int
    weight: int


@dataclass(frozen=True)
class ModelView:
    slug: str
    display_name: str
    kind: str
    family: str
    endpoints: frozenset[str]
    pricing_unit: str
    max_output_tokens: int | None
    context_window: int | None
    options: dict
    description: str
    routes: tuple[RouteView, ...]
    # Sorted by effective_from ascending; see price_at().
    prices: tuple[PriceView, ...] = field(default=())

    def serves(self, endpoint: str) -> bool:
        return endpoint in self.endpoints

    def price_at(self, when: datetime | None = None) -> PriceView | None:
        if not self.prices:
            return None
        when = when or timezone.now()
        index = bisect.bisect_right([p.effective_from for p in self.prices], when)
        return self.prices[index - 1] if index else None

    def routes_for(self, variant: str = Route.Variant.STANDARD) -> tuple[RouteView, ...]:
        return tuple(r for r in self.routes if r.variant == variant)


@dataclass(frozen=True)
class CatalogSnapshot:
    version: int
    models: dict[str, ModelView]
    aliases: dict[str, str]

    def resolve(self, model_id: str | None) -> ModelView | None:
        """The active model for a public id or alias, or None."""
        if not model_id:
            return None
        model = self.models.get(model_id)
        if model is None and model_id in self.aliases:
            model = self.models.get(self.aliases[model_id])
        return model

    def for_endpoint(self, endpoint: str) -> list[ModelView]:
        return [m for m in self.models.values() if m.serves(endpoint)]


def catalog_snapshot_build(*, version: int = 0) -> CatalogSnapshot:
    prices: dict[int, list[PriceView]] = {}
    for p in ModelPrice.objects.order_by("effective_from"):
        prices.setdefault(p.model_id, []).append(
            PriceView(
                price_id=p.pk,
                effective_from=p.effective_from,
                input_per_mtok_micros=p.input_per_mtok_micros,
                cached_input_per_mtok_micros=p.cached_input_per_mtok_micros,
                output_per_mtok_micros=p.output_per_mtok_micros,
                unit_price_micros=p.unit_price_micros,
                minimum_charge_micros=p.minimum_charge_micros,
                fast_surcharge_micros=p.fast_surcharge_micros,
            )
        )
    routes: dict[int, list[RouteView]] = {}
    for r in Route.objects.select_related("provider").filter(enabled=True, provider__enabled=True):
        routes.setdefault(r.model_id, []).append(
            RouteView(
                route_id=r.pk,
                provider_id=r.provider_id,
                provider_slug=r.provider.slug,
                protocol=r.provider.protocol,
                base_url=r.provider.base_url.rstrip("/"),
                api_key=r.provider.api_key or "",
                extra_headers=dict(r.provider.extra_headers or {}),
                timeout_seconds=r.provider.timeout_seconds,
                upstream_model=r.upstream_model,
                variant=r.variant,
                priority=r.effective_priority,
                weight=r.effective_weight,
            )
        )
    models = {}
    for m in AiModel.objects.filter(is_active=True).order_by("sort_order", "slug"):
        models[m.slug] = ModelView(
            slug=m.slug,
            display_name=m.display_name,
            kind=m.kind,
            family=m.family,
            endpoints=frozenset(m.endpoints),
            pricing_unit=m.pricing_unit,
            max_output_tokens=m.max_output_tokens,
            context_window=m.context_window,
            options=dict(m.options or {}),
            description=m.description,
            routes=tuple(sorted(routes.get(m.pk, []), key=lambda r: (r.priority, r.route_id))),
            prices=tuple(prices.get(m.pk, [])),
        )
    aliases = {a.alias: a.model.slug for a in ModelAlias.objects.select_related("model")}
    return CatalogSnapshot(version=version, models=models, aliases=aliases)


_lock = threading.Lock()
_snapshot: CatalogSnapshot | None = None
_checked_at = 0.0
_built_at = 0.0


def catalog_snapshot() -> CatalogSnapshot:
    """The current catalog, rebuilt only when another process changed it."""
    global _snapshot, _checked_at, _built_at
    now = time.monotonic()
    check_seconds = getattr(settings, "CATALOG_SNAPSHOT_CHECK_SECONDS", SNAPSHOT_CHECK_SECONDS)
    max_age = getattr(settings, "CATALOG_SNAPSHOT_MAX_AGE_SECONDS", SNAPSHOT_MAX_AGE_SECONDS)
    snapshot = _snapshot
    if snapshot is not None and now - _checked_at < check_seconds:
        return snapshot
    version = cache.get(CATALOG_VERSION_KEY, 0)
    fresh = now - _built_at < max_age
    if snapshot is not None and snapshot.version == version and fresh:
        _checked_at = now
        return snapshot
    with _lock:
        if _snapshot is None or _snapshot.version != version or now - _built_at >= max_age:
            _snapshot = catalog_snapshot_build(version=version)
            _built_at = now
        _checked_at = now
        return _snapshot


def catalog_snapshot_invalidate() -> None:
    """Called after any catalog write: every process rebuilds on its next check."""
    global _snapshot
    try:
        cache.incr(CATALOG_VERSION_KEY)
    except ValueError:
        cache.set(CATALOG_VERSION_KEY, int(time.time() * 1000), None)
    _snapshot = None


def model_list(*, endpoint: str | None = None):
    qs = AiModel.objects.filter(is_active=True)
    return [m for m in qs if endpoint is None or m.serves(endpoint)]


def provider_list():
    return Provider.objects.all()
