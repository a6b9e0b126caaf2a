"""Celery tasks: thin wrappers over runner.py and webhooks.py.

All of them are safe to run twice (a redelivered message, a duplicate sent
by the sweep): each claims its step with a compare-and-swap first.
"""

from celery import shared_task

from media_jobs import runner, webhooks


@shared_task(name="media_jobs.run", ignore_result=True)
def job_run(job_id: int) -> None:
    delay = runner.job_run(job_id=job_id)
    if delay is not None:
        job_poll.apply_async((job_id, 0), countdown=delay)


@shared_task(name="media_jobs.poll", ignore_result=True)
def job_poll(job_id: int, seq: int) -> None:
    delay = runner.job_poll(job_id=job_id, seq=seq)
    if delay is not None:
        job_poll.apply_async((job_id, seq + 1), countdown=delay)


@shared_task(name="media_jobs.deliver_webhook", ignore_result=True)
def webhook_deliver(delivery_id: int, attempt: int) -> None:
    delay = webhooks.webhook_attempt(delivery_id=delivery_id, attempt=attempt)
    if delay is not None:
        webhook_deliver.apply_async((delivery_id, attempt + 1), countdown=delay)


@shared_task(name="media_jobs.sweep", ignore_result=True)
def sweep() -> dict:
    report = runner.jobs_sweep()
    return report.__dict__
