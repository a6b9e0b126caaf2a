"""The model catalog: public models, their effective-dated prices, aliases,
upstream providers and the routes from a public model to provider models."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from catalog.crypto import EncryptedTextField


class Endpoint(models.TextChoices):
    CHAT_COMPLETIONS = "chat_completions", "POST /v1/chat/completions"
    MESSAGES = "messages", "POST /v1/messages"
    RESPONSES = "responses", "POST /v1/responses"
    CODEX_RESPONSES = "codex_responses", "POST /v1/codex/responses"
    GEMINI = "gemini", "POST /v1/gemini"
    CHAT = "chat", "POST /v1/chat"
    IMAGES_GENERATIONS = "images_generations", "POST /v1/images/generations"
    IMAGES_GENERATE = "images_generate", "POST /v1/images/generate"
    VIDEO_GENERATIONS = "video_generations", "POST /v1/video/generations"
    VIDEOS_GENERATE = "videos_generate", "POST /v1/videos/generate"
    AUDIO_GENERATIONS = "audio_generations", "POST /v1/audio/generations"
    AUDIO_GENERATE = "audio_generate", "POST /v1/audio/generate"
    THREED_GENERATE = "3d_generate", "POST /v1/3d/generate"


class AiModel(models.Model):
    class Kind(models.TextChoices):
        CHAT = "chat", "Chat (LLM)"
        IMAGE = "image", "Image"
        IMAGE_EDIT = "image_edit", "Image editing"
        VIDEO = "video", "Video"
        AUDIO = "audio", "Audio"
        THREED = "3d", "3D"

    class Family(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible"
        ANTHROPIC = "anthropic", "Anthropic"
        CODEX = "codex", "Codex"
        GEMINI = "gemini", "Gemini"
        MEDIA = "media", "Media"

    class PricingUnit(models.TextChoices):
        PER_MTOK = "per_mtok", "per million tokens"
        PER_IMAGE = "per_image", "per image"
        PER_SECOND = "per_second", "per second"
        PER_CLIP = "per_clip", "per clip"
        PER_REQUEST = "per_request", "per request"
        PER_3D_MODEL = "per_3d_model", "per 3D model"

    slug = models.CharField("model id", max_length=100, unique=True)
    display_name = models.CharField(max_length=150)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    family = models.CharField(max_length=10, choices=Family.choices)
    endpoints = models.JSONField(default=list, help_text="Endpoint names this model is served on.")
    pricing_unit = models.CharField(max_length=12, choices=PricingUnit.choices)
    context_window = models.PositiveIntegerField(null=True, blank=True)
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Model-specific limits and defaults (durations, sizes, input fields).
    options = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "slug"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.slug

    def serves(self, endpoint: str) -> bool:
        return endpoint in self.endpoints


class ImmutableRowError(Exception):
    pass


class ModelPrice(models.Model):
    """A model's rates from `effective_from` on. A price change adds a row;
    rows are never edited, so past charges can always be explained."""

    model = models.ForeignKey(AiModel, on_delete=models.CASCADE, related_name="prices")
    effective_from = models.DateTimeField(default=timezone.now)
    # Token rates in µcr per million tokens.
    input_per_mtok_micros = models.BigIntegerField(default=0)
    cached_input_per_mtok_micros = models.BigIntegerField(default=0)
    output_per_mtok_micros = models.BigIntegerField(default=0)
    # Price of one unit (image, second, clip, request, 3D model) in µcr.
    unit_price_micros = models.BigIntegerField(default=0)
    minimum_charge_micros = models.BigIntegerField(default=0)
    fast_surcharge_micros = models.BigIntegerField(default=0)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["model__slug", "-effective_from"]
        constraints = [models.UniqueConstraint(fields=["model", "effective_from"], name="one_price_per_instant")]
        indexes = [models.Index(fields=["model", "-effective_from"])]

    def __str__(self) -> str:
        return f"{self.model_id} from {self.effective_from:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ImmutableRowError("Prices are effective-dated: add a new row instead of editing.")
        super().save(*args, **kwargs)

    def rates(self) -> dict:
        return {
            "price_id": self.pk,
            "input_per_mtok_micros": self.input_per_mtok_micros,
            "cached_input_per_mtok_micros": self.cached_input_per_mtok_micros,
            "output_per_mtok_micros": self.output_per_mtok_micros,
            "unit_price_micros": self.unit_price_micros,
            "minimum_charge_micros": self.minimum_charge_micros,
            "fast_surcharge_micros": self.fast_surcharge_micros,
        }


class ModelAlias(models.Model):
    alias = models.CharField(max_length=100, unique=True)
    model = models.ForeignKey(AiModel, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        ordering = ["alias"]
        verbose_name_plural = "model aliases"

    def __str__(self) -> str:
        return f"{self.alias} → {self.model_id}"


class Provider(models.Model):
    class Protocol(models.TextChoices):
        OPENAI_CHAT = "openai_chat", "OpenAI Chat Completions (and compatible vendors)"
        OPENAI_RESPONSES = "openai_responses", "OpenAI Responses"
        ANTHROPIC_MESSAGES = "anthropic_messages", "Anthropic Messages"
        GEMINI = "gemini", "Google Gemini"
        OPENAI_IMAGES = "openai_images", "OpenAI Images"
        FISH_AUDIO = "fish_audio", "Fish Audio"
        MEDIA_JOBS = "media_jobs", "Asynchronous media job API (submit and poll)"

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=100)
    protocol = models.CharField(max_length=20, choices=Protocol.choices)
    base_url = models.URLField(max_length=300)
    api_key = EncryptedTextField(blank=True, help_text="Stored encrypted; never displayed.")
    extra_headers = models.JSONField(default=dict, blank=True, help_text="Non-secret headers sent upstream.")
    enabled = models.BooleanField(default=True)
    priority = models.IntegerField(default=100, help_text="Lower is tried first.")
    weight = models.PositiveIntegerField(default=1, help_text="Share of traffic among equal priorities.")
    timeout_seconds = models.PositiveIntegerField(default=600, help_text="Read timeout for one upstream call.")
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["priority", "slug"]

    def __str__(self) -> str:
        return self.slug


class Route(models.Model):
    class Variant(models.TextChoices):
        STANDARD = "standard", "Standard"
        FAST = "fast", "Fast mode"

    model = models.ForeignKey(AiModel, on_delete=models.CASCADE, related_name="routes")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="routes")
    upstream_model = models.CharField(max_length=200, help_text="The provider's own model id.")
    variant = models.CharField(max_length=10, choices=Variant.choices, default=Variant.STANDARD)
    priority = models.IntegerField(null=True, blank=True, help_text="Overrides the provider's priority.")
    weight = models.PositiveIntegerField(null=True, blank=True, help_text="Overrides the provider's weight.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["model__slug", "priority"]
        constraints = [
            models.UniqueConstraint(fields=["model", "provider", "upstream_model", "variant"], name="unique_route")
        ]

    def __str__(self) -> str:
        return f"{self.model_id} → {self.provider_id}:{self.upstream_model}"

    @property
    def effective_priority(self) -> int:
        return self.priority if self.priority is not None else self.provider.priority

    @property
    def effective_weight(self) -> int:
        return self.weight if self.weight is not None else self.provider.weight
