"""Gemini image models: POST {base}/models/{model}:generateContent with
`responseModalities: ["TEXT", "IMAGE"]`; the picture comes back as an
`inlineData` part (base64 PNG). Input images are sent as `inlineData`
parts too. One call yields one image, so n images take n calls; when a
later call fails the images already made are delivered (and the job is
settled to them)."""

import base64
import binascii
import logging

from catalog.selectors import RouteView
from media_jobs.adapters.base import (
    JobSpec,
    Submitted,
    UpstreamError,
    UpstreamOutput,
    input_fetch,
    input_images,
    request,
    upstream_error_from,
)

log = logging.getLogger(__name__)

PROVIDER = "Gemini"
ASPECT_RATIOS = {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
SIZE_TO_ASPECT = {"1024x1024": "1:1", "1536x1024": "3:2", "1024x1536": "2:3"}


def _body(spec: JobSpec, image_parts: list[dict]) -> dict:
    body = {
        "contents": [{"role": "user", "parts": [{"text": spec.input.get("prompt", "")}, *image_parts]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]},
    }
    aspect = spec.input.get("aspect_ratio") or SIZE_TO_ASPECT.get(spec.input.get("size") or "")
    if aspect in ASPECT_RATIOS:
        body["generationConfig"]["imageConfig"] = {"aspectRatio": aspect}
    return body


def _images_from(payload: dict) -> list[UpstreamOutput]:
    outputs = []
    for candidate in payload.get("candidates") or []:
        for part in (candidate.get("content") or {}).get("parts") or []:
            inline = part.get("inlineData") or part.get("inline_data")
            if not inline or not inline.get("data"):
                continue
            try:
                data = base64.b64decode(inline["data"], validate=True)
            except (binascii.Error, ValueError):
                continue
            outputs.append(
                UpstreamOutput(data=data, content_type=inline.get("mimeType") or inline.get("mime_type", ""))
            )
    return outputs


def submit(*, route: RouteView, spec: JobSpec) -> Submitted:
    image_parts = []
    images = input_images(spec)
    for index, url in enumerate(images):
        data, content_type = input_fetch(url, param=f"image[{index}]" if len(images) > 1 else "image")
        image_parts.append({"inlineData": {"mimeType": content_type, "data": base64.b64encode(data).decode()}})
    body = _body(spec, image_parts)
    url = f"{route.base_url}/models/{route.upstream_model}:generateContent"
    headers = {"x-goog-api-key": route.api_key}
    outputs: list[UpstreamOutput] = []
    for _ in range(spec.quantity):
        try:
            response = request("POST", url, route=route, provider=PROVIDER, headers=headers, json=body)
            if response.status_code != 200:
                raise upstream_error_from(response, PROVIDER)
            try:
                payload = response.json()
            except ValueError:
                raise UpstreamError(f"{PROVIDER} answered with invalid JSON", retryable=True) from None
        except UpstreamError:
            if not outputs:
                raise
            log.warning("Gemini image call failed after %s image(s); delivering those", len(outputs))
            break
        images_now = _images_from(payload)
        if images_now:
            outputs.append(images_now[0])
    return Submitted(outputs=outputs)
