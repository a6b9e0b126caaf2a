"""Reads over jobs and webhook deliveries, for the API, the portal and staff."""

from media_jobs.models import JOB_ID_PREFIX, RESULT_ID_PREFIX, MediaJob, WebhookAttempt, WebhookDelivery


def job_public_id_normalise(raw: str) -> str:
    """Jobs are addressed by jobId (job_…) or by an image's resultId (res_…)."""
    if raw.startswith(RESULT_ID_PREFIX):
        return JOB_ID_PREFIX + raw[len(RESULT_ID_PREFIX) :]
    return raw


def job_get_for_user(*, public_id: str, user_id: int) -> MediaJob | None:
    """A job by its public id, only if it belongs to the user (anyone else's
    job does not exist for them)."""
    return MediaJob.objects.filter(public_id=job_public_id_normalise(public_id), user_id=user_id).first()


def job_list_for_user(*, user, job_type: str | None = None, status: str | None = None):
    jobs = MediaJob.objects.filter(user=user)
    if job_type:
        jobs = jobs.filter(type=job_type)
    if status:
        jobs = jobs.filter(status=status)
    return jobs.order_by("-created_at", "-id")


def webhook_deliveries_for_user(*, user):
    return WebhookDelivery.objects.filter(job__user=user).select_related("job").order_by("-created_at", "-id")


def webhook_attempts_for_delivery(*, delivery: WebhookDelivery):
    return WebhookAttempt.objects.filter(delivery=delivery).order_by("number")


def job_webhook_summary(*, job: MediaJob) -> dict | None:
    """The owner's view of a job's webhook deliveries and every attempt."""
    if not job.webhook_url:
        return None
    deliveries = []
    for delivery in job.webhook_deliveries.order_by("created_at"):
        deliveries.append(
            {
                "event": delivery.event,
                "status": delivery.status,
                "attempts": [
                    {
                        "number": a.number,
                        "at": int(a.started_at.timestamp()),
                        "statusCode": a.status_code,
                        "error": a.error or None,
                        "durationMs": a.duration_ms,
                    }
                    for a in webhook_attempts_for_delivery(delivery=delivery)
                ],
            }
        )
    return {"url": job.webhook_url, "deliveries": deliveries}
