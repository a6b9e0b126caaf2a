from django.conf import settings
from django.db import models
from django.utils import timezone


class UsageRecord(models.Model):
    """One row per gateway request that reached billing: what was asked,
    what served it, what it cost and how it ended."""

    class Outcome(models.TextChoices):
        DONE = "done", "Done"
        CLIENT_GONE = "client_gone", "Client disconnected"
        UPSTREAM_ERROR = "upstream_error", "Upstream error"
        TIMEOUT = "timeout", "Timeout"
        REJECTED = "rejected", "Rejected"

    request_id = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="usage_records")
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_records"
    )
    endpoint = models.CharField(max_length=32)
    model_requested = models.CharField(max_length=200)
    model_served = models.CharField(max_length=100, blank=True)
    provider = models.ForeignKey(
        "catalog.Provider", null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_records"
    )
    upstream_model = models.CharField(max_length=200, blank=True)
    status_code = models.PositiveSmallIntegerField(default=200)
    stream = models.BooleanField(default=False)
    input_tokens = models.PositiveIntegerField(default=0)
    cached_input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0)
    estimated = models.BooleanField(default=False, help_text="Usage estimated: the upstream sent none.")
    latency_ms = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time to first token.")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.DONE)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["api_key", "-created_at"]),
            models.Index(fields=["model_served", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model_served or self.model_requested} {self.outcome}"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens
