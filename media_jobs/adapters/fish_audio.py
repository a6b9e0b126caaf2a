"""Fish Audio, called directly: text to speech (POST {base}/v1/tts, audio
bytes back), voice cloning (POST {base}/model with the reference voice as a
multipart `voices` file, then TTS with the new `reference_id`) and speech
recognition (POST {base}/v1/asr, multipart `audio` → text, duration,
segments). Emotion markers such as "(happy)" are part of Fish's text syntax
and pass through unchanged. A Fish model name (e.g. "s1") goes in the
provider's extra headers as `model`, as Fish's API expects."""

import io

import mutagen

from catalog.selectors import RouteView
from media_jobs.adapters.base import (
    InputError,
    JobSpec,
    Submitted,
    UpstreamError,
    UpstreamOutput,
    input_fetch,
    request,
    upstream_error_from,
)

PROVIDER = "Fish Audio"
MIN_REFERENCE_SECONDS = 10.0
CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "opus": "audio/ogg", "pcm": "audio/pcm"}


def audio_duration_seconds(data: bytes) -> float | None:
    """Length of an audio file (MP3, WAV, Ogg, FLAC, M4A…), or None when unreadable."""
    try:
        parsed = mutagen.File(io.BytesIO(data))
    except Exception:  # mutagen raises many types for garbage input
        return None
    if parsed is None or getattr(parsed, "info", None) is None:
        return None
    length = getattr(parsed.info, "length", None)
    return float(length) if length else None


def _auth(route: RouteView) -> dict:
    return {"Authorization": f"Bearer {route.api_key}"}


def _tts(*, route: RouteView, text: str, fmt: str, reference_id: str | None) -> UpstreamOutput:
    body = {"text": text, "format": fmt, "normalize": True, "latency": "normal"}
    if reference_id:
        body["reference_id"] = reference_id
    response = request(
        "POST", f"{route.base_url}/v1/tts", route=route, provider=PROVIDER, headers=_auth(route), json=body
    )
    if response.status_code != 200:
        raise upstream_error_from(response, PROVIDER)
    return UpstreamOutput(data=response.content, content_type=CONTENT_TYPES.get(fmt, ""))


def _clone_voice(*, route: RouteView, spec: JobSpec) -> str:
    data, content_type = input_fetch(spec.input.get("reference_audio", ""), param="audio")
    seconds = audio_duration_seconds(data)
    if seconds is None:
        raise InputError("audio", "is not a readable audio file")
    if seconds < MIN_REFERENCE_SECONDS:
        raise InputError(
            "audio", f"reference voice must be at least {MIN_REFERENCE_SECONDS:.0f} s long (got {seconds:.1f} s)"
        )
    response = request(
        "POST",
        f"{route.base_url}/model",
        route=route,
        provider=PROVIDER,
        headers=_auth(route),
        data={"title": f"hypereal {spec.job_id}", "type": "tts", "train_mode": "fast", "visibility": "private"},
        files=[("voices", ("reference", data, content_type))],
    )
    if response.status_code not in (200, 201):
        raise upstream_error_from(response, PROVIDER)
    try:
        model_id = response.json().get("_id")
    except (ValueError, AttributeError):
        model_id = None
    if not model_id:
        raise UpstreamError(f"{PROVIDER} created no voice model", retryable=True)
    return model_id


def _asr(*, route: RouteView, spec: JobSpec) -> dict:
    data, content_type = input_fetch(spec.input.get("audio", ""), param="audio")
    fields = {"ignore_timestamps": "false"}
    if spec.input.get("language"):
        fields["language"] = spec.input["language"]
    response = request(
        "POST",
        f"{route.base_url}/v1/asr",
        route=route,
        provider=PROVIDER,
        headers=_auth(route),
        data=fields,
        files=[("audio", ("audio", data, content_type))],
    )
    if response.status_code != 200:
        raise upstream_error_from(response, PROVIDER)
    try:
        body = response.json()
    except ValueError:
        raise UpstreamError(f"{PROVIDER} answered with invalid JSON", retryable=True) from None
    text = body.get("text") or ""
    if not text:
        return {}
    return {
        "text": text,
        "duration": body.get("duration"),
        "segments": [
            {"text": s.get("text", ""), "start": s.get("start"), "end": s.get("end")}
            for s in body.get("segments") or []
            if isinstance(s, dict)
        ],
    }


def submit(*, route: RouteView, spec: JobSpec) -> Submitted:
    if spec.operation == "asr":
        return Submitted(result=_asr(route=route, spec=spec))
    fmt = spec.input.get("format") or "mp3"
    reference_id = spec.input.get("reference_id")
    if spec.operation == "clone":
        reference_id = _clone_voice(route=route, spec=spec)
    output = _tts(route=route, text=spec.input.get("text", ""), fmt=fmt, reference_id=reference_id)
    return Submitted(outputs=[output] if output.data else [])
