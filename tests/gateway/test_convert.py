"""Conversions between wire formats (through Chat Completions)."""

import orjson
import pytest

from gateway import convert
from gateway.convert import StreamTranslator, UpstreamStreamError, request_convert, response_convert
from gateway.sse import EventSplitter, sse_data, sse_event

TOOL_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_responses_request_to_chat():
    body = {
        "model": "m",
        "instructions": "Be terse.",
        "input": [
            {"type": "message", "role": "developer", "content": "Use tools."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
                ],
            },
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
            {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": '{"city":"Rome"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "3 C"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "It is cold."}]},
        ],
        "tools": [{"type": "function", "name": "get_weather", "parameters": TOOL_SCHEMA}, {"type": "web_search"}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
        "reasoning": {"effort": "high", "summary": "auto"},
        "max_output_tokens": 300,
        "temperature": 0.2,
        "stream": True,
    }
    chat = request_convert(body, source="openai_responses", target="openai_chat")
    messages = chat["messages"]
    assert messages[0] == {"role": "system", "content": "Be terse."}
    assert messages[1] == {"role": "system", "content": "Use tools."}
    assert messages[2]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
    }
    # Consecutive calls become one assistant message with two tool calls.
    assert [c["id"] for c in messages[3]["tool_calls"]] == ["call_1", "call_2"]
    assert messages[4] == {"role": "tool", "tool_call_id": "call_1", "content": "3 C"}
    assert messages[5] == {"role": "assistant", "content": "It is cold."}
    assert chat["tools"] == [{"type": "function", "function": {"name": "get_weather", "parameters": TOOL_SCHEMA}}]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["response_format"]["json_schema"]["name"] == "out"
    assert (chat["reasoning_effort"], chat["max_completion_tokens"], chat["temperature"]) == ("high", 300, 0.2)
    assert chat["stream"] is True


def test_chat_request_to_responses_and_back():
    chat = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Hi"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": TOOL_SCHEMA}}],
        "tool_choice": "required",
        "max_tokens": 50,
        "response_format": {"type": "json_object"},
        "reasoning_effort": "low",
    }
    body = request_convert(chat, source="openai_chat", target="openai_responses")
    assert body["input"][0] == {"role": "system", "content": "Be terse."}
    assert body["input"][1]["content"][1] == {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"}
    assert body["input"][2] == {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    assert body["input"][3] == {"type": "function_call_output", "call_id": "c1", "output": "done"}
    assert body["tools"] == [{"type": "function", "name": "f", "parameters": TOOL_SCHEMA}]
    assert (body["max_output_tokens"], body["reasoning"], body["text"]) == (
        50,
        {"effort": "low"},
        {"format": {"type": "json_object"}},
    )
    again = request_convert(body, source="openai_responses", target="openai_chat")
    assert [m["role"] for m in again["messages"]] == ["system", "user", "assistant", "tool"]


def test_gemini_request_to_chat():
    body = {
        "model": "g",
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Look"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]},
            {
                "role": "model",
                "parts": [{"text": "thinking", "thought": True}, {"functionCall": {"name": "f", "args": {"a": 1}}}],
            },
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": True}}}]},
        ],
        "generationConfig": {
            "temperature": 0.5,
            "maxOutputTokens": 99,
            "stopSequences": ["END"],
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {"x": {"type": "STRING"}}, "propertyOrdering": ["x"]},
            "thinkingConfig": {"thinkingBudget": 512},
        },
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "f", "parameters": {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}}}
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
    }
    chat = request_convert(body, source="gemini", target="openai_chat")
    m = chat["messages"]
    assert m[0] == {"role": "system", "content": "Be brief."}
    assert m[1]["content"][1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    call = m[2]["tool_calls"][0]
    assert m[2]["content"] is None  # the thought is not carried over
    assert orjson.loads(call["function"]["arguments"]) == {"a": 1}
    assert m[3] == {"role": "tool", "tool_call_id": call["id"], "content": '{"ok":true}'}
    assert chat["response_format"]["json_schema"]["schema"] == {
        "type": "object",
        "properties": {"x": {"type": "string"}},
    }
    assert chat["tools"][0]["function"]["parameters"]["properties"]["a"] == {"type": "integer"}
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert (chat["max_completion_tokens"], chat["stop"], chat["reasoning_effort"]) == (99, ["END"], "low")


def test_chat_request_to_gemini():
    chat = {
        "model": "g",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,BBBB"}},
                ],
            },
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
                    {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"ok": true}'},
            {"role": "tool", "tool_call_id": "c2", "content": "plain text"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": TOOL_SCHEMA}}],
        "tool_choice": "none",
        "max_completion_tokens": 10,
        "stop": "END",
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    }
    body = request_convert(chat, source="openai_chat", target="gemini")
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/jpeg", "data": "BBBB"}}
    assert body["contents"][1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}, {"functionCall": {"name": "g", "args": {}}}],
    }
    # Both results go back in one user turn, named after their calls.
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "f", "response": {"ok": True}}},
        {"functionResponse": {"name": "g", "response": {"content": "plain text"}}},
    ]
    assert body["tools"] == [
        {"functionDeclarations": [{"name": "f", "description": "d", "parametersJsonSchema": TOOL_SCHEMA}]}
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}
    assert body["generationConfig"] == {
        "maxOutputTokens": 10,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
    }


def test_answers_convert_with_usage():
    responses_answer = {
        "id": "resp_1",
        "created_at": 5,
        "status": "completed",
        "output": [
            {"type": "reasoning", "summary": []},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        ],
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 7,
            "output_tokens_details": {"reasoning_tokens": 3},
        },
    }
    chat = response_convert(responses_answer, source="openai_responses", target="openai_chat", model="pub", request={})
    assert chat["model"] == "pub" and chat["choices"][0]["finish_reason"] == "tool_calls"
    assert chat["choices"][0]["message"]["tool_calls"][0]["id"] == "c1"
    assert chat["usage"]["prompt_tokens_details"]["cached_tokens"] == 4
    assert chat["usage"]["completion_tokens_details"]["reasoning_tokens"] == 3

    gemini_answer = {
        "candidates": [
            {"content": {"parts": [{"text": "hmm", "thought": True}, {"text": "Hi"}]}, "finishReason": "MAX_TOKENS"}
        ],
        "usageMetadata": {
            "promptTokenCount": 5,
            "candidatesTokenCount": 2,
            "thoughtsTokenCount": 6,
            "cachedContentTokenCount": 1,
        },
    }
    chat = response_convert(gemini_answer, source="gemini", target="openai_chat", model="pub", request={})
    assert chat["choices"][0]["message"]["content"] == "Hi"
    assert chat["choices"][0]["finish_reason"] == "length"
    assert (chat["usage"]["completion_tokens"], chat["usage"]["completion_tokens_details"]["reasoning_tokens"]) == (
        8,
        6,
    )

    as_responses = response_convert(
        gemini_answer, source="gemini", target="openai_responses", model="pub", request={"instructions": "x"}
    )
    assert as_responses["status"] == "incomplete" and as_responses["instructions"] == "x"
    assert as_responses["output"][0]["content"][0]["text"] == "Hi"
    assert as_responses["usage"]["output_tokens"] == 8

    chat_answer = {
        "id": "chatcmpl-1",
        "choices": [
            {
                "index": 0,
                "message": {
                    "content": None,
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": '{"a":2}'}}],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "completion_tokens_details": {"reasoning_tokens": 1}},
    }
    as_gemini = response_convert(chat_answer, source="openai_chat", target="gemini", model="pub", request={})
    assert as_gemini["candidates"][0]["content"]["parts"] == [{"functionCall": {"name": "f", "args": {"a": 2}}}]
    assert as_gemini["usageMetadata"] == {
        "promptTokenCount": 3,
        "candidatesTokenCount": 3,
        "totalTokenCount": 7,
        "thoughtsTokenCount": 1,
    }


def _events(data: bytes) -> list[dict]:
    splitter = EventSplitter()
    out = []
    for raw in splitter.feed(data):
        line = next(x for x in raw.splitlines() if x.startswith(b"data: "))
        out.append(orjson.loads(line[6:]) if line[6:] != b"[DONE]" else "[DONE]")
    return out


def _chat_chunk(delta=None, finish=None, usage=None):
    chunk = {"choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if usage is None else []}
    if usage is not None:
        chunk["usage"] = usage
    return sse_data(chunk)


def test_chat_stream_to_responses_events():
    t = StreamTranslator(source="openai_chat", target="openai_responses", model="pub", request={})
    out = t.feed(_chat_chunk({"role": "assistant", "content": ""}))
    out += t.feed(_chat_chunk({"content": "Hel"})) + t.feed(_chat_chunk({"content": "lo"}))
    out += t.feed(
        _chat_chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a"'}}]})
    )
    out += t.feed(_chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}))
    out += t.feed(_chat_chunk(finish="tool_calls"))
    out += t.feed(_chat_chunk(usage={"prompt_tokens": 2, "completion_tokens": 5}))
    out += t.feed(b"data: [DONE]\n\n")
    out += t.finish()
    events = _events(out)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["output"][1]["arguments"] == '{"a":1}' and final["output"][1]["call_id"] == "c1"
    assert final["usage"] == {
        "input_tokens": 2,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 7,
    }


def test_gemini_stream_to_chat_chunks_and_fallback_usage():
    t = StreamTranslator(source="gemini", target="openai_chat", model="pub", request={})
    out = t.feed(sse_data({"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}))
    out += t.feed(sse_data({"candidates": [{"content": {"parts": [{"text": " there"}]}, "finishReason": "STOP"}]}))
    out += t.finish(fallback_usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
    events = _events(out)
    assert events[-1] == "[DONE]"
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Hi"}
    assert events[2]["choices"][0]["finish_reason"] == "stop"
    assert events[3]["usage"]["completion_tokens"] == 2 and events[3]["choices"] == []


def test_upstream_errors_inside_streams_raise():
    t = StreamTranslator(source="openai_responses", target="openai_chat", model="pub", request={})
    with pytest.raises(UpstreamStreamError, match="boom"):
        t.feed(sse_event("response.failed", {"type": "response.failed", "response": {"error": {"message": "boom"}}}))
    t = StreamTranslator(source="gemini", target="openai_chat", model="pub", request={})
    with pytest.raises(UpstreamStreamError):
        t.feed(sse_data({"error": {"code": 503, "message": "overloaded"}}))


def test_chat_stream_to_gemini_json_array():
    t = StreamTranslator(source="openai_chat", target="gemini", model="pub", request={}, gemini_array=True)
    out = t.feed(_chat_chunk({"content": "Hi"})) + t.feed(_chat_chunk(finish="stop"))
    out += t.feed(_chat_chunk(usage={"prompt_tokens": 2, "completion_tokens": 1}))
    out += t.finish()
    chunks = orjson.loads(out)
    assert chunks[0]["candidates"][0]["content"]["parts"] == [{"text": "Hi"}]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 1


def test_schema_from_gemini_lowercases_nested_types():
    schema = {"type": "ARRAY", "items": {"type": "OBJECT", "properties": {"n": {"type": "NUMBER", "nullable": True}}}}
    assert convert.schema_from_gemini(schema) == {
        "type": "array",
        "items": {"type": "object", "properties": {"n": {"type": "number", "nullable": True}}},
    }
