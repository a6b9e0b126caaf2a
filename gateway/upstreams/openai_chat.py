"""OpenAI Chat Completions, and every vendor that speaks it (DeepSeek, Qwen,
GLM, Kimi, MiniMax, Google's OpenAI-compatible path).

POST {base}/chat/completions with `Authorization: Bearer`. Streams are SSE
`data: {chunk}` lines ending with `data: [DONE]`; usage comes in a last chunk
with empty choices when the request sets `stream_options.include_usage`,
which the gateway always does.
"""

from __future__ import annotations

import orjson

from catalog.selectors import RouteView
from gateway.metering import Usage, tokens_from_chars
from gateway.sse import event_json, is_done
from gateway.upstreams._common import as_int, json_headers

PROTOCOL = "openai_chat"


def request(route: RouteView, body: dict, *, stream: bool, client_headers: dict) -> tuple[str, dict, bytes]:
    body = dict(body)
    body["model"] = route.upstream_model
    if stream:
        body["stream"] = True
        options = body.get("stream_options")
        body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    else:
        body.pop("stream", None)
        body.pop("stream_options", None)
    headers = json_headers(stream=stream, extra=route.extra_headers)
    if route.api_key:
        headers["Authorization"] = f"Bearer {route.api_key}"
    return f"{route.base_url}/chat/completions", headers, orjson.dumps(body)


def usage_parse(usage) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=as_int(usage.get("prompt_tokens")),
        cached_input_tokens=as_int(prompt.get("cached_tokens")) if isinstance(prompt, dict) else 0,
        output_tokens=as_int(usage.get("completion_tokens")),
        reasoning_tokens=as_int(completion.get("reasoning_tokens")) if isinstance(completion, dict) else 0,
    )


def usage_from_body(body: dict) -> Usage | None:
    return usage_parse(body.get("usage"))


def usage_from_events(events: list[bytes]) -> Usage | None:
    # The usage chunk is the last one before [DONE]: search backwards and
    # decode only candidates.
    for raw in reversed(events):
        if b'"usage"' in raw:
            data = event_json(raw)
            if data and isinstance(data.get("usage"), dict):
                return usage_parse(data["usage"])
    return None


def _delta_chars(data: dict) -> int:
    chars = 0
    for choice in data.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        for key in ("content", "reasoning_content", "reasoning", "refusal"):
            if isinstance(delta.get(key), str):
                chars += len(delta[key])
        for call in delta.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                chars += len(function.get("name") or "") + len(function.get("arguments") or "")
    return chars


def estimate_usage(events: list[bytes], prompt_chars: int) -> Usage:
    chars = sum(_delta_chars(data) for data in map(event_json, events) if data)
    return Usage(input_tokens=tokens_from_chars(prompt_chars), output_tokens=tokens_from_chars(chars), estimated=True)


def is_error_event(raw: bytes) -> bool:
    return raw.startswith((b'data: {"error"', b'data:{"error"'))


def is_final_event(raw: bytes) -> bool:
    return is_done(raw)


def aggregate(events: list[bytes]) -> dict:
    """The chat.completion a stream of chunks adds up to."""
    result: dict = {"object": "chat.completion", "choices": []}
    choices: dict[int, dict] = {}
    for data in map(event_json, events):
        if not data:
            continue
        for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if key in data and key not in result:
                result[key] = data[key]
        if isinstance(data.get("usage"), dict):
            result["usage"] = data["usage"]
        for choice in data.get("choices") or ():
            index = choice.get("index", 0)
            slot = choices.setdefault(
                index,
                {
                    "index": index,
                    "message": {"role": "assistant", "content": None},
                    "finish_reason": None,
                    "logprobs": None,
                },
            )
            delta = choice.get("delta") or {}
            message = slot["message"]
            if isinstance(delta.get("content"), str):
                message["content"] = (message["content"] or "") + delta["content"]
            if isinstance(delta.get("refusal"), str):
                message["refusal"] = (message.get("refusal") or "") + delta["refusal"]
            for call in delta.get("tool_calls") or ():
                calls = message.setdefault("tool_calls", [])
                position = call.get("index", len(calls))
                while len(calls) <= position:
                    calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
                target = calls[position]
                if call.get("id"):
                    target["id"] = call["id"]
                function = call.get("function") or {}
                if function.get("name"):
                    target["function"]["name"] += function["name"]
                if function.get("arguments"):
                    target["function"]["arguments"] += function["arguments"]
            if choice.get("finish_reason"):
                slot["finish_reason"] = choice["finish_reason"]
    result["choices"] = [choices[i] for i in sorted(choices)]
    return result
