"""Waiting for a job without holding a thread.

A synchronous endpoint (images, the video long-poll, audio, 3D) awaits its
job on the event loop: it listens on the job's channel-layer group, which the
worker notifies on every change, and re-reads the job from the database at
least every RECHECK_MAX_SECONDS in case a notification never arrives (the
in-memory layer does not cross processes). No thread is parked while it
waits; only the short reads run in the thread pool.
"""

import asyncio

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from media_jobs.live import job_group
from media_jobs.models import MediaJob

# The database re-read cadence: quick at first (most jobs finish in seconds),
# then every RECHECK_MAX_SECONDS.
RECHECK_FIRST_SECONDS = 0.2
RECHECK_MAX_SECONDS = 1.0


def _job_read(job_id: int) -> MediaJob:
    return MediaJob.objects.get(pk=job_id)


async def job_wait(*, job: MediaJob, timeout: float) -> MediaJob:
    """The job once it is no longer active, or as it is when `timeout` runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    layer = get_channel_layer()
    channel = None
    if layer is not None:
        channel = await layer.new_channel()
        await layer.group_add(job_group(job.public_id), channel)
    recheck = RECHECK_FIRST_SECONDS
    try:
        while True:
            job = await sync_to_async(_job_read)(job.pk)
            remaining = deadline - loop.time()
            if not job.is_active or remaining <= 0:
                return job
            wait = min(remaining, recheck)
            recheck = min(recheck * 1.5, RECHECK_MAX_SECONDS)
            if channel is None:
                await asyncio.sleep(wait)
                continue
            try:
                await asyncio.wait_for(layer.receive(channel), timeout=wait)
            except TimeoutError:
                pass
    finally:
        if channel is not None:
            await layer.group_discard(job_group(job.public_id), channel)
