"""Writes for the catalog: loading the versioned data file and price changes."""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from billing.models import credits_to_micros
from catalog.models import AiModel, ModelAlias, ModelPrice, Provider, Route

CATALOG_FILE = Path(__file__).resolve().parent / "data" / "catalog.json"
RATE_FIELDS = (
    "input_per_mtok_micros",
    "cached_input_per_mtok_micros",
    "output_per_mtok_micros",
    "unit_price_micros",
    "minimum_charge_micros",
    "fast_surcharge_micros",
)


@transaction.atomic
def model_price_set(
    *,
    model: AiModel,
    effective_from: datetime | None = None,
    created_by=None,
    note: str = "",
    **rates: int,
) -> ModelPrice | None:
    """Add a price row for a model, or nothing when the rates equal the
    price in force at that instant. History is never rewritten."""
    unknown = set(rates) - set(RATE_FIELDS)
    if unknown:
        raise ValueError(f"unknown rate fields: {sorted(unknown)}")
    effective_from = effective_from or timezone.now()
    current = model.prices.filter(effective_from__lte=effective_from).order_by("-effective_from").first()
    values = {f: int(rates.get(f, 0)) for f in RATE_FIELDS}
    if any(v < 0 for v in values.values()):
        raise ValueError("rates cannot be negative")
    if current is not None and all(getattr(current, f) == values[f] for f in RATE_FIELDS):
        return None
    return ModelPrice.objects.create(
        model=model, effective_from=effective_from, created_by=created_by, note=note, **values
    )


def _pricing_to_rates(pricing: dict) -> dict[str, int]:
    if pricing["unit"] == AiModel.PricingUnit.PER_MTOK:
        return {
            "input_per_mtok_micros": credits_to_micros(pricing["input_per_mtok"]),
            "cached_input_per_mtok_micros": credits_to_micros(pricing.get("cached_input_per_mtok", 0)),
            "output_per_mtok_micros": credits_to_micros(pricing["output_per_mtok"]),
            "minimum_charge_micros": credits_to_micros(pricing.get("minimum_charge", 0)),
        }
    return {
        "unit_price_micros": credits_to_micros(pricing["unit_price"]),
        "minimum_charge_micros": credits_to_micros(pricing.get("minimum_charge", 0)),
        "fast_surcharge_micros": credits_to_micros(pricing.get("fast_surcharge", 0)),
    }


@dataclass
class CatalogLoadSummary:
    version: int
    models: int
    prices_added: int
    providers: int
    routes: int
    aliases: int


def catalog_file_read(path: Path = CATALOG_FILE) -> dict:
    return json.loads(Path(path).read_text())


@transaction.atomic
def catalog_load(*, data: dict, simulator_url: str, upstream_api_key: str = "", created_by=None) -> CatalogLoadSummary:
    """Create or update the catalog from the data file. Idempotent: models,
    providers, aliases and routes are upserted by their natural keys and a
    price row is added only when a model's rates changed. Provider settings
    an operator edited (URL, key, enabled) are kept on later loads."""
    prices_added = 0
    providers: dict[str, Provider] = {}
    for spec in data["providers"]:
        provider, _ = Provider.objects.get_or_create(
            slug=spec["slug"],
            defaults={
                "name": spec["name"],
                "protocol": spec["protocol"],
                "base_url": spec["base_url"].replace("{simulator}", simulator_url.rstrip("/")),
                "api_key": upstream_api_key,
                "priority": spec.get("priority", 100),
                "weight": spec.get("weight", 1),
            },
        )
        providers[provider.slug] = provider
    route_count = 0
    for spec in data["models"]:
        model, _ = AiModel.objects.update_or_create(
            slug=spec["id"],
            defaults={
                "display_name": spec["name"],
                "kind": spec["kind"],
                "family": spec["family"],
                "endpoints": spec["endpoints"],
                "pricing_unit": spec["pricing"]["unit"],
                "max_output_tokens": spec.get("max_output_tokens"),
                "context_window": spec.get("context_window"),
                "options": spec.get("options", {}),
                "description": spec.get("description", ""),
                "sort_order": spec.get("sort_order", 0),
            },
        )
        if model_price_set(
            model=model,
            created_by=created_by,
            note=f"catalog v{data['version']}",
            **_pricing_to_rates(spec["pricing"]),
        ):
            prices_added += 1
        for route in spec.get("routes", []):
            Route.objects.get_or_create(
                model=model,
                provider=providers[route["provider"]],
                upstream_model=route["model"],
                variant=route.get("variant", Route.Variant.STANDARD),
            )
            route_count += 1
    for alias, target in data.get("aliases", {}).items():
        ModelAlias.objects.update_or_create(alias=alias, defaults={"model": AiModel.objects.get(slug=target)})
    return CatalogLoadSummary(
        version=data["version"],
        models=len(data["models"]),
        prices_added=prices_added,
        providers=len(providers),
        routes=route_count,
        aliases=len(data.get("aliases", {})),
    )
