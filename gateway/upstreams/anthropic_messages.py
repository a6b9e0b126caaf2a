"""Anthropic Messages.

POST {base}/messages (and /messages/count_tokens) with `x-api-key` and
`anthropic-version`; the client's `anthropic-version` and `anthropic-beta`
headers are passed on (Claude Code relies on betas). Streams are named SSE
events: message_start (input usage), content_block_*, message_delta (final
output usage), message_stop, ping, error.

Input is split three ways: `input_tokens` (uncached), `cache_read_input_tokens`
and `cache_creation_input_tokens`; the gateway bills cache writes at the
input rate and cache reads at the cached rate.
"""

from __future__ import annotations

import orjson

from catalog.selectors import RouteView
from gateway.metering import Usage, tokens_from_chars
from gateway.sse import event_json
from gateway.upstreams._common import as_int, json_headers

PROTOCOL = "anthropic_messages"
DEFAULT_VERSION = "2023-06-01"


def _headers(route: RouteView, *, stream: bool, client_headers: dict) -> dict:
    headers = json_headers(stream=stream, extra=route.extra_headers)
    headers["anthropic-version"] = client_headers.get("anthropic-version") or DEFAULT_VERSION
    if client_headers.get("anthropic-beta"):
        headers["anthropic-beta"] = client_headers["anthropic-beta"]
    if route.api_key:
        headers["x-api-key"] = route.api_key
    return headers


def request(route: RouteView, body: dict, *, stream: bool, client_headers: dict) -> tuple[str, dict, bytes]:
    body = dict(body)
    body["model"] = route.upstream_model
    if stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    return (
        f"{route.base_url}/messages",
        _headers(route, stream=stream, client_headers=client_headers),
        orjson.dumps(body),
    )


def count_tokens_request(route: RouteView, body: dict, *, client_headers: dict) -> tuple[str, dict, bytes]:
    body = dict(body)
    body["model"] = route.upstream_model
    return (
        f"{route.base_url}/messages/count_tokens",
        _headers(route, stream=False, client_headers=client_headers),
        orjson.dumps(body),
    )


def _input(usage: dict) -> tuple[int, int]:
    cached = as_int(usage.get("cache_read_input_tokens"))
    total = as_int(usage.get("input_tokens")) + as_int(usage.get("cache_creation_input_tokens")) + cached
    return total, cached


def usage_from_body(body: dict) -> Usage | None:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    total, cached = _input(usage)
    return Usage(input_tokens=total, cached_input_tokens=cached, output_tokens=as_int(usage.get("output_tokens")))


def _start_usage(events: list[bytes]) -> dict | None:
    for raw in events[:4]:
        if b"message_start" in raw:
            data = event_json(raw)
            message = (data or {}).get("message")
            if isinstance(message, dict) and isinstance(message.get("usage"), dict):
                return message["usage"]
    return None


def usage_from_events(events: list[bytes]) -> Usage | None:
    delta_usage = None
    for raw in reversed(events):
        if b"message_delta" in raw:
            data = event_json(raw)
            if data and isinstance(data.get("usage"), dict):
                delta_usage = data["usage"]
                break
    if delta_usage is None:
        return None
    # message_delta's counts are cumulative and, when present, supersede the
    # input counts message_start gave.
    merged = {**(_start_usage(events) or {}), **{k: v for k, v in delta_usage.items() if v is not None}}
    total, cached = _input(merged)
    return Usage(input_tokens=total, cached_input_tokens=cached, output_tokens=as_int(merged.get("output_tokens")))


def _delta_chars(data: dict) -> int:
    if data.get("type") != "content_block_delta":
        return 0
    delta = data.get("delta") or {}
    for key in ("text", "thinking", "partial_json"):
        if isinstance(delta.get(key), str):
            return len(delta[key])
    return 0


def estimate_usage(events: list[bytes], prompt_chars: int) -> Usage:
    start = _start_usage(events)
    if start:
        input_tokens, cached = _input(start)
    else:
        input_tokens, cached = tokens_from_chars(prompt_chars), 0
    chars = sum(_delta_chars(data) for data in map(event_json, events) if data)
    return Usage(
        input_tokens=input_tokens, cached_input_tokens=cached, output_tokens=tokens_from_chars(chars), estimated=True
    )


def is_error_event(raw: bytes) -> bool:
    return raw.startswith(b"event: error") or raw.startswith(b"event:error")


def is_final_event(raw: bytes) -> bool:
    return b"message_stop" in raw[:40]


def aggregate(events: list[bytes]) -> dict:
    """The Message a stream of events adds up to."""
    message: dict = {"type": "message", "role": "assistant", "content": []}
    blocks: dict[int, dict] = {}
    partial_json: dict[int, str] = {}
    for data in map(event_json, events):
        if not data:
            continue
        kind = data.get("type")
        if kind == "message_start":
            message.update(data.get("message") or {})
            message["content"] = []
        elif kind == "content_block_start":
            blocks[data.get("index", len(blocks))] = dict(data.get("content_block") or {})
        elif kind == "content_block_delta":
            index = data.get("index", 0)
            block = blocks.setdefault(index, {"type": "text", "text": ""})
            delta = data.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif dtype == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            elif dtype == "signature_delta":
                block["signature"] = delta.get("signature", "")
            elif dtype == "input_json_delta":
                partial_json[index] = partial_json.get(index, "") + delta.get("partial_json", "")
        elif kind == "message_delta":
            message.update(dict(data.get("delta") or {}))
            if isinstance(data.get("usage"), dict):
                message["usage"] = {**(message.get("usage") or {}), **data["usage"]}
    for index, text in partial_json.items():
        try:
            blocks[index]["input"] = orjson.loads(text) if text else {}
        except (orjson.JSONDecodeError, KeyError):
            pass
    message["content"] = [blocks[i] for i in sorted(blocks)]
    return message
