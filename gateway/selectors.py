"""The gateway's reads: the key behind a request, the catalog snapshot from
async code, model listings and usage totals."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.exceptions import SynchronousOnlyOperation
from django.db.models import Count, Q, Sum

from accounts.selectors import KeyPrincipal, api_key_authenticate, principal_from_cache_value
from accounts.services import API_KEY_PREFIX, api_key_cache_key, api_key_hash
from billing.models import micros_to_credits
from catalog.selectors import CatalogSnapshot, ModelView, catalog_snapshot
from gateway.models import UsageRecord

_cache = None


def _process_cache():
    """One cache client for the whole process. Django's `cache` proxy is
    per async context, so under ASGI every request would open a new Redis
    connection through it."""
    global _cache
    if _cache is None:
        _cache = caches.create_connection(DEFAULT_CACHE_ALIAS)
    return _cache


async def principal_authenticate(*, raw_key: str | None) -> KeyPrincipal | None:
    """The key's principal. On a cache hit this is one cache read on the
    event loop: no database query and no thread hop."""
    if not raw_key or not raw_key.startswith(API_KEY_PREFIX) or len(raw_key) > 256:
        return None
    decided, principal = principal_from_cache_value(_process_cache().get(api_key_cache_key(api_key_hash(raw_key))))
    if decided:
        return principal
    return await sync_to_async(api_key_authenticate)(raw_key=raw_key)


async def catalog_current() -> CatalogSnapshot:
    """The in-process catalog snapshot; only a rebuild (after a catalog
    change) goes to a thread for its queries."""
    try:
        return catalog_snapshot()
    except SynchronousOnlyOperation:
        return await sync_to_async(catalog_snapshot)()


def _credits(micros: int) -> float | int:
    value = micros_to_credits(micros)
    return int(value) if value == value.to_integral_value() else float(value)


def model_pricing(model: ModelView) -> dict:
    price = model.price_at()
    if price is None:
        return {}
    if model.pricing_unit == "per_mtok":
        return {
            "unit": "per_mtok",
            "currency": "credits",
            "input_per_mtok": _credits(price.input_per_mtok_micros),
            "cached_input_per_mtok": _credits(price.cached_input_per_mtok_micros),
            "output_per_mtok": _credits(price.output_per_mtok_micros),
        }
    return {"unit": model.pricing_unit, "currency": "credits", "unit_price": _credits(price.unit_price_micros)}


def model_entry(model: ModelView) -> dict:
    """A model in OpenAI's list shape, with its prices and endpoints."""
    price = model.price_at()
    return {
        "id": model.slug,
        "object": "model",
        "created": int(price.effective_from.timestamp()) if price else 0,
        "owned_by": model.family,
        "name": model.display_name,
        "kind": model.kind,
        "endpoints": sorted(model.endpoints),
        "context_window": model.context_window,
        "max_output_tokens": model.max_output_tokens,
        "pricing": model_pricing(model),
    }


def model_listing(*, snapshot: CatalogSnapshot, endpoint: str | None = None) -> dict:
    models = snapshot.models.values() if endpoint is None else snapshot.for_endpoint(endpoint)
    return {"object": "list", "data": [model_entry(m) for m in models]}


def usage_totals(*, queryset) -> dict:
    """Requests, tokens and credits of a set of usage records."""
    totals = queryset.aggregate(
        requests=Count("id"),
        input_tokens=Sum("input_tokens"),
        cached_input_tokens=Sum("cached_input_tokens"),
        output_tokens=Sum("output_tokens"),
        reasoning_tokens=Sum("reasoning_tokens"),
        cost_micros=Sum("cost_micros"),
        estimated=Count("id", filter=Q(estimated=True)),
    )
    totals = {k: v or 0 for k, v in totals.items()}
    totals["total_tokens"] = totals["input_tokens"] + totals["output_tokens"]
    totals["credits"] = micros_to_credits(totals["cost_micros"])
    return totals


def usage_records_for_user(*, user_id: int):
    return UsageRecord.objects.filter(user_id=user_id).select_related("api_key", "provider")
