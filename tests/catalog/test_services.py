from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from catalog.models import AiModel, ImmutableRowError, ModelPrice, Provider, Route
from catalog.selectors import catalog_snapshot
from catalog.services import catalog_file_read, catalog_load, model_price_set

pytestmark = pytest.mark.django_db

# Every model id named in the two product documents.
SEED_MODELS = {
    "chat": "gpt-5 gpt-5.1 gpt-5.2 gpt-5.3 gpt-5.4 gpt-5.5 gpt-5.5-instant gpt-5.5-pro gpt-5.4-mini "
    "gpt-5.4-nano gpt-5.4-official gpt-5.4-pro-official gpt-5.2-official gpt-5-pro-official "
    "gpt-realtime-1.5-official gpt-audio-1.5-official glm-5 qwen3.5-plus qwen3.5-flash qwen3-max "
    "deepseek-v3.2 kimi-k2.5 MiniMax-M2.5 nano-banana-2 claude-opus-4-6 claude-sonnet-4-6 claude-haiku-4-5 "
    "gpt-5-codex gpt-5-codex-mini gpt-5.1-codex gpt-5.1-codex-mini gpt-5.1-codex-max gpt-5.2-codex "
    "gpt-5.3-codex gpt-5.3-codex-spark gpt-5.3-codex-official gemini-3-pro-official "
    "gemini-3-pro-preview-official gemini-3-flash-official gemini-3-flash-preview-official gemini-3.1-pro "
    "gemini-3.1-pro-preview-official gemini-3.1-fast gemini-3.1-thinking gemini-3.1-flash-lite-preview-official "
    "gemini-2.5-pro-official gemini-2.5-flash-official gemini-2.5-flash-lite-official gemini-2.0-flash-official "
    "gemini-2.0-flash-lite-official gemini-2.0-flash-vip gemini-2.5-flash-vip gemini-2.5-pro-vip "
    "gemini-3-flash-preview-vip",
    "image": "gpt-image-2 gpt-4o-image nano_banana nano_banana_2 gemini-3.1-flash-image-preview "
    "gemini-2.5-flash-image-preview flux-2-pro doubao-seedream-4-0 doubao-seedream-4-5 "
    "doubao-seedream-5-0 gemini-3.1-flash-image-preview-official gemini-2.5-flash-image-official "
    "nano_banana_pro gemini-3-pro-image-preview flux-2-flex gemini-3-pro-image-preview-official "
    "gemini-3-pro-image-preview-4K gemini-3.1-fast-imagen gemini-3.1-thinking-imagen",
    "image_edit": "flux-kontext-pro flux-kontext-max",
    "video": "wan2.6-flash kling-2-6 MiniMax-Hailuo-02 doubao-seedance-1-0-pro-fast MiniMax-Hailuo-2.3 wan2.6 "
    "kling-video-o1 kling-v3-omni kling-v3 kling-v3-video doubao-seedance-1-0-pro-quality doubao-seedance-2-0 "
    "doubao-seedance-2-0-fast doubao-seedance-1-5-pro Veo3.1-fast-official Veo3.1-quality-official "
    "veo3.1-fast veo3.1-quality vidu-q3-pro grok-video-3 wan-2-6-i2v veo-3-1-i2v",
    "audio": "audio-tts audio-clone audio-asr",
    "3d": "hunyuan3d-v2-base tripo3d-multiview-to-3d",
}


def test_catalog_has_every_seed_model_with_kind_endpoints_and_price(catalog):
    snapshot = catalog_snapshot()
    for kind, names in SEED_MODELS.items():
        for slug in names.split():
            model = snapshot.resolve(slug)
            assert model is not None, slug
            assert model.kind == kind, slug
            assert model.endpoints, slug
            assert model.routes, slug
            price = model.price_at()
            assert price is not None, slug
            if model.pricing_unit == "per_mtok":
                assert price.input_per_mtok_micros > 0 and price.output_per_mtok_micros > 0, slug
            else:
                assert price.unit_price_micros > 0, slug


def test_pricing_units_follow_the_docs(catalog):
    snapshot = catalog_snapshot()
    assert snapshot.resolve("kling-v3").pricing_unit == "per_second"
    assert snapshot.resolve("veo3.1-fast").pricing_unit == "per_clip"
    assert snapshot.resolve("grok-video-3").pricing_unit == "per_clip"
    assert snapshot.resolve("audio-tts").pricing_unit == "per_request"
    assert snapshot.resolve("gpt-image-2").pricing_unit == "per_image"
    assert snapshot.resolve("hunyuan3d-v2-base").pricing_unit == "per_3d_model"
    clone = snapshot.resolve("audio-clone").price_at()
    assert clone.unit_price_micros == 107_000_000
    assert snapshot.resolve("gpt-image-2").price_at().fast_surcharge_micros > 0


def test_anthropic_aliases_resolve_and_endpoints_are_separated(catalog):
    snapshot = catalog_snapshot()
    assert snapshot.resolve("claude-3-5-sonnet-20241022").slug == "claude-sonnet-4-6"
    assert snapshot.resolve("claude-sonnet-4-5-20250929").slug == "claude-sonnet-4-6"
    assert snapshot.resolve("claude-3-5-haiku-20241022").slug == "claude-haiku-4-5"
    assert snapshot.resolve("claude-opus-4-6").endpoints == {"messages"}
    assert not snapshot.resolve("gpt-5").serves("messages")
    assert snapshot.resolve("gemini-3.1-pro").serves("gemini")
    assert snapshot.resolve("gpt-5-codex").serves("codex_responses")
    assert snapshot.resolve("no-such-model") is None


def test_load_is_idempotent(catalog):
    counts = (
        AiModel.objects.count(),
        ModelPrice.objects.count(),
        Route.objects.count(),
        Provider.objects.count(),
    )
    again = catalog_load(data=catalog_file_read(), simulator_url="http://127.0.0.1:9")
    assert again.prices_added == 0
    assert counts == (
        AiModel.objects.count(),
        ModelPrice.objects.count(),
        Route.objects.count(),
        Provider.objects.count(),
    )
    # Operator-edited provider settings survive a reload.
    assert Provider.objects.get(slug="sim-openai").base_url.startswith("http://127.0.0.1:8100")


def test_price_change_adds_a_row_and_is_effective_dated(catalog, staff):
    model = AiModel.objects.get(slug="gpt-5")
    old = model.prices.get()
    later = timezone.now() + timedelta(hours=1)
    new = model_price_set(
        model=model,
        effective_from=later,
        created_by=staff,
        input_per_mtok_micros=old.input_per_mtok_micros * 2,
        output_per_mtok_micros=old.output_per_mtok_micros * 2,
    )
    assert new is not None and model.prices.count() == 2
    view = catalog_snapshot().resolve("gpt-5")
    assert view.price_at(timezone.now()).price_id == old.pk
    assert view.price_at(later + timedelta(seconds=1)).price_id == new.pk
    assert view.price_at(timezone.now() - timedelta(days=365)) is None
    # Re-setting the same rates adds nothing.
    assert (
        model_price_set(
            model=model,
            effective_from=later + timedelta(minutes=1),
            input_per_mtok_micros=new.input_per_mtok_micros,
            output_per_mtok_micros=new.output_per_mtok_micros,
        )
        is None
    )


def test_price_rows_cannot_be_rewritten(catalog):
    price = ModelPrice.objects.first()
    price.unit_price_micros += 1
    with pytest.raises(ImmutableRowError):
        price.save()


def test_snapshot_sees_catalog_changes(catalog, django_capture_on_commit_callbacks, monkeypatch):
    assert catalog_snapshot().resolve("gpt-5") is not None
    with django_capture_on_commit_callbacks(execute=True):
        model = AiModel.objects.get(slug="gpt-5")
        model.is_active = False
        model.save()
    # Even within the re-check interval, this process rebuilt (its own write).
    assert catalog_snapshot().resolve("gpt-5") is None


def test_provider_key_is_encrypted_at_rest(catalog):
    provider = Provider.objects.get(slug="sim-openai")
    assert provider.api_key == "sim-test-key"
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM catalog_provider WHERE slug = %s", ["sim-openai"])
        stored = cursor.fetchone()[0]
    assert stored != "sim-test-key"
    assert "sim-test-key" not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
