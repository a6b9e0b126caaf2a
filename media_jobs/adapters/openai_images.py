"""OpenAI Images: POST {base}/images/generations (JSON) and, when the job
has input images, POST {base}/images/edits (multipart, `image[]` parts), as
in OpenAI's API reference. Answers carry `data[].url` or `data[].b64_json`
(GPT Image models always answer in base64)."""

import base64
import binascii

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

PROVIDER = "OpenAI Images"
ASPECT_TO_SIZE = {"1:1": "1024x1024", "16:9": "1536x1024", "3:2": "1536x1024", "9:16": "1024x1536", "2:3": "1024x1536"}


def _size(spec: JobSpec) -> str | None:
    if spec.input.get("size"):
        return spec.input["size"]
    return ASPECT_TO_SIZE.get(spec.input.get("aspect_ratio") or "")


def submit(*, route: RouteView, spec: JobSpec) -> Submitted:
    headers = {"Authorization": f"Bearer {route.api_key}"}
    size = _size(spec)
    images = input_images(spec)
    if images:
        fields = {"model": route.upstream_model, "prompt": spec.input.get("prompt", ""), "n": str(spec.quantity)}
        if size:
            fields["size"] = size
        files = []
        for index, url in enumerate(images):
            data, content_type = input_fetch(url, param=f"image[{index}]" if len(images) > 1 else "image")
            files.append(("image[]", (f"image{index}.png", data, content_type)))
        response = request(
            "POST",
            f"{route.base_url}/images/edits",
            route=route,
            provider=PROVIDER,
            headers=headers,
            data=fields,
            files=files,
        )
    else:
        body = {"model": route.upstream_model, "prompt": spec.input.get("prompt", ""), "n": spec.quantity}
        if size:
            body["size"] = size
        if spec.input.get("quality"):
            body["quality"] = spec.input["quality"]
        response = request(
            "POST", f"{route.base_url}/images/generations", route=route, provider=PROVIDER, headers=headers, json=body
        )
    if response.status_code != 200:
        raise upstream_error_from(response, PROVIDER)
    try:
        data = response.json().get("data") or []
    except (ValueError, AttributeError):
        raise UpstreamError(f"{PROVIDER} answered with invalid JSON", retryable=True) from None
    outputs = []
    for item in data[: spec.quantity]:
        if not isinstance(item, dict):
            continue
        if item.get("b64_json"):
            try:
                outputs.append(UpstreamOutput(data=base64.b64decode(item["b64_json"], validate=True)))
            except (binascii.Error, ValueError):
                continue
        elif item.get("url"):
            outputs.append(UpstreamOutput(url=item["url"]))
    return Submitted(outputs=outputs)
