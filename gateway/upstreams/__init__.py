"""Upstream adapters, one module per provider protocol, written from each
provider's public API reference. Every module exposes the same functions:

- ``request(route, body, *, stream, client_headers) -> (url, headers, payload)``
  for a body already in that protocol's shape;
- ``usage_from_body(body)`` and ``usage_from_events(events)``: the usage a
  finished answer reports (None when it reported none);
- ``estimate_usage(events, prompt_chars)``: what a cut-off stream used;
- ``aggregate(events)``: the JSON answer a stream adds up to (for an
  upstream that streams although asked not to);
- ``is_error_event(raw)``: an in-stream error event.
"""

from __future__ import annotations

from types import ModuleType

import orjson

from gateway.upstreams import anthropic_messages, gemini, openai_chat, openai_responses

ADAPTERS: dict[str, ModuleType] = {
    "openai_chat": openai_chat,
    "openai_responses": openai_responses,
    "anthropic_messages": anthropic_messages,
    "gemini": gemini,
}


def upstream_error_message(raw: bytes, status: int) -> str:
    """The human message inside any provider's error body."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw.decode("utf-8", "replace").strip()
        return text[:300] or f"HTTP {status}"
    if isinstance(body, list) and body:
        body = body[0]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:500]
        if isinstance(error, str):
            return error[:500]
        if isinstance(body.get("message"), str):
            return body["message"][:500]
    return f"HTTP {status}"
