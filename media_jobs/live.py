"""Live job status over the Channels layer.

Every change of a job is sent to two groups: the owner's (the dashboard's
WebSocket listens there) and the job's own (a synchronous endpoint waiting
for that job listens there). The in-memory layer only reaches the same
process; with Redis configured it reaches every web process, so a worker's
update wakes the waiting request at once. Waiters also re-read the job
from the database on a short timer, so a lost message only costs latency.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from media_jobs.models import MediaJob

log = logging.getLogger(__name__)

EVENT_TYPE = "job.status"


def user_group(user_id: int) -> str:
    return f"media_jobs.user.{user_id}"


def job_group(public_id: str) -> str:
    return f"media_jobs.job.{public_id}"


def job_broadcast(*, job_id: int) -> None:
    from media_jobs.presenters import job_status_body

    layer = get_channel_layer()
    if layer is None:
        return
    job = MediaJob.objects.filter(pk=job_id).first()
    if job is None:
        return
    message = {"type": EVENT_TYPE, "job": job_status_body(job)}
    try:
        async_to_sync(_send)(layer, [user_group(job.user_id), job_group(job.public_id)], message)
    except Exception:  # the status is in the database; a lost live event is not an error
        log.warning("could not broadcast status of %s", job.public_id, exc_info=True)


async def _send(layer, groups: list[str], message: dict) -> None:
    for group in groups:
        await layer.group_send(group, message)
