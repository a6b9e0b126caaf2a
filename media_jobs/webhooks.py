"""Signed webhook deliveries: per-user secrets, payloads, attempts and retries.

Signature scheme (documented in the README): the header

    X-Hypereal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

where the HMAC key is the user's webhook secret (whsec_…) and the message is
"<t>." followed by the exact request body bytes. The timestamp is fresh on
every attempt so receivers can refuse old replays.
"""

import hashlib
import hmac
import logging
import secrets
import time
from datetime import timedelta

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from media_jobs.models import MediaJob, WebhookAttempt, WebhookDelivery, WebhookSecret
from media_jobs.netguard import FetchFailed, UnsafeUrl, safe_request

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "X-Hypereal-Signature"
USER_AGENT = "Hypereal-Webhooks/1.0"
RESPONSE_EXCERPT_BYTES = 500


# --- Secrets ------------------------------------------------------------------


def _secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_secret_get_or_create(*, user) -> WebhookSecret:
    secret, _ = WebhookSecret.objects.get_or_create(user=user, defaults={"secret": _secret_new()})
    return secret


@transaction.atomic
def webhook_secret_rotate(*, user) -> WebhookSecret:
    """Replace a user's signing secret; deliveries signed from now on use the
    new one (including retries of earlier events)."""
    secret = WebhookSecret.objects.select_for_update().filter(user=user).first()
    if secret is None:
        return WebhookSecret.objects.create(user=user, secret=_secret_new())
    secret.secret = _secret_new()
    secret.rotated_at = timezone.now()
    secret.save(update_fields=["secret", "rotated_at"])
    return secret


def webhook_sign(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def webhook_signature_verify(*, secret: str, header: str, body: bytes, tolerance_seconds: int = 300) -> bool:
    """Receiver-side check (used by tests and shown in the README)."""
    try:
        fields = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False
    expected = webhook_sign(secret=secret, timestamp=timestamp, body=body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


# --- Deliveries -----------------------------------------------------------------


def webhook_payload(*, job: MediaJob) -> dict:
    from media_jobs.presenters import credits_number, job_output_url

    first = job.outputs.order_by("index").first() if job.status == MediaJob.Status.COMPLETED else None
    payload = {
        "status": job.status,
        "outputUrl": job_output_url(first) if first else None,
        "jobId": job.public_id,
        "type": job.type,
        "model": job.model,
        "creditsUsed": credits_number(job.cost_micros),
    }
    if job.status == MediaJob.Status.FAILED:
        payload["error"] = job.error or "Generation failed"
    return payload


def webhook_delivery_create(*, job: MediaJob) -> WebhookDelivery | None:
    """Record the delivery of a job's final status and send it after commit.
    Called in the transaction that finished the job."""
    from media_jobs.tasks import webhook_deliver

    delivery, created = WebhookDelivery.objects.get_or_create(
        job=job,
        event=job.status,
        defaults={"url": job.webhook_url, "payload": webhook_payload(job=job)},
    )
    if created:
        webhook_deliver.delay_on_commit(delivery.pk, 1)
    return delivery


def webhook_retry_delay(*, attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    return min(base * (2 ** (attempt - 1)), settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS)


def _claim(*, delivery_id: int, attempt: int) -> WebhookDelivery | None:
    """Claim attempt number `attempt`; a duplicated task finds it taken."""
    lease = timezone.now() + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 60)
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, attempts=attempt - 1
    ).update(attempts=F("attempts") + 1, next_attempt_at=lease)
    return WebhookDelivery.objects.select_related("job").get(pk=delivery_id) if claimed else None


def webhook_attempt(*, delivery_id: int, attempt: int) -> float | None:
    """Make attempt number `attempt` of a delivery and record it. Returns the
    delay before the next attempt, or None when there is none to make
    (delivered, given up, or this attempt was not ours to make)."""
    delivery = _claim(delivery_id=delivery_id, attempt=attempt)
    if delivery is None:
        return None
    secret = webhook_secret_get_or_create(user=delivery.job.user).secret
    body = orjson.dumps(delivery.payload)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: webhook_sign(secret=secret, timestamp=timestamp, body=body),
        "X-Hypereal-Event": f"job.{delivery.event}",
        "X-Hypereal-Delivery": str(delivery.pk),
        "X-Hypereal-Attempt": str(attempt),
    }
    started = timezone.now()
    t0 = time.monotonic()
    status_code, error, excerpt = None, "", ""
    try:
        response = safe_request(
            "POST",
            delivery.url,
            body=body,
            headers=headers,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            max_bytes=64 * 1024,
        )
        status_code = response.status
        excerpt = response.body[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace")
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except UnsafeUrl as exc:
        error = f"refused: the URL {exc}"
    except FetchFailed as exc:
        error = str(exc)[:500]
    duration_ms = int((time.monotonic() - t0) * 1000)
    ok = not error
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=attempt,
        started_at=started,
        duration_ms=duration_ms,
        status_code=status_code,
        error=error[:500],
        response_excerpt=excerpt,
        signature_timestamp=timestamp,
    )
    now = timezone.now()
    update = {"last_status_code": status_code, "last_error": error[:500]}
    if ok:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.DELIVERED, delivered_at=now, **update
        )
        return None
    delay = webhook_retry_delay(attempt=attempt)
    window_ends = delivery.created_at + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    if now + timedelta(seconds=delay) > window_ends:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.FAILED, **update)
        log.warning("webhook delivery %s gave up after %s attempts: %s", delivery.pk, attempt, error)
        return None
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now + timedelta(seconds=delay), **update)
    return delay
