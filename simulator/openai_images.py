"""OpenAI Images: /openai/v1/images/generations and /openai/v1/images/edits."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from . import files
from . import text as T
from .app import (
    HTTPError,
    Request,
    Router,
    authorized,
    now,
    parse_multipart,
    pre_faults,
    send_body,
)
from .faults import split_model
from .openai_chat import openai_error, openai_unauthorized

_GPT_IMAGE_OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "auto": 1056}


def _is_gpt_image(model: str) -> bool:
    return model.startswith(("gpt-image", "chatgpt-image"))


def _images_payload(
    req: Request,
    *,
    model: str,
    prompt: str,
    n: Any,
    size: Any,
    response_format: Any,
    quality: Any,
    n_inputs: int,
) -> dict:
    if not isinstance(n, int) or not 1 <= n <= 10:
        raise HTTPError(400, "'n' must be an integer between 1 and 10.")
    gpt_image = _is_gpt_image(model)
    if response_format is None:
        response_format = "b64_json" if gpt_image else "url"
    if response_format not in ("url", "b64_json"):
        raise HTTPError(400, "'response_format' must be 'url' or 'b64_json'.")
    size_str = size if isinstance(size, str) and size != "auto" else "1024x1024"
    w, h = files.scaled_image_dims(size_str)
    base = req.base_url()
    data = []
    for i in range(n):
        seed = T.seed_of(model, prompt, str(i), str(n_inputs))
        name = files.image_name(seed, w, h)
        if response_format == "url":
            item: dict[str, Any] = {"url": f"{base}/files/{name}"}
        else:
            png, _ = files.get_file(name)  # type: ignore[misc]
            item = {"b64_json": base64.b64encode(png).decode()}
        if model == "dall-e-3":
            item["revised_prompt"] = prompt
        data.append(item)
    out: dict[str, Any] = {"created": now(), "data": data}
    if gpt_image:
        q = quality if isinstance(quality, str) and quality in _GPT_IMAGE_OUTPUT_TOKENS else "auto"
        text_tokens = T.count_tokens(prompt) or 1
        image_tokens = n_inputs * 323
        out_tokens = _GPT_IMAGE_OUTPUT_TOKENS[q] * n
        out.update(
            {
                "background": "opaque",
                "output_format": "png",
                "quality": "medium" if q == "auto" else q,
                "size": size_str,
                "usage": {
                    "input_tokens": text_tokens + image_tokens,
                    "input_tokens_details": {
                        "text_tokens": text_tokens,
                        "image_tokens": image_tokens,
                    },
                    "output_tokens": out_tokens,
                    "total_tokens": text_tokens + image_tokens + out_tokens,
                },
            }
        )
    return out


async def generations(req: Request) -> None:
    if not authorized(req, "bearer"):
        await openai_unauthorized(req)
        return
    try:
        body = req.json_object()
        model, opts = split_model(body.get("model") or "dall-e-2")
        f = req.faults(opts)
        if await pre_faults(req, f, openai_error):
            return
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise HTTPError(400, "Missing required parameter: 'prompt'.")
        out = _images_payload(
            req,
            model=model,
            prompt=prompt,
            n=body.get("n", 1),
            size=body.get("size"),
            response_format=body.get("response_format"),
            quality=body.get("quality"),
            n_inputs=0,
        )
    except HTTPError as exc:
        await openai_error(req, exc.status, exc.message)
        return
    if f.empty:
        out["data"] = []
    await send_body(req, 200, orjson.dumps(out), f)


async def edits(req: Request) -> None:
    if not authorized(req, "bearer"):
        await openai_unauthorized(req)
        return
    try:
        fields: dict[str, Any] = {}
        images = 0
        if req.content_type == "application/json":
            body = req.json_object()
            fields = dict(body)
            imgs = body.get("images") or ([body["image"]] if body.get("image") else [])
            images = len(imgs) if isinstance(imgs, list) else 0
        else:
            for part in parse_multipart(req):
                if part.name in ("image", "image[]"):
                    if part.data:
                        images += 1
                elif part.name == "mask":
                    continue
                else:
                    fields[part.name] = part.text
            if "n" in fields:
                try:
                    fields["n"] = int(fields["n"])
                except ValueError:
                    raise HTTPError(400, "'n' must be an integer.") from None
        model, opts = split_model(fields.get("model") or "dall-e-2")
        f = req.faults(opts)
        if await pre_faults(req, f, openai_error):
            return
        prompt = fields.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise HTTPError(400, "Missing required parameter: 'prompt'.")
        if images == 0:
            raise HTTPError(400, "Missing required parameter: 'image'.")
        out = _images_payload(
            req,
            model=model,
            prompt=prompt,
            n=fields.get("n", 1),
            size=fields.get("size"),
            response_format=fields.get("response_format"),
            quality=fields.get("quality"),
            n_inputs=images,
        )
    except HTTPError as exc:
        await openai_error(req, exc.status, exc.message)
        return
    if f.empty:
        out["data"] = []
    await send_body(req, 200, orjson.dumps(out), f)


def register(r: Router) -> None:
    r.add("POST", "/openai/v1/images/generations", generations)
    r.add("POST", "/openai/v1/images/edits", edits)
