"""The upstream adapters: requests they build, usage they read, streams they
add up."""

import orjson

from catalog.selectors import RouteView
from gateway.sse import EventSplitter, sse_data, sse_event
from gateway.upstreams import (
    ADAPTERS,
    anthropic_messages,
    gemini,
    openai_chat,
    openai_responses,
    upstream_error_message,
)


def route(protocol: str, base: str = "http://up/v1", model: str = "up-model") -> RouteView:
    return RouteView(
        route_id=1,
        provider_id=1,
        provider_slug="p",
        protocol=protocol,
        base_url=base,
        api_key="secret",
        extra_headers={"X-Extra": "1"},
        timeout_seconds=600,
        upstream_model=model,
        variant="standard",
        priority=1,
        weight=1,
    )


def split(data: bytes) -> list[bytes]:
    return EventSplitter().feed(data)


def test_requests_name_the_upstream_model_and_its_auth():
    url, headers, payload = openai_chat.request(
        route("openai_chat"), {"model": "pub", "messages": []}, stream=True, client_headers={}
    )
    body = orjson.loads(payload)
    assert url == "http://up/v1/chat/completions" and headers["Authorization"] == "Bearer secret"
    assert body["model"] == "up-model" and body["stream_options"] == {"include_usage": True}
    assert headers["X-Extra"] == "1" and headers["Accept"] == "text/event-stream"

    url, headers, _ = anthropic_messages.request(
        route("anthropic_messages"), {"model": "pub"}, stream=False, client_headers={"anthropic-beta": "b1"}
    )
    assert url == "http://up/v1/messages"
    assert (headers["x-api-key"], headers["anthropic-version"], headers["anthropic-beta"]) == (
        "secret",
        "2023-06-01",
        "b1",
    )

    url, headers, payload = gemini.request(
        route("gemini", model="gemini-x::delay_ms=1"),
        {"model": "pub", "stream": True, "contents": []},
        stream=True,
        client_headers={},
    )
    assert url == "http://up/v1/models/gemini-x::delay_ms=1:streamGenerateContent?alt=sse"
    assert headers["x-goog-api-key"] == "secret" and orjson.loads(payload) == {"contents": []}

    url, _, payload = openai_responses.request(
        route("openai_responses"), {"model": "pub", "input": "x"}, stream=False, client_headers={}
    )
    assert url == "http://up/v1/responses" and "stream" not in orjson.loads(payload)


def test_usage_from_answers():
    u = openai_chat.usage_from_body(
        {
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 2},
            }
        }
    )
    assert (u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_tokens) == (10, 4, 5, 2)
    u = anthropic_messages.usage_from_body(
        {
            "usage": {
                "input_tokens": 3,
                "cache_creation_input_tokens": 2,
                "cache_read_input_tokens": 5,
                "output_tokens": 7,
            }
        }
    )
    assert (u.input_tokens, u.cached_input_tokens, u.output_tokens) == (10, 5, 7)
    u = gemini.usage_from_body(
        {
            "usageMetadata": {
                "promptTokenCount": 8,
                "candidatesTokenCount": 3,
                "thoughtsTokenCount": 4,
                "cachedContentTokenCount": 2,
            }
        }
    )
    assert (u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_tokens) == (8, 2, 7, 4)
    assert openai_responses.usage_from_body({"usage": None}) is None


def test_usage_from_streams_and_estimates_when_cut_off():
    chat = split(
        sse_data({"choices": [{"delta": {"content": "abcdefgh"}}], "usage": None})
        + sse_data({"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 9}})
        + b"data: [DONE]\n\n"
    )
    assert openai_chat.usage_from_events(chat).output_tokens == 9
    estimate = openai_chat.estimate_usage(chat[:1], prompt_chars=40)
    assert (estimate.input_tokens, estimate.output_tokens, estimate.estimated) == (10, 2, True)

    claude = split(
        sse_event(
            "message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 11, "output_tokens": 1}}}
        )
        + sse_event(
            "content_block_delta", {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "abcd"}}
        )
        + sse_event("message_delta", {"type": "message_delta", "usage": {"output_tokens": 6}})
    )
    u = anthropic_messages.usage_from_events(claude)
    assert (u.input_tokens, u.output_tokens) == (11, 6)
    cut = anthropic_messages.estimate_usage(claude[:2], prompt_chars=999)
    assert (cut.input_tokens, cut.output_tokens, cut.estimated) == (11, 1, True)

    gem = split(
        sse_data({"candidates": [{"content": {"parts": [{"text": "abcd"}]}}], "usageMetadata": {"promptTokenCount": 5}})
        + sse_data(
            {
                "candidates": [{"content": {"parts": [{"text": "ef"}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2},
            }
        )
    )
    assert gemini.usage_from_events(gem).output_tokens == 2
    assert gemini.usage_from_events(gem[:1]) is None
    assert gemini.estimate_usage(gem[:1], prompt_chars=0).input_tokens == 5

    resp = split(
        sse_event(
            "response.completed",
            {"type": "response.completed", "response": {"usage": {"input_tokens": 4, "output_tokens": 3}}},
        )
    )
    assert openai_responses.usage_from_events(resp).output_tokens == 3


def test_streams_add_up_to_answers():
    chat = openai_chat.aggregate(
        split(
            sse_data(
                {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "He"}}]}
            )
            + sse_data({"choices": [{"index": 0, "delta": {"content": "llo"}}]})
            + sse_data(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{"}}]
                            },
                        }
                    ]
                }
            )
            + sse_data(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]},
                            "finish_reason": "tool_calls",
                        }
                    ]
                }
            )
            + sse_data({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}})
            + b"data: [DONE]\n\n"
        )
    )
    message = chat["choices"][0]["message"]
    assert message["content"] == "Hello" and message["tool_calls"][0]["function"] == {"name": "f", "arguments": "{}"}
    assert chat["choices"][0]["finish_reason"] == "tool_calls" and chat["usage"]["completion_tokens"] == 2

    claude = anthropic_messages.aggregate(
        split(
            sse_event(
                "message_start",
                {
                    "type": "message_start",
                    "message": {"id": "msg", "model": "m", "content": [], "usage": {"input_tokens": 3}},
                },
            )
            + sse_event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
            )
            + sse_event(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}},
            )
            + sse_event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 1,
                    "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                },
            )
            + sse_event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": '{"a": 1}'},
                },
            )
            + sse_event(
                "message_delta",
                {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
            )
        )
    )
    assert claude["content"][0] == {"type": "thinking", "thinking": "hm"}
    assert claude["content"][1]["input"] == {"a": 1}
    assert claude["stop_reason"] == "tool_use" and claude["usage"] == {"input_tokens": 3, "output_tokens": 9}

    gem = gemini.aggregate(
        split(
            sse_data({"candidates": [{"content": {"parts": [{"text": "A"}]}}]})
            + sse_data(
                {
                    "candidates": [{"content": {"parts": [{"text": "B"}]}, "finishReason": "STOP"}],
                    "usageMetadata": {"promptTokenCount": 1},
                }
            )
        )
    )
    assert gem["candidates"][0]["content"]["parts"] == [{"text": "AB"}]
    assert gem["candidates"][0]["finishReason"] == "STOP" and gem["usageMetadata"] == {"promptTokenCount": 1}


def test_error_messages_from_any_provider_shape():
    assert upstream_error_message(b'{"error": {"message": "bad"}}', 400) == "bad"
    assert (
        upstream_error_message(b'{"type": "error", "error": {"type": "x", "message": "slow down"}}', 429) == "slow down"
    )
    assert upstream_error_message(b'[{"error": {"code": 503, "message": "overloaded"}}]', 503) == "overloaded"
    assert upstream_error_message(b"<html>502</html>", 502) == "<html>502</html>"
    assert upstream_error_message(b"", 502) == "HTTP 502"
    assert set(ADAPTERS) == {"openai_chat", "openai_responses", "anthropic_messages", "gemini"}
