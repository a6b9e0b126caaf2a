"""Media generation jobs, their stored outputs, and webhook deliveries.

A job is charged when it is submitted and settled to what it delivered; the
status column is the compare-and-swap guard that makes a refund happen once
(see services.py).
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from catalog.crypto import EncryptedTextField

JOB_ID_PREFIX = "job_"
RESULT_ID_PREFIX = "res_"


def job_public_id_new() -> str:
    return JOB_ID_PREFIX + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


class MediaJob(models.Model):
    class Type(models.TextChoices):
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"
        AUDIO = "audio", "Audio"
        THREED = "3d", "3D model"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.QUEUED, Status.PROCESSING)

    public_id = models.CharField(max_length=40, unique=True, default=job_public_id_new, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="media_jobs")
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="media_jobs"
    )
    type = models.CharField(max_length=8, choices=Type.choices)
    # The public endpoint (catalog.models.Endpoint) and what the job does there:
    # generate, edit, tts, clone, asr, text_to_video, image_to_video, image_to_3d, multiview_to_3d.
    endpoint = models.CharField(max_length=32)
    operation = models.CharField(max_length=20)
    model = models.CharField(max_length=100, help_text="Public model id.")
    variant = models.CharField(max_length=10, default="standard", help_text="Route variant: standard or fast.")
    input = models.JSONField(default=dict, blank=True)
    # Billed units: images asked for, seconds of video, or 1 (clip, request, 3D model).
    quantity = models.PositiveIntegerField(default=1)
    sync = models.BooleanField(default=False, help_text="A client connection is waiting for the result.")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    provider_slug = models.CharField(max_length=60, blank=True)
    upstream_model = models.CharField(max_length=200, blank=True)
    upstream_id = models.CharField(max_length=200, blank=True)
    upstream_status = models.CharField(max_length=40, blank=True)
    # Non-file results (ASR: text, segments, duration).
    result = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_param = models.CharField(max_length=100, blank=True)

    # Money: the rates used, what was charged at submit and refunded since.
    pricing = models.JSONField(default=dict, blank=True)
    charge_entry = models.ForeignKey(
        "billing.LedgerEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    charged_micros = models.BigIntegerField(default=0)
    refunded_micros = models.BigIntegerField(default=0)

    webhook_url = models.URLField(max_length=2000, blank=True)

    deadline_at = models.DateTimeField()
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "media job"
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["status", "deadline_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                name="media_job_refund_within_charge", condition=Q(refunded_micros__lte=models.F("charged_micros"))
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def cost_micros(self) -> int:
        return self.charged_micros - self.refunded_micros

    @property
    def result_id(self) -> str:
        return RESULT_ID_PREFIX + self.public_id[len(JOB_ID_PREFIX) :]


def output_upload_to(instance: "JobOutput", filename: str) -> str:
    return f"media_jobs/{instance.job.user_id}/{instance.job.public_id}/{filename}"


class JobOutput(models.Model):
    """A generated file copied into our storage, so it outlives the upstream's link."""

    job = models.ForeignKey(MediaJob, on_delete=models.CASCADE, related_name="outputs")
    index = models.PositiveSmallIntegerField()
    file = models.FileField(upload_to=output_upload_to, max_length=300)
    extension = models.CharField(max_length=8)
    content_type = models.CharField(max_length=100)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    upstream_url = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_output_per_index")]

    def __str__(self) -> str:
        return f"{self.job.public_id}/{self.index}.{self.extension}"


class WebhookSecret(models.Model):
    """The per-user key that signs webhook payloads (HMAC-SHA256)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secret")
    secret = EncryptedTextField(help_text="Stored encrypted; shown to its owner only.")
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"webhook secret of {self.user}"

    @property
    def masked(self) -> str:
        return f"{self.secret[:9]}…{self.secret[-4:]}" if self.secret else ""


class WebhookDelivery(models.Model):
    """One webhook event of a job, delivered with retries until acknowledged or the window closes."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    job = models.ForeignKey(MediaJob, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event = models.CharField(max_length=20, help_text="The job status the payload reports.")
    url = models.URLField(max_length=2000)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["job", "event"], name="one_delivery_per_job_event")]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.job.public_id} {self.event} → {self.url}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    signature_timestamp = models.BigIntegerField()

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_per_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
