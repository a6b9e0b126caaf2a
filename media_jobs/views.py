"""The media endpoints: thin async views over validation, services and waiting.

Two error families: images/generations, video/generations and
audio/generations (000 docs) answer in OpenAI's error shape; images/generate,
videos/generate, audio/generate, 3d/generate and jobs/{id} (001 docs) answer
{"error": "..."} (402: {"error": "Insufficient credits", "required",
"available"}).
"""

import logging
import uuid
from collections.abc import Callable

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.storage import default_storage
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST, require_safe

from accounts.selectors import KeyPrincipal
from billing.services import InsufficientCredits
from catalog.models import Endpoint
from gateway.auth import api_key_from_request
from gateway.errors import ApiError, WireFormat, error_insufficient_credits, error_invalid_key, error_missing_key
from gateway.ratelimit import rate_limit_headers, rate_limit_hit
from gateway.selectors import catalog_current, principal_authenticate
from media_jobs import presenters, validation
from media_jobs.models import JobOutput, MediaJob
from media_jobs.netguard import UnsafeUrl, url_check
from media_jobs.selectors import job_get_for_user, job_public_id_normalise, job_webhook_summary
from media_jobs.services import SpendLimitReached, job_fail, job_submit
from media_jobs.waiting import job_wait

log = logging.getLogger(__name__)

OPENAI = WireFormat.OPENAI
MEDIA = WireFormat.MEDIA
STREAM_CHUNK = 256 * 1024


class Rejected(Exception):
    """An ApiError plus the headers (rate limit) it must carry."""

    def __init__(self, error: ApiError, headers: dict | None = None):
        self.error = error
        self.headers = headers or {}


def _json(data: dict, *, status: int = 200, headers: dict | None = None, request_id: str = "") -> HttpResponse:
    response = HttpResponse(orjson.dumps(data), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    if request_id:
        response["X-Request-Id"] = response["request-id"] = request_id
    return response


def _request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def _error(error: ApiError, wire: WireFormat, *, headers: dict | None = None, request_id: str = "") -> HttpResponse:
    if wire == MEDIA and error.param and "field" not in error.extra:
        error.extra = {**error.extra, "field": error.param}
    response = error.response(wire, request_id=request_id)
    for name, value in (headers or {}).items():
        response[name] = value
    if request_id:
        response["request-id"] = request_id
    return response


def _body(request) -> dict:
    try:
        body = orjson.loads(request.body or b"null")
    except orjson.JSONDecodeError:
        raise ApiError(400, "Request body must be valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.", code="invalid_json")
    return body


async def _authenticate(request) -> tuple[KeyPrincipal, dict]:
    """The key's principal and its rate-limit headers; Rejected otherwise."""
    raw_key = api_key_from_request(request)
    if not raw_key:
        raise Rejected(error_missing_key())
    principal = await principal_authenticate(raw_key=raw_key)
    if principal is None:
        raise Rejected(error_invalid_key())
    limit = await rate_limit_hit(principal=principal)
    headers = rate_limit_headers(limit) if limit.limit else {}
    if not limit.allowed:
        raise Rejected(
            ApiError(429, "Rate limit exceeded: too many requests in the last hour.", code="rate_limit_exceeded"),
            headers,
        )
    return principal, headers


def _submit(principal: KeyPrincipal, req: validation.JobRequest, *, endpoint: str, sync: bool) -> MediaJob:
    return job_submit(
        user_id=principal.user_id,
        api_key_id=principal.key_id,
        model=req.model,
        job_type=req.job_type,
        endpoint=endpoint,
        operation=req.operation,
        input=req.input,
        quantity=req.quantity,
        variant=req.variant,
        sync=sync,
        webhook_url=req.webhook_url,
        deadline_seconds=settings.MEDIA_SYNC_WAIT_SECONDS if sync else settings.MEDIA_JOB_DEADLINE_SECONDS,
        spend_limit_micros=principal.spend_limit_micros,
        spend_limit_period=principal.spend_limit_period,
    )


def _insufficient(exc: InsufficientCredits, wire: WireFormat) -> ApiError:
    """402. The 001 family's exact shape; in OpenAI's shape a sentence that
    says what the job costs (the gateway's own text is about max_tokens)."""
    if wire == MEDIA:
        return error_insufficient_credits(
            required_micros=exc.required_micros, available_micros=exc.available_micros, wire=wire
        )
    required = presenters.credits_number(exc.required_micros)
    available = presenters.credits_number(exc.available_micros)
    return ApiError(
        402,
        f"Insufficient credits: this generation costs {required} credits and {available} are available. "
        "Top up at /dashboard/topup/.",
        code="insufficient_credits",
        extra={"required": required, "available": available},
    )


def _failure(job: MediaJob) -> ApiError:
    """A finished-but-failed synchronous job as the client's error. Its
    credits were refunded by the time we get here."""
    refunded = " Your credits were refunded."
    if job.error_code == "invalid_input":
        return ApiError(400, job.error, code="invalid_input", param=job.error_param or None)
    if job.error_code == "timeout":
        return ApiError(504, "The generation did not finish in time." + refunded, code="timeout")
    if job.error_code == "empty_output":
        return ApiError(502, "The upstream returned no output." + refunded, code="empty_output")
    return ApiError(502, f"Generation failed: {job.error}" + refunded, code=job.error_code or "upstream_error")


async def _finish_sync(job: MediaJob) -> MediaJob:
    job = await job_wait(job=job, timeout=settings.MEDIA_SYNC_WAIT_SECONDS)
    if job.is_active:
        # Out of time: fail it (refund) unless the worker finished it meanwhile.
        await sync_to_async(job_fail)(job_id=job.pk, error="The generation did not finish in time.", code="timeout")
        job = await sync_to_async(MediaJob.objects.get)(pk=job.pk)
    return job


def _job_endpoint(
    *,
    endpoint: str,
    wire: WireFormat,
    parse: Callable,
    present: Callable[[MediaJob], dict],
    sync: bool,
    status: int = 200,
):
    async def view(request):
        request_id = _request_id()
        headers: dict = {}
        try:
            principal, headers = await _authenticate(request)
            body = _body(request)
            snapshot = await catalog_current()
            job_request = parse(snapshot, body)
            if not principal.allows_model(job_request.model.slug):
                raise ApiError(
                    403, f"This API key may not use model '{job_request.model.slug}'.", code="model_not_allowed"
                )
            if job_request.webhook_url:
                try:
                    await sync_to_async(url_check)(
                        job_request.webhook_url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS
                    )
                except UnsafeUrl as exc:
                    raise validation.bad("webhook_url", f"webhook_url refused: it {exc}") from None
            try:
                job = await sync_to_async(_submit)(principal, job_request, endpoint=endpoint, sync=sync)
            except InsufficientCredits as exc:
                raise _insufficient(exc, wire) from None
            except SpendLimitReached as exc:
                raise ApiError(402, str(exc), code="spend_limit_reached") from None
            if sync:
                job = await _finish_sync(job)
                if job.status != MediaJob.Status.COMPLETED:
                    raise _failure(job)
            data = await sync_to_async(present)(job, job_request)
            return _json(data, status=status, headers=headers, request_id=request_id)
        except Rejected as exc:
            return _error(exc.error, wire, headers={**headers, **exc.headers}, request_id=request_id)
        except ApiError as exc:
            return _error(exc, wire, headers=headers, request_id=request_id)

    return csrf_exempt(require_POST(view))


def _present_openai_images(job: MediaJob, req: validation.JobRequest) -> dict:
    b64 = None
    if req.response_format == "b64_json":
        import base64

        b64 = []
        for output in job.outputs.all():
            with default_storage.open(output.file.name, "rb") as f:
                b64.append(base64.b64encode(f.read()).decode())
    return presenters.openai_images_body(job, response_format=req.response_format, b64=b64)


def _just(presenter: Callable[[MediaJob], dict]) -> Callable:
    return lambda job, req: presenter(job)


images_generations = _job_endpoint(
    endpoint=Endpoint.IMAGES_GENERATIONS,
    wire=OPENAI,
    parse=validation.parse_images_generations,
    present=_present_openai_images,
    sync=True,
)
video_generations = _job_endpoint(
    endpoint=Endpoint.VIDEO_GENERATIONS,
    wire=OPENAI,
    parse=validation.parse_video_generations,
    present=_just(presenters.video_generations_body),
    sync=True,
)
audio_generations = _job_endpoint(
    endpoint=Endpoint.AUDIO_GENERATIONS,
    wire=OPENAI,
    parse=validation.parse_audio_generations,
    present=_just(presenters.audio_generations_body),
    sync=True,
)
images_generate = _job_endpoint(
    endpoint=Endpoint.IMAGES_GENERATE,
    wire=MEDIA,
    parse=validation.parse_images_generate,
    present=_just(presenters.images_generate_body),
    sync=True,
)
videos_generate = _job_endpoint(
    endpoint=Endpoint.VIDEOS_GENERATE,
    wire=MEDIA,
    parse=validation.parse_videos_generate,
    present=_just(presenters.videos_generate_body),
    sync=False,
)
audio_generate = _job_endpoint(
    endpoint=Endpoint.AUDIO_GENERATE,
    wire=MEDIA,
    parse=validation.parse_audio_generate,
    present=_just(presenters.audio_generate_body),
    sync=True,
)
threed_generate = _job_endpoint(
    endpoint=Endpoint.THREED_GENERATE,
    wire=MEDIA,
    parse=validation.parse_threed_generate,
    present=_just(presenters.threed_generate_body),
    sync=True,
)


# --- Reads --------------------------------------------------------------------------


JOB_TYPES = {choice.value for choice in MediaJob.Type}


def _job_detail_body(job: MediaJob) -> dict:
    body = presenters.job_status_body(job)
    webhook = job_webhook_summary(job=job)
    if webhook:
        body["webhook"] = webhook
    return body


@require_GET
async def job_detail(request, job_id: str):
    """GET jobs/{id}?model=&type= (001 docs). Another user's job is a 404."""
    headers: dict = {}
    request_id = _request_id()
    try:
        principal, headers = await _authenticate(request)
        job_type = request.GET.get("type")
        if job_type and job_type not in JOB_TYPES:
            raise validation.bad("type", f"type must be one of {', '.join(sorted(JOB_TYPES))}")
        job = await sync_to_async(job_get_for_user)(public_id=job_id, user_id=principal.user_id)
        model = request.GET.get("model")
        if job is None or (job_type and job.type != job_type) or (model and model != job.model):
            raise ApiError(404, "Job not found", code="not_found")
        data = await sync_to_async(_job_detail_body)(job)
        return _json(data, headers=headers, request_id=request_id)
    except Rejected as exc:
        return _error(exc.error, MEDIA, headers={**headers, **exc.headers}, request_id=request_id)
    except ApiError as exc:
        return _error(exc, MEDIA, headers=headers, request_id=request_id)


def _output_lookup(job_id: str, index: int, ext: str) -> JobOutput | None:
    return (
        JobOutput.objects.select_related("job")
        .filter(job__public_id=job_public_id_normalise(job_id), index=index, extension=ext)
        .first()
    )


async def _owner_id(request) -> int | None:
    raw_key = api_key_from_request(request)
    if raw_key:
        principal = await principal_authenticate(raw_key=raw_key)
        return principal.user_id if principal else None
    user = await request.auser()
    return user.pk if user.is_authenticated else None


@require_safe
async def job_output(request, job_id: str, index: int, ext: str):
    """A stored output, served from our storage: to anyone holding a valid
    signed URL, otherwise only to its owner (API key or dashboard session).
    Anything else is a 404, so a job id reveals nothing."""
    output = await sync_to_async(_output_lookup)(job_id, index, ext)
    allowed = False
    if output is not None:
        if "sig" in request.GET:
            allowed = presenters.output_signature_valid(
                job_public_id=output.job.public_id,
                index=output.index,
                expires=request.GET.get("expires", ""),
                signature=request.GET.get("sig", ""),
            )
        else:
            allowed = await _owner_id(request) == output.job.user_id
    if not allowed:
        return _error(ApiError(404, "File not found", code="not_found"), MEDIA, request_id=_request_id())
    try:
        handle = await sync_to_async(default_storage.open)(output.file.name, "rb")
    except (FileNotFoundError, OSError):
        log.error("stored output missing: %s", output.file.name)
        return _error(ApiError(404, "File not found", code="not_found"), MEDIA)

    async def chunks():
        try:
            while True:
                chunk = await sync_to_async(handle.read)(STREAM_CHUNK)
                if not chunk:
                    break
                yield chunk
        finally:
            await sync_to_async(handle.close)()

    response = StreamingHttpResponse(chunks(), content_type=output.content_type)
    response["Content-Length"] = str(output.size_bytes)
    response["Content-Disposition"] = f'inline; filename="{output.job.public_id}-{output.index}.{output.extension}"'
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
