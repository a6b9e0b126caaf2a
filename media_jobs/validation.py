"""Checking and normalising each media endpoint's request body.

Every problem is an ApiError 400 that names the field (`param`), rendered by
the view in its family's error shape. The result is a JobRequest: what to
run, on which model, for how many billed units.
"""

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

from catalog.models import AiModel, Endpoint
from catalog.selectors import CatalogSnapshot, ModelView
from gateway.errors import ApiError

MAX_PROMPT_CHARS = 32_000
MAX_TTS_CHARS = 10_000
MAX_IMAGES = 16
DEFAULT_IMAGE_MODEL = "gpt-image-2"
IMAGE_ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "4:5", "5:4", "21:9")
MULTIVIEW_FIELDS = ("front_image_url", "back_image_url", "left_image_url", "right_image_url")
Kind = AiModel.Kind


@dataclass
class JobRequest:
    model: ModelView
    job_type: str
    operation: str
    input: dict
    quantity: int
    variant: str = "standard"
    webhook_url: str = ""
    response_format: str = "url"
    extra: dict = field(default_factory=dict)


def bad(param: str, message: str) -> ApiError:
    return ApiError(400, message, code="invalid_request", param=param, extra={})


def _string(body: dict, name: str, *, required: bool = False, label: str | None = None, max_len: int = 0) -> str:
    label = label or name
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise bad(label, f"{label} is required")
        return ""
    if not isinstance(value, str):
        raise bad(label, f"{label} must be a string")
    value = value.strip()
    if required and not value:
        raise bad(label, f"{label} is required")
    if max_len and len(value) > max_len:
        raise bad(label, f"{label} is longer than {max_len} characters")
    return value


def _integer(value, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        raise bad(label, f"{label} must be an integer")
    return int(value)


def _media_ref(value, label: str) -> str:
    """An input file: an http(s) URL or a data: URI."""
    if not isinstance(value, str) or not value.strip():
        raise bad(label, f"{label} must be an http(s) URL or a data: URI")
    value = value.strip()
    if value.startswith("data:"):
        if "," not in value:
            raise bad(label, f"{label} is not a valid data: URI")
        # base64 is 4/3 of the bytes; inputs are stored with the job, so cap them here.
        if len(value) > settings.MEDIA_INPUT_MAX_BYTES * 4 // 3 + 256:
            raise bad(label, f"{label} is larger than {settings.MEDIA_INPUT_MAX_BYTES} bytes")
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad(label, f"{label} must be an http(s) URL or a data: URI")
    return value


def _media_list(body: dict, names: tuple[str, ...], label: str) -> list[str]:
    refs: list[str] = []
    for name in names:
        value = body.get(name)
        if value in (None, "", []):
            continue
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            # OpenAI's JSON edit shape: {"image_url": "..."} objects.
            if isinstance(item, dict):
                item = item.get("image_url") or item.get("url")
            refs.append(_media_ref(item, f"{name}[{i}]" if isinstance(value, list) else name))
    if len(refs) > MAX_IMAGES:
        raise bad(label, f"at most {MAX_IMAGES} input images")
    return refs


def _webhook(body: dict) -> str:
    url = _string(body, "webhook_url", max_len=2000)
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad("webhook_url", "webhook_url must be an absolute http(s) URL")
    return url


def model_resolve(snapshot: CatalogSnapshot, body: dict, *, endpoint: str, default: str | None = None) -> ModelView:
    raw = body.get("model")
    if raw is None or raw == "":
        if default is None:
            raise bad("model", "Model is required")
        raw = default
    if not isinstance(raw, str):
        raise bad("model", "model must be a string")
    model = snapshot.resolve(raw)
    available = sorted(m.slug for m in snapshot.for_endpoint(endpoint))
    if model is None:
        error = bad("model", f"Unknown model '{raw}'.")
        error.code = "model_not_found"
        error.extra["available_models"] = available
        raise error
    if not model.serves(endpoint):
        error = bad("model", f"Model '{model.slug}' is not served on this endpoint.")
        error.code = "model_not_supported"
        error.extra["available_models"] = available
        raise error
    return model


def _mode(body: dict) -> str:
    mode = body.get("mode", "auto")
    if mode in (None, ""):
        mode = "auto"
    if mode not in ("auto", "fast"):
        raise bad("mode", "mode must be 'auto' or 'fast'")
    return "fast" if mode == "fast" else "standard"


def _fast_route_check(model: ModelView, variant: str) -> None:
    if variant == "fast" and not model.routes_for("fast"):
        raise bad("mode", f"Model '{model.slug}' has no fast mode")


def _n(body: dict, model: ModelView) -> int:
    value = body.get("n", 1)
    if value is None:
        value = 1
    n = _integer(value, "n")
    # The docs: n is clamped to 1–10 (and to the model's own maximum).
    return max(1, min(n, 10, int(model.options.get("max_n", 10))))


# --- images -----------------------------------------------------------------------


def _image_request(body: dict, model: ModelView, *, variant: str, image_names: tuple[str, ...]) -> JobRequest:
    prompt = _string(body, "prompt", required=True, max_len=MAX_PROMPT_CHARS)
    n = _n(body, model)
    size = _string(body, "size")
    sizes = model.options.get("sizes")
    if size and size != "auto" and sizes and size not in sizes:
        raise bad("size", f"size must be one of {', '.join(sizes)}")
    aspect_ratio = _string(body, "aspect_ratio")
    if aspect_ratio and aspect_ratio not in IMAGE_ASPECT_RATIOS:
        raise bad("aspect_ratio", f"aspect_ratio must be one of {', '.join(IMAGE_ASPECT_RATIOS)}")
    images = _media_list(body, image_names, image_names[0])
    if model.kind == Kind.IMAGE_EDIT and not images:
        raise bad(image_names[0], f"{image_names[0]} is required: '{model.slug}' edits an input image")
    if images and not model.options.get("accepts_images", model.kind == Kind.IMAGE_EDIT):
        raise bad(image_names[0], f"Model '{model.slug}' does not take input images")
    data = {"prompt": prompt, "images": images}
    if size and size != "auto":
        data["size"] = size
    if aspect_ratio:
        data["aspect_ratio"] = aspect_ratio
    quality = _string(body, "quality")
    if quality:
        data["quality"] = quality
    return JobRequest(
        model=model,
        job_type="image",
        operation="edit" if images else "generate",
        input=data,
        quantity=n,
        variant=variant,
    )


def parse_images_generations(snapshot: CatalogSnapshot, body: dict) -> JobRequest:
    """POST images/generations (000 docs, OpenAI Images shape)."""
    model = model_resolve(snapshot, body, endpoint=Endpoint.IMAGES_GENERATIONS)
    response_format = body.get("response_format") or "url"
    if response_format not in ("url", "b64_json"):
        raise bad("response_format", "response_format must be 'url' or 'b64_json'")
    request = _image_request(body, model, variant="standard", image_names=("image", "images", "reference_images"))
    request.response_format = response_format
    return request


def parse_images_generate(snapshot: CatalogSnapshot, body: dict) -> JobRequest:
    """POST images/generate (001 docs): mode auto|fast, aspect_ratio."""
    model = model_resolve(snapshot, body, endpoint=Endpoint.IMAGES_GENERATE, default=DEFAULT_IMAGE_MODEL)
    variant = _mode(body)
    _fast_route_check(model, variant)
    request = _image_request(body, model, variant=variant, image_names=("image", "images", "reference_images"))
    request.webhook_url = _webhook(body)
    return request


# --- video ------------------------------------------------------------------------


def _video_request(data: dict, model: ModelView, *, prefix: str, variant: str) -> JobRequest:
    def label(name: str) -> str:
        return f"{prefix}{name}"

    prompt = _string(data, "prompt", label=label("prompt"), max_len=MAX_PROMPT_CHARS)
    image = ""
    for name in ("image", "image_url", "first_frame_image"):
        if data.get(name) not in (None, ""):
            image = _media_ref(data[name], label(name))
            break
    last_image = ""
    for name in ("last_image", "last_image_url"):
        if data.get(name) not in (None, ""):
            last_image = _media_ref(data[name], label(name))
            break
    if not prompt and not image:
        raise bad(label("prompt"), f"{label('prompt')} is required (or an image to animate)")
    options = model.options
    durations = options.get("durations") or []
    duration = options.get("default_duration") or (durations[0] if durations else 5)
    if data.get("duration") not in (None, ""):
        duration = _integer(data["duration"], label("duration"))
        if durations and duration not in durations:
            raise bad(label("duration"), f"{label('duration')} must be one of {', '.join(map(str, durations))} seconds")
        if duration <= 0:
            raise bad(label("duration"), f"{label('duration')} must be positive")
    aspect_ratio = _string(data, "aspect_ratio", label=label("aspect_ratio"))
    ratios = options.get("aspect_ratios") or []
    if aspect_ratio and ratios and aspect_ratio not in ratios:
        raise bad(label("aspect_ratio"), f"{label('aspect_ratio')} must be one of {', '.join(ratios)}")
    payload = {"prompt": prompt, "duration": duration, "aspect_ratio": aspect_ratio or (ratios[0] if ratios else "")}
    if image:
        payload["image"] = image
    if last_image:
        payload["last_image"] = last_image
    for name in ("negative_prompt", "seed", "resolution"):
        if data.get(name) not in (None, ""):
            payload[name] = data[name]
    # Billed per second for per-second models; per clip otherwise (quantity
    # is then informational: one clip).
    quantity = duration if model.pricing_unit == AiModel.PricingUnit.PER_SECOND else 1
    return JobRequest(
        model=model,
        job_type="video",
        operation="image_to_video" if image else "text_to_video",
        input=payload,
        quantity=quantity,
        variant=variant,
    )


def parse_video_generations(snapshot: CatalogSnapshot, body: dict) -> JobRequest:
    """POST video/generations (000 docs, synchronous long-poll)."""
    model = model_resolve(snapshot, body, endpoint=Endpoint.VIDEO_GENERATIONS)
    return _video_request(body, model, prefix="", variant="standard")


def parse_videos_generate(snapshot: CatalogSnapshot, body: dict) -> JobRequest:
    """POST videos/generate (001 docs, asynchronous): fields under `input`."""
    model = model_resolve(snapshot, body, endpoint=Endpoint.VIDEOS_GENERATE)
    variant = _mode(body)
    _fast_route_check(model, variant)
    data = body.get("input")
    if data is None:
        raise bad("input", "input is required")
    if not isinstance(data, dict):
        raise bad("input", "input must be an object")
    request = _video_request(data, model, prefix="input.", variant=variant)
    request.webhook_url = _webhook(body)
    return request


# --- audio ------------------------------------------------------------------------

OPERATIONS = {"audio-tts": "tts", "audio-clone": "clone", "audio-asr": "asr"}


def _audio_request(data: dict, model: ModelView, *, prefix: str) -> JobRequest:
    def label(name: str) -> str:
        return f"{prefix}{name}"

    operation = model.options.get("operation") or OPERATIONS.get(model.slug, "tts")
    payload: dict = {}
    if operation in ("tts", "clone"):
        payload["text"] = _string(data, "text", required=True, label=label("text"), max_len=MAX_TTS_CHARS)
        fmt = _string(data, "format", label=label("format")) or "mp3"
        formats = model.options.get("formats") or ["mp3", "wav"]
        if fmt not in formats:
            raise bad(label("format"), f"{label('format')} must be one of {', '.join(formats)}")
        payload["format"] = fmt
    if operation == "tts":
        voice = _string(data, "voice_id", label=label("voice_id")) or _string(
            data, "reference_id", label=label("reference_id")
        )
        if voice:
            voices = model.options.get("voices") or {}
            if voice in voices:
                voice = voices[voice]
            elif not (len(voice) == 32 and all(c in "0123456789abcdef" for c in voice)):
                error = bad(label("voice_id"), f"Unknown voice '{voice}': use a Fish Audio voice id (32 hex)")
                if voices:
                    error.extra["available_voices"] = sorted(voices)
                raise error
            payload["reference_id"] = voice
    if operation == "clone":
        if data.get("audio") in (None, ""):
            raise bad(label("audio"), f"{label('audio')} is required: a reference voice of at least 10 s")
        payload["reference_audio"] = _media_ref(data["audio"], label("audio"))
    if operation == "asr":
        if data.get("audio") in (None, ""):
            raise bad(label("audio"), f"{label('audio')} is required")
        payload["audio"] = _media_ref(data["audio"], label("audio"))
        language = _string(data, "language", label=label("language"))
        if language:
            payload["language"] = language
    return JobRequest(model=model, job_type="audio", operation=operation, input=payload, quantity=1)


def parse_audio_generations(snapshot: CatalogSnapshot, body: dict) -> JobRequest:
    """POST audio/generations (000 docs): fields at the top level."""
    model = model_resolve(snapshot, body, endpoint=Endpoint.AUDIO_GENERATIONS)
    return _audio_request(body, model, prefix="")


def parse_audio_generate(snapshot: CatalogSnapshot, body: dict) -> JobRequest:
    """POST audio/generate (001 docs): fields under `input`."""
    model = model_resolve(snapshot, body, endpoint=Endpoint.AUDIO_GENERATE)
    data = body.get("input")
    if data is None:
        raise bad("input", "input is required")
    if not isinstance(data, dict):
        raise bad("input", "input must be an object")
    request = _audio_request(data, model, prefix="input.")
    request.webhook_url = _webhook(body)
    return request


# --- 3D ---------------------------------------------------------------------------


def parse_threed_generate(snapshot: CatalogSnapshot, body: dict) -> JobRequest:
    """POST 3d/generate (001 docs): one image, or four views, to a GLB."""
    model = model_resolve(snapshot, body, endpoint=Endpoint.THREED_GENERATE)
    data = body.get("input")
    if data is None:
        raise bad("input", "input is required")
    if not isinstance(data, dict):
        raise bad("input", "input must be an object")
    inputs = model.options.get("inputs") or ["image"]
    payload = {}
    if set(inputs) >= set(MULTIVIEW_FIELDS):
        for name in MULTIVIEW_FIELDS:
            if data.get(name) in (None, ""):
                raise bad(f"input.{name}", f"input.{name} is required: '{model.slug}' takes four views")
            payload[name] = _media_ref(data[name], f"input.{name}")
        operation = "multiview_to_3d"
    else:
        image = data.get("image") or data.get("image_url")
        if image in (None, ""):
            raise bad("input.image", "input.image is required")
        payload["image"] = _media_ref(image, "input.image")
        operation = "image_to_3d"
    request = JobRequest(model=model, job_type="3d", operation=operation, input=payload, quantity=1)
    request.webhook_url = _webhook(body)
    return request
