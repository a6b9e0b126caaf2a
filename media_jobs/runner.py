"""Running a job in a worker: submit upstream (with failover across the
model's routes), poll with backoff, copy the outputs, finish or fail.

Each step is idempotent: starting claims the job (queued → processing) and
each poll claims its sequence number, so a redelivered or duplicated task
does nothing. Steps return the delay before the next poll, or None when the
job needs no more work from this chain; the Celery tasks in tasks.py are thin
wrappers that schedule that next poll.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from catalog.selectors import RouteView, catalog_snapshot
from media_jobs.adapters import adapter_for
from media_jobs.adapters.base import InputError, JobSpec, UpstreamError, UpstreamOutput
from media_jobs.models import MediaJob, WebhookDelivery
from media_jobs.services import (
    job_claim_poll,
    job_claim_start,
    job_complete,
    job_fail,
    job_progress_set,
    job_upstream_set,
)
from media_jobs.storage import output_store

log = logging.getLogger(__name__)

# A job whose next step is this late has lost its message (a worker died
# holding it, the broker dropped it): the sweep sends it again.
LOST_STEP_GRACE_SECONDS = 120


def poll_delay(seq: int) -> float:
    delay = settings.MEDIA_POLL_INITIAL_SECONDS * (settings.MEDIA_POLL_FACTOR**seq)
    return min(delay, settings.MEDIA_POLL_MAX_SECONDS)


def _spec(job: MediaJob) -> JobSpec:
    return JobSpec(
        job_id=job.public_id,
        type=job.type,
        operation=job.operation,
        model=job.model,
        input=job.input,
        quantity=job.quantity,
    )


def _routes(job: MediaJob) -> tuple[RouteView, ...]:
    model = catalog_snapshot().resolve(job.model)
    return model.routes_for(job.variant) if model else ()


def _past_deadline(job: MediaJob) -> bool:
    if job.deadline_at <= timezone.now():
        job_fail(job_id=job.pk, error="The job did not finish before its deadline.", code="timeout")
        return True
    return False


def job_run(*, job_id: int) -> float | None:
    """Start a queued job. Returns the delay before its first poll, or None."""
    job = job_claim_start(job_id=job_id)
    if job is None or _past_deadline(job):
        return None
    routes = _routes(job)
    if not routes:
        job_fail(job_id=job.pk, error="No upstream is available for this model.", code="no_route")
        return None
    spec = _spec(job)
    last_error: UpstreamError | None = None
    for route in routes:
        try:
            submitted = adapter_for(route.protocol).submit(route=route, spec=spec)
        except InputError as exc:
            job_fail(job_id=job.pk, error=f"{exc.param}: {exc.message}", code="invalid_input", param=exc.param)
            return None
        except UpstreamError as exc:
            log.warning("job %s: route %s failed: %s", job.public_id, route.provider_slug, exc.message)
            last_error = exc
            if exc.retryable:
                continue
            job_fail(job_id=job.pk, error=exc.message, code="upstream_error")
            return None
        except Exception:
            log.exception("job %s: adapter %s crashed", job.public_id, route.protocol)
            job_fail(job_id=job.pk, error="Internal error while submitting the job.", code="internal_error")
            return None
        job_upstream_set(
            job_id=job.pk,
            provider_slug=route.provider_slug,
            upstream_model=route.upstream_model,
            upstream_id=submitted.upstream_id,
            upstream_status=submitted.upstream_status,
        )
        if submitted.done:
            _finish(job=job, outputs=submitted.outputs, result=submitted.result)
            return None
        job_progress_set(job_id=job.pk, progress=10, upstream_status=submitted.upstream_status)
        return poll_delay(0)
    message = last_error.message if last_error else "No upstream accepted the job."
    job_fail(job_id=job.pk, error=message, code="upstream_unavailable")
    return None


def _route_of(job: MediaJob) -> RouteView | None:
    for route in _routes(job):
        if route.provider_slug == job.provider_slug and route.upstream_model == job.upstream_model:
            return route
    return None


def job_poll(*, job_id: int, seq: int) -> float | None:
    """Poll number `seq` of a running upstream job. Returns the delay before
    poll seq + 1, or None when the job is finished or this poll was a duplicate."""
    delay = poll_delay(seq + 1)
    job = job_claim_poll(job_id=job_id, seq=seq, next_poll_in=delay)
    if job is None or _past_deadline(job):
        return None
    route = _route_of(job)
    if route is None or not job.upstream_id:
        job_fail(job_id=job.pk, error="The upstream route of this job is no longer available.", code="no_route")
        return None
    try:
        polled = adapter_for(route.protocol).poll(route=route, upstream_id=job.upstream_id)
    except Exception:
        log.exception("job %s: poll crashed", job.public_id)
        return delay
    if polled.state == "pending":
        job_progress_set(job_id=job.pk, progress=polled.progress or 30, upstream_status=polled.upstream_status)
        if polled.retry_after and polled.retry_after > delay:
            delay = polled.retry_after
            MediaJob.objects.filter(pk=job.pk).update(next_poll_at=timezone.now() + timedelta(seconds=delay))
        return delay
    if polled.state == "failed":
        job_fail(job_id=job.pk, error=f"Upstream: {polled.error}", code="upstream_failed")
        return None
    _finish(job=job, outputs=polled.outputs, result={})
    return None


def _finish(*, job: MediaJob, outputs: list[UpstreamOutput], result: dict) -> None:
    stored = []
    last_error = ""
    for upstream_output in outputs[: max(job.quantity, 1) if job.type == MediaJob.Type.IMAGE else 1]:
        try:
            stored.append(
                output_store(
                    user_id=job.user_id,
                    job_public_id=job.public_id,
                    index=len(stored),
                    job_type=job.type,
                    output=upstream_output,
                )
            )
        except UpstreamError as exc:
            log.warning("job %s: output not stored: %s", job.public_id, exc.message)
            last_error = exc.message
    if not stored and not result:
        job_fail(
            job_id=job.pk,
            error=f"The upstream returned no usable output{': ' + last_error if last_error else '.'}",
            code="empty_output",
        )
        return
    job_complete(job_id=job.pk, outputs=stored, result=result)


@dataclass
class SweepReport:
    timed_out: int = 0
    restarted: int = 0
    repolled: int = 0
    webhooks_resent: int = 0


def jobs_sweep(*, now=None) -> SweepReport:
    """Fail and refund jobs stuck past their deadline; resend steps whose
    messages were lost."""
    from media_jobs.tasks import job_poll as job_poll_task
    from media_jobs.tasks import job_run as job_run_task
    from media_jobs.tasks import webhook_deliver

    now = now or timezone.now()
    report = SweepReport()
    active = MediaJob.objects.filter(status__in=MediaJob.ACTIVE_STATUSES)
    for job_id in active.filter(deadline_at__lt=now).values_list("pk", flat=True):
        if job_fail(job_id=job_id, error="The job did not finish before its deadline.", code="timeout"):
            report.timed_out += 1
    # Each resend pushes the step's due time forward, so a job that merely
    # waits in a long queue gets one duplicate per grace period, not one per sweep.
    late = now - timedelta(seconds=LOST_STEP_GRACE_SECONDS)
    queued = active.filter(status=MediaJob.Status.QUEUED, created_at__lt=late).filter(
        Q(next_poll_at__isnull=True) | Q(next_poll_at__lt=late)
    )
    for job_id in queued.values_list("pk", flat=True):
        if MediaJob.objects.filter(pk=job_id, status=MediaJob.Status.QUEUED).update(next_poll_at=now):
            job_run_task.delay(job_id)
            report.restarted += 1
    stalled = active.filter(status=MediaJob.Status.PROCESSING, next_poll_at__lt=late).exclude(upstream_id="")
    for job_id, seq in stalled.values_list("pk", "poll_count"):
        if MediaJob.objects.filter(pk=job_id, poll_count=seq, next_poll_at__lt=late).update(next_poll_at=now):
            job_poll_task.delay(job_id, seq)
            report.repolled += 1
    due = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=late)
    for delivery_id, attempts in due.values_list("pk", "attempts"):
        if WebhookDelivery.objects.filter(pk=delivery_id, attempts=attempts, next_attempt_at__lt=late).update(
            next_attempt_at=now
        ):
            webhook_deliver.delay(delivery_id, attempts + 1)
            report.webhooks_resent += 1
    return report
