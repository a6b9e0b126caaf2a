"""OpenAI Responses (what Codex CLI and the Agents SDK speak).

POST {base}/responses with `Authorization: Bearer`. Streams are named SSE
events; the last one (response.completed, .incomplete or .failed) carries
the whole response object with its usage. Some upstreams stream even when
asked not to; aggregate() turns such an answer back into the JSON object.
"""

from __future__ import annotations

import orjson

from catalog.selectors import RouteView
from gateway.metering import Usage, tokens_from_chars
from gateway.sse import event_json
from gateway.upstreams._common import as_int, json_headers

PROTOCOL = "openai_responses"
_FINAL_TYPES = (b"response.completed", b"response.incomplete", b"response.failed")
_DELTA_TYPES = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.custom_tool_call_input.delta",
    }
)


def request(route: RouteView, body: dict, *, stream: bool, client_headers: dict) -> tuple[str, dict, bytes]:
    body = dict(body)
    body["model"] = route.upstream_model
    if stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    headers = json_headers(stream=stream, extra=route.extra_headers)
    if route.api_key:
        headers["Authorization"] = f"Bearer {route.api_key}"
    return f"{route.base_url}/responses", headers, orjson.dumps(body)


def usage_parse(usage) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    inp = usage.get("input_tokens_details") or {}
    out = usage.get("output_tokens_details") or {}
    return Usage(
        input_tokens=as_int(usage.get("input_tokens")),
        cached_input_tokens=as_int(inp.get("cached_tokens")) if isinstance(inp, dict) else 0,
        output_tokens=as_int(usage.get("output_tokens")),
        reasoning_tokens=as_int(out.get("reasoning_tokens")) if isinstance(out, dict) else 0,
    )


def usage_from_body(body: dict) -> Usage | None:
    return usage_parse(body.get("usage"))


def _final(events: list[bytes]) -> dict | None:
    for raw in reversed(events):
        head = raw[:64]
        if any(t in head for t in _FINAL_TYPES):
            data = event_json(raw)
            if data and isinstance(data.get("response"), dict):
                return data["response"]
    return None


def usage_from_events(events: list[bytes]) -> Usage | None:
    final = _final(events)
    return usage_parse(final.get("usage")) if final else None


def estimate_usage(events: list[bytes], prompt_chars: int) -> Usage:
    chars = 0
    for data in map(event_json, events):
        if data and data.get("type") in _DELTA_TYPES and isinstance(data.get("delta"), str):
            chars += len(data["delta"])
    return Usage(input_tokens=tokens_from_chars(prompt_chars), output_tokens=tokens_from_chars(chars), estimated=True)


def is_error_event(raw: bytes) -> bool:
    head = raw[:64]
    return head.startswith((b"event: error", b"event:error")) or b"response.failed" in head


def is_final_event(raw: bytes) -> bool:
    head = raw[:64]
    return any(t in head for t in _FINAL_TYPES)


def aggregate(events: list[bytes]) -> dict:
    final = _final(events)
    if final is not None:
        return final
    # No final event: build what we can from the items that finished.
    output = []
    for data in map(event_json, events):
        if data and data.get("type") == "response.output_item.done" and isinstance(data.get("item"), dict):
            output.append(data["item"])
    return {"object": "response", "status": "incomplete", "output": output, "usage": None}
