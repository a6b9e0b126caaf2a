"""Google Gemini (Generative Language API).

POST {base}/models/{model}:generateContent, or :streamGenerateContent?alt=sse
for SSE, with `x-goog-api-key`. The model is in the path, not the body. Every
streamed chunk repeats `usageMetadata`; the one on the chunk with a
`finishReason` is final. Thinking tokens (`thoughtsTokenCount`) are billed
as output on top of `candidatesTokenCount`; `cachedContentTokenCount` is part
of `promptTokenCount`.
"""

from __future__ import annotations

from urllib.parse import quote

import orjson

from catalog.selectors import RouteView
from gateway.metering import Usage, tokens_from_chars
from gateway.sse import event_json
from gateway.upstreams._common import as_int, json_headers

PROTOCOL = "gemini"
_NOT_BODY = ("model", "stream")


def _url(route: RouteView, action: str) -> str:
    model = route.upstream_model.removeprefix("models/")
    return f"{route.base_url}/models/{quote(model, safe=':=,.-_')}:{action}"


def _headers(route: RouteView, *, stream: bool) -> dict:
    headers = json_headers(stream=stream, extra=route.extra_headers)
    if route.api_key:
        headers["x-goog-api-key"] = route.api_key
    return headers


def request(route: RouteView, body: dict, *, stream: bool, client_headers: dict) -> tuple[str, dict, bytes]:
    body = {k: v for k, v in body.items() if k not in _NOT_BODY}
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return _url(route, action), _headers(route, stream=stream), orjson.dumps(body)


def count_tokens_request(route: RouteView, body: dict) -> tuple[str, dict, bytes]:
    body = {k: v for k, v in body.items() if k not in _NOT_BODY}
    return _url(route, "countTokens"), _headers(route, stream=False), orjson.dumps(body)


def usage_parse(meta) -> Usage | None:
    if not isinstance(meta, dict):
        return None
    thoughts = as_int(meta.get("thoughtsTokenCount"))
    return Usage(
        input_tokens=as_int(meta.get("promptTokenCount")) + as_int(meta.get("toolUsePromptTokenCount")),
        cached_input_tokens=as_int(meta.get("cachedContentTokenCount")),
        output_tokens=as_int(meta.get("candidatesTokenCount")) + thoughts,
        reasoning_tokens=thoughts,
    )


def usage_from_body(body: dict) -> Usage | None:
    return usage_parse(body.get("usageMetadata"))


def usage_from_events(events: list[bytes]) -> Usage | None:
    for raw in reversed(events):
        if b"finishReason" in raw and b"usageMetadata" in raw:
            data = event_json(raw)
            if data:
                return usage_parse(data.get("usageMetadata"))
    return None


def _chunk_chars(data: dict) -> int:
    chars = 0
    for candidate in data.get("candidates") or ():
        for part in ((candidate or {}).get("content") or {}).get("parts") or ():
            if isinstance(part.get("text"), str):
                chars += len(part["text"])
            call = part.get("functionCall")
            if isinstance(call, dict):
                chars += len(call.get("name") or "") + len(orjson.dumps(call.get("args") or {}))
    return chars


def estimate_usage(events: list[bytes], prompt_chars: int) -> Usage:
    prompt_tokens = 0
    chars = 0
    for data in map(event_json, events):
        if not data:
            continue
        chars += _chunk_chars(data)
        meta = data.get("usageMetadata")
        if isinstance(meta, dict):
            prompt_tokens = as_int(meta.get("promptTokenCount")) or prompt_tokens
    return Usage(
        input_tokens=prompt_tokens or tokens_from_chars(prompt_chars),
        output_tokens=tokens_from_chars(chars),
        estimated=True,
    )


def is_error_event(raw: bytes) -> bool:
    return raw.startswith((b'data: {"error"', b'data:{"error"'))


def is_final_event(raw: bytes) -> bool:
    return b"finishReason" in raw


def aggregate(events: list[bytes]) -> dict:
    """The GenerateContentResponse a stream of chunks adds up to."""
    result: dict = {"candidates": []}
    candidates: dict[int, dict] = {}
    for data in map(event_json, events):
        if not data:
            continue
        for key in ("usageMetadata", "modelVersion", "responseId", "promptFeedback"):
            if key in data:
                result[key] = data[key]
        for candidate in data.get("candidates") or ():
            index = candidate.get("index", 0)
            slot = candidates.setdefault(index, {"content": {"role": "model", "parts": []}, "index": index})
            parts = slot["content"]["parts"]
            for part in (candidate.get("content") or {}).get("parts") or ():
                last = parts[-1] if parts else None
                if (
                    last is not None
                    and isinstance(part.get("text"), str)
                    and isinstance(last.get("text"), str)
                    and bool(last.get("thought")) == bool(part.get("thought"))
                ):
                    last["text"] += part["text"]
                    if part.get("thoughtSignature"):
                        last["thoughtSignature"] = part["thoughtSignature"]
                else:
                    parts.append(dict(part))
            for key in ("finishReason", "safetyRatings", "citationMetadata"):
                if key in candidate:
                    slot[key] = candidate[key]
    result["candidates"] = [candidates[i] for i in sorted(candidates)]
    return result
