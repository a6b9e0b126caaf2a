"""How jobs look on the wire: each endpoint's documented response shape,
credits as numbers, and the (signed) URLs of stored outputs."""

import time
from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare

from billing.models import micros_to_credits
from media_jobs.models import JobOutput, MediaJob

_signer = signing.Signer(salt="media_jobs.output")


def credits_number(micros: int) -> int | float:
    """Credits as a JSON number: an integer when whole (the docs show 4, 69)."""
    value: Decimal = micros_to_credits(micros)
    return int(value) if value == value.to_integral_value() else float(value)


def _output_message(job_public_id: str, index: int, expires: int) -> str:
    return f"{job_public_id}/{index}:{expires}"


def output_signature(*, job_public_id: str, index: int, expires: int) -> str:
    return _signer.signature(_output_message(job_public_id, index, expires))


def output_signature_valid(*, job_public_id: str, index: int, expires: str, signature: str) -> bool:
    try:
        expires_at = int(expires)
    except (TypeError, ValueError):
        return False
    if expires_at < time.time():
        return False
    expected = output_signature(job_public_id=job_public_id, index=index, expires=expires_at)
    return constant_time_compare(expected, signature or "")


def job_output_url(output: JobOutput, *, signed: bool = True) -> str:
    """Absolute URL of a stored output on our own domain. Signed URLs work
    without the API key until they expire; unsigned ones need the owner's key."""
    path = reverse(
        "api:media-job-output",
        kwargs={"job_id": output.job.public_id, "index": output.index, "ext": output.extension},
    )
    url = settings.PUBLIC_BASE_URL.rstrip("/") + path
    if signed:
        expires = int(time.time()) + settings.MEDIA_SIGNED_URL_TTL_SECONDS
        sig = output_signature(job_public_id=output.job.public_id, index=output.index, expires=expires)
        url += f"?expires={expires}&sig={sig}"
    return url


def job_poll_url(job: MediaJob) -> str:
    path = reverse("api:media-job-detail", kwargs={"job_id": job.public_id})
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}?model={job.model}&type={job.type}"


def _outputs(job: MediaJob) -> list[JobOutput]:
    return list(job.outputs.all())


def job_status_body(job: MediaJob) -> dict:
    """GET jobs/{id} (001 docs) and the live WebSocket event."""
    outputs = _outputs(job) if job.status == MediaJob.Status.COMPLETED else []
    body = {
        "jobId": job.public_id,
        "status": job.status,
        "type": job.type,
        "model": job.model,
        "progress": job.progress,
        "outputUrl": job_output_url(outputs[0]) if outputs else None,
        "creditsUsed": credits_number(job.cost_micros),
        "createdAt": int(job.created_at.timestamp()),
    }
    if len(outputs) > 1:
        body["outputUrls"] = [job_output_url(o) for o in outputs]
    if job.result:
        body.update({k: v for k, v in job.result.items() if k in ("text", "segments", "duration")})
    if job.status == MediaJob.Status.FAILED:
        body["error"] = job.error or "Generation failed"
    return body


def openai_images_body(job: MediaJob, *, response_format: str, b64: list[str] | None = None) -> dict:
    """images/generations (000 docs): the OpenAI Images response."""
    outputs = _outputs(job)
    if response_format == "b64_json" and b64 is not None:
        data = [{"b64_json": item} for item in b64]
    else:
        data = [{"url": job_output_url(o)} for o in outputs]
    return {"created": int((job.finished_at or job.created_at).timestamp()), "data": data}


def video_generations_body(job: MediaJob) -> dict:
    """video/generations (000 docs, long-poll): the clip's URL(s)."""
    outputs = _outputs(job)
    return {
        "id": job.public_id,
        "object": "video.generation",
        "created": int(job.created_at.timestamp()),
        "model": job.model,
        "status": job.status,
        "duration": job.input.get("duration"),
        "aspect_ratio": job.input.get("aspect_ratio"),
        "data": [{"url": job_output_url(o)} for o in outputs],
        "credits_used": credits_number(job.cost_micros),
    }


def audio_generations_body(job: MediaJob) -> dict:
    """audio/generations (000 docs): data[{url}] for TTS and clone; text,
    segments and duration for ASR."""
    if job.operation == "asr":
        return {
            "text": job.result.get("text", ""),
            "segments": job.result.get("segments", []),
            "duration": job.result.get("duration"),
        }
    return {
        "created": int((job.finished_at or job.created_at).timestamp()),
        "data": [{"url": job_output_url(o)} for o in _outputs(job)],
    }


def images_generate_body(job: MediaJob) -> dict:
    """images/generate (001 docs)."""
    return {
        "created": int((job.finished_at or job.created_at).timestamp()),
        "data": [{"url": job_output_url(o), "model": job.model} for o in _outputs(job)],
        "resultId": job.result_id,
        "creditsUsed": credits_number(job.cost_micros),
    }


def videos_generate_body(job: MediaJob) -> dict:
    """videos/generate (001 docs): accepted, runs asynchronously."""
    message = (
        "Generation started. Result will be sent to your webhook URL."
        if job.webhook_url
        else "Generation started. Poll pollUrl for the result."
    )
    return {
        "jobId": job.public_id,
        "status": "processing",
        "message": message,
        "pollUrl": job_poll_url(job),
        "creditsUsed": credits_number(job.charged_micros),
    }


def audio_generate_body(job: MediaJob) -> dict:
    """audio/generate (001 docs)."""
    body = {"success": True, "jobId": job.public_id}
    if job.operation == "asr":
        body.update(
            {
                "text": job.result.get("text", ""),
                "duration": job.result.get("duration"),
                "segments": job.result.get("segments", []),
            }
        )
    else:
        outputs = _outputs(job)
        body.update(
            {
                "outputUrl": job_output_url(outputs[0]) if outputs else None,
                "format": outputs[0].extension if outputs else job.input.get("format"),
            }
        )
    body["creditsUsed"] = credits_number(job.cost_micros)
    return body


def threed_generate_body(job: MediaJob) -> dict:
    """3d/generate (001 docs): one GLB."""
    outputs = _outputs(job)
    return {
        "success": True,
        "jobId": job.public_id,
        "outputUrl": job_output_url(outputs[0]) if outputs else None,
        "format": "glb",
        "creditsUsed": credits_number(job.cost_micros),
    }
