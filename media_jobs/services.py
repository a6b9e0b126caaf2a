"""Writes for media jobs: submit (charge), start, complete (settle), fail (refund).

Money rule: a job is charged in full when it is submitted, in the transaction
that creates it. When it completes it is settled to what it delivered (a
partial refund when fewer images came back than were asked for); when it
fails, times out or returns nothing it is refunded in full.

Exactly once: every terminal transition is a compare-and-swap on the job's
status (UPDATE ... WHERE status IN (queued, processing)) in the same
transaction as its ledger entry. Of two workers (a redelivered task, the
sweep racing a poll) only the one whose UPDATE matched a row moves money; on
PostgreSQL the second UPDATE waits for the first transaction and then finds
the status changed. The ledger references (job id + ":refund"/":settle") are
unique as a second guard.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.models import CreditAccount, micros_to_credits
from billing.selectors import spend_between
from billing.services import ledger_charge, ledger_refund
from catalog.selectors import ModelView
from media_jobs.models import JobOutput, MediaJob
from media_jobs.pricing import JobPrice, job_price

log = logging.getLogger(__name__)

Status = MediaJob.Status
ACTIVE = list(MediaJob.ACTIVE_STATUSES)


@dataclass(frozen=True)
class StoredOutput:
    """A file already written to storage, not yet attached to its job."""

    name: str
    extension: str
    content_type: str
    size_bytes: int
    sha256: str
    upstream_url: str = ""


class SpendLimitReached(Exception):
    pass


def _spend_limit_check(*, account_id: int, amount_micros: int, limit_micros: int, period: str) -> None:
    """A key's spend limit over the calendar day or month (UTC)."""
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    if period != "day":
        start = start.replace(day=1)
    spent = spend_between(account_id=account_id, start=start)
    if spent + amount_micros > limit_micros:
        raise SpendLimitReached(
            f"This API key's {'daily' if period == 'day' else 'monthly'} spend limit would be exceeded "
            f"({micros_to_credits(spent)} of {micros_to_credits(limit_micros)} credits spent, "
            f"this request costs {micros_to_credits(amount_micros)})."
        )


def _on_commit_broadcast(job_id: int) -> None:
    from media_jobs.live import job_broadcast

    transaction.on_commit(lambda: job_broadcast(job_id=job_id))


@transaction.atomic
def job_submit(
    *,
    user_id: int,
    api_key_id: int | None,
    model: ModelView,
    job_type: str,
    endpoint: str,
    operation: str,
    input: dict,
    quantity: int,
    variant: str = "standard",
    sync: bool = False,
    webhook_url: str = "",
    deadline_seconds: int,
    spend_limit_micros: int | None = None,
    spend_limit_period: str = "month",
) -> MediaJob:
    """Create a job and charge its full price, or raise InsufficientCredits
    or SpendLimitReached (and create nothing). The worker is told only after
    the commit."""
    from media_jobs.tasks import job_run

    price = job_price(model=model, quantity=quantity, fast=variant == "fast")
    amount = price.cost_micros()
    now = timezone.now()
    account = CreditAccount.objects.get(user_id=user_id)
    if spend_limit_micros is not None:
        _spend_limit_check(
            account_id=account.pk, amount_micros=amount, limit_micros=spend_limit_micros, period=spend_limit_period
        )
    job = MediaJob.objects.create(
        user_id=user_id,
        api_key_id=api_key_id,
        type=job_type,
        endpoint=endpoint,
        operation=operation,
        model=model.slug,
        variant=variant,
        input=input,
        quantity=quantity,
        sync=sync,
        webhook_url=webhook_url,
        pricing=price.as_dict(),
        deadline_at=now + timedelta(seconds=deadline_seconds),
        created_at=now,
    )
    if amount > 0:
        entry = ledger_charge(
            account_id=account.pk,
            amount_micros=amount,
            reference=job.public_id,
            description=f"{model.slug} {job_type} job",
            metadata={"job": job.public_id, "model": model.slug, **price.as_dict()},
        )
        MediaJob.objects.filter(pk=job.pk).update(charge_entry=entry, charged_micros=amount)
        job.charge_entry = entry
        job.charged_micros = amount
    job_run.delay_on_commit(job.pk)
    _on_commit_broadcast(job.pk)
    return job


def job_claim_start(*, job_id: int) -> MediaJob | None:
    """Move a queued job to processing; None when another worker already did
    (a redelivered task must not submit upstream twice)."""
    now = timezone.now()
    claimed = MediaJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.PROCESSING, started_at=now, progress=5, updated_at=now
    )
    if not claimed:
        return None
    _broadcast_now(job_id)
    return MediaJob.objects.get(pk=job_id)


def job_upstream_set(
    *, job_id: int, provider_slug: str, upstream_model: str, upstream_id: str = "", upstream_status: str = ""
) -> None:
    MediaJob.objects.filter(pk=job_id, status__in=ACTIVE).update(
        provider_slug=provider_slug,
        upstream_model=upstream_model,
        upstream_id=upstream_id,
        upstream_status=upstream_status,
        updated_at=timezone.now(),
    )


def job_claim_poll(*, job_id: int, seq: int, next_poll_in: float) -> MediaJob | None:
    """Claim poll number `seq` of a processing job. A duplicated poll task
    (same seq) finds the counter moved on and does nothing, so one job never
    has two polling chains."""
    now = timezone.now()
    claimed = MediaJob.objects.filter(pk=job_id, status=Status.PROCESSING, poll_count=seq).update(
        poll_count=seq + 1, next_poll_at=now + timedelta(seconds=next_poll_in), updated_at=now
    )
    return MediaJob.objects.get(pk=job_id) if claimed else None


def job_progress_set(*, job_id: int, progress: int, upstream_status: str = "") -> None:
    fields = {"progress": max(0, min(progress, 99)), "updated_at": timezone.now()}
    if upstream_status:
        fields["upstream_status"] = upstream_status[:40]
    changed = MediaJob.objects.filter(pk=job_id, status=Status.PROCESSING).exclude(progress=fields["progress"])
    if changed.update(**fields):
        _broadcast_now(job_id)


def _broadcast_now(job_id: int) -> None:
    from media_jobs.live import job_broadcast

    job_broadcast(job_id=job_id)


def _delivered_units(job: MediaJob, outputs: int, result: dict) -> int:
    if job.type == MediaJob.Type.IMAGE:
        return outputs
    return 1 if (outputs or result) else 0


def job_complete(*, job_id: int, outputs: list[StoredOutput], result: dict | None = None) -> bool:
    """Finish a job with what it produced and settle its charge to that.

    Nothing produced means a failure (refunded in full). Returns False when
    the job had already finished (another worker won); the files this call
    stored are then deleted."""
    result = result or {}
    job = MediaJob.objects.get(pk=job_id)
    if _delivered_units(job, len(outputs), result) == 0:
        job_fail(job_id=job_id, error="The upstream returned no output.", code="empty_output")
        _files_delete(outputs)
        return False
    with transaction.atomic():
        now = timezone.now()
        won = MediaJob.objects.filter(pk=job_id, status__in=ACTIVE).update(
            status=Status.COMPLETED, progress=100, result=result, finished_at=now, updated_at=now, next_poll_at=None
        )
        if won:
            for index, out in enumerate(outputs):
                JobOutput.objects.create(
                    job_id=job_id,
                    index=index,
                    file=out.name,
                    extension=out.extension,
                    content_type=out.content_type,
                    size_bytes=out.size_bytes,
                    sha256=out.sha256,
                    upstream_url=out.upstream_url[:2000],
                )
            job.refresh_from_db()
            _settle(job=job, delivered=_delivered_units(job, len(outputs), result))
            _webhook_enqueue(job=job)
            _on_commit_broadcast(job_id)
    if not won:
        _files_delete(outputs)
    return bool(won)


def _settle(*, job: MediaJob, delivered: int) -> None:
    """Refund the part of the charge that was not delivered (fewer images)."""
    if not job.charge_entry_id:
        return
    cost = JobPrice.from_dict(job.pricing).cost_micros(delivered)
    excess = job.charged_micros - job.refunded_micros - cost
    if excess > 0:
        ledger_refund(
            charge_id=job.charge_entry_id,
            reference=f"{job.public_id}:settle",
            amount_micros=excess,
            description=f"{job.model}: {delivered} of {job.quantity} delivered",
            metadata={"job": job.public_id, "delivered": delivered},
        )
        MediaJob.objects.filter(pk=job.pk).update(refunded_micros=F("refunded_micros") + excess)
        job.refunded_micros += excess


@transaction.atomic
def job_fail(*, job_id: int, error: str, code: str = "upstream_error", param: str = "") -> bool:
    """Fail an active job and refund its charge in full, exactly once.

    Returns True for the call that made the transition; a second call (a
    duplicated task, the sweep racing a worker) changes nothing."""
    now = timezone.now()
    won = MediaJob.objects.filter(pk=job_id, status__in=ACTIVE).update(
        status=Status.FAILED,
        error=error[:1000],
        error_code=code[:40],
        error_param=param[:100],
        finished_at=now,
        updated_at=now,
        next_poll_at=None,
    )
    if not won:
        return False
    job = MediaJob.objects.get(pk=job_id)
    rest = job.charged_micros - job.refunded_micros
    if job.charge_entry_id and rest > 0:
        ledger_refund(
            charge_id=job.charge_entry_id,
            reference=f"{job.public_id}:refund",
            amount_micros=rest,
            description=f"{job.model}: job failed ({code})",
            metadata={"job": job.public_id, "code": code},
        )
        MediaJob.objects.filter(pk=job.pk).update(refunded_micros=F("refunded_micros") + rest)
        job.refunded_micros += rest
    _webhook_enqueue(job=job)
    _on_commit_broadcast(job_id)
    log.info("media job %s failed (%s): %s", job.public_id, code, error)
    return True


def _files_delete(outputs: list[StoredOutput]) -> None:
    for out in outputs:
        try:
            default_storage.delete(out.name)
        except OSError:
            log.warning("could not delete orphan output %s", out.name)


def _webhook_enqueue(*, job: MediaJob) -> None:
    if not job.webhook_url:
        return
    from media_jobs.webhooks import webhook_delivery_create

    webhook_delivery_create(job=job)


def job_outputs_delete(*, job: MediaJob) -> int:
    """Remove a job's stored files (retention, account deletion)."""
    count = 0
    for output in JobOutput.objects.filter(job=job):
        output.file.delete(save=False)
        count += 1
    JobOutput.objects.filter(job=job).delete()
    return count
