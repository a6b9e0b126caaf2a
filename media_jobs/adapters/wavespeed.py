"""The asynchronous submit-and-poll media API (WaveSpeed's v3 shape), used for
video, fast-mode images and 3D.

Submit: POST {base}/{model} with the inputs → {"code": 200, "data": {"id",
"status": "created", ...}}. Poll: GET {base}/predictions/{id}/result →
data.status created | processing | completed | failed, data.outputs (URLs),
data.error. A 429 (or any transient trouble) while polling only means "ask
again later"; it never fails the job.
"""

from catalog.selectors import RouteView
from media_jobs.adapters.base import (
    JobSpec,
    Polled,
    Submitted,
    UpstreamError,
    UpstreamOutput,
    input_images,
    request,
    upstream_error_from,
)

PROVIDER = "Media API"
PENDING = {"created", "pending", "queued", "processing", "running", "starting", "in_progress"}
COMPLETED = {"completed", "succeeded", "success"}
FAILED = {"failed", "error", "canceled", "cancelled"}
PROGRESS = {"created": 10, "pending": 10, "queued": 10, "starting": 20, "processing": 50, "running": 50}
MULTIVIEW_FIELDS = ("front_image_url", "back_image_url", "left_image_url", "right_image_url")
PASSTHROUGH = ("seed", "negative_prompt", "resolution", "quality", "style")


def _headers(route: RouteView) -> dict:
    return {"Authorization": f"Bearer {route.api_key}"}


def _body(spec: JobSpec) -> dict:
    data = spec.input
    body: dict = {"enable_base64_output": False, "enable_sync_mode": False}
    if data.get("prompt"):
        body["prompt"] = data["prompt"]
    images = input_images(spec)
    if spec.type == "image":
        body["num_images"] = spec.quantity
        if data.get("size"):
            body["size"] = data["size"].replace("x", "*")
        if data.get("aspect_ratio"):
            body["aspect_ratio"] = data["aspect_ratio"]
        if images:
            body["image"] = images[0]
            body["images"] = images
    elif spec.type == "video":
        body["duration"] = data.get("duration")
        if data.get("aspect_ratio"):
            body["aspect_ratio"] = data["aspect_ratio"]
        if data.get("image"):
            body["image"] = data["image"]
        if data.get("last_image"):
            body["last_image"] = data["last_image"]
    elif spec.type == "3d":
        if data.get("image"):
            body["image"] = data["image"]
        views = [data[f] for f in MULTIVIEW_FIELDS if data.get(f)]
        if views:
            body.update({f: data[f] for f in MULTIVIEW_FIELDS if data.get(f)})
            body["images"] = views
    for key in PASSTHROUGH:
        if data.get(key) is not None:
            body[key] = data[key]
    return body


def _envelope_data(response, *, provider: str) -> dict:
    try:
        payload = response.json()
    except ValueError:
        raise UpstreamError(f"{provider} answered with invalid JSON", retryable=True) from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise UpstreamError(f"{provider} answered without a job: {str(payload)[:200]}", retryable=True)
    return data


def submit(*, route: RouteView, spec: JobSpec) -> Submitted:
    response = request(
        "POST",
        f"{route.base_url}/{route.upstream_model}",
        route=route,
        provider=PROVIDER,
        headers=_headers(route),
        json=_body(spec),
    )
    if response.status_code != 200:
        raise upstream_error_from(response, PROVIDER)
    data = _envelope_data(response, provider=PROVIDER)
    upstream_id = str(data.get("id") or "")
    if not upstream_id:
        raise UpstreamError(f"{PROVIDER} answered without a job id", retryable=True)
    return Submitted(upstream_id=upstream_id, upstream_status=str(data.get("status") or "created"), done=False)


def _retry_after(response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def poll(*, route: RouteView, upstream_id: str) -> Polled:
    try:
        response = request(
            "GET",
            f"{route.base_url}/predictions/{upstream_id}/result",
            route=route,
            provider=PROVIDER,
            headers=_headers(route),
        )
    except UpstreamError as exc:
        return Polled(state="pending", upstream_status="unreachable", error=exc.message)
    if response.status_code == 429:
        return Polled(state="pending", upstream_status="rate_limited", retry_after=_retry_after(response))
    if response.status_code >= 500 or response.status_code == 408:
        return Polled(state="pending", upstream_status=f"http_{response.status_code}")
    if response.status_code != 200:
        error = upstream_error_from(response, PROVIDER)
        return Polled(state="failed", error=error.message, upstream_status=f"http_{response.status_code}")
    try:
        data = _envelope_data(response, provider=PROVIDER)
    except UpstreamError as exc:
        return Polled(state="pending", upstream_status="bad_answer", error=exc.message)
    status = str(data.get("status") or "").lower()
    if status in COMPLETED:
        outputs = [UpstreamOutput(url=u) for u in data.get("outputs") or [] if isinstance(u, str) and u]
        return Polled(state="completed", outputs=outputs, upstream_status=status)
    if status in FAILED:
        return Polled(state="failed", error=str(data.get("error") or "generation failed"), upstream_status=status)
    return Polled(state="pending", upstream_status=status or "unknown", progress=PROGRESS.get(status, 30))
