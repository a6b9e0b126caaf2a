"""OpenAI Chat Completions over real HTTP, using the official openai SDK."""

from __future__ import annotations

import json
import time

import httpx2
import openai
import pytest
import requests

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location", "unit"],
        },
    },
}


@pytest.fixture
def client(sim):
    return openai.OpenAI(base_url=f"{sim}/openai/v1", api_key="sk-test", max_retries=0)


def sse_events(resp: requests.Response) -> list[str]:
    return [line[6:] for line in resp.iter_lines(decode_unicode=True) if line and line.startswith("data: ")]


def test_non_stream_basic(client):
    r = client.chat.completions.create(
        model="gpt-5.5", messages=[{"role": "user", "content": "Say something about gateways."}]
    )
    assert r.object == "chat.completion"
    assert r.model == "gpt-5.5"
    assert r.id.startswith("chatcmpl-")
    choice = r.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    text = choice.message.content
    assert text and text[-1] in ".!"
    u = r.usage
    assert 15 <= u.completion_tokens <= 40
    # prompt: ceil(29 chars / 4)
    assert u.prompt_tokens == 8
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert u.prompt_tokens_details.cached_tokens == 0
    assert u.completion_tokens_details.reasoning_tokens == 0


def test_deterministic(client):
    msgs = [{"role": "user", "content": "determinism check"}]
    a = client.chat.completions.create(model="gpt-5.5", messages=msgs)
    b = client.chat.completions.create(model="gpt-5.5", messages=msgs)
    c = client.chat.completions.create(model="gpt-4.1", messages=msgs)
    assert a.choices[0].message.content == b.choices[0].message.content
    assert a.usage.completion_tokens == b.usage.completion_tokens
    assert a.choices[0].message.content != c.choices[0].message.content


def test_stream_matches_non_stream_and_usage(client):
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "stream please"}]
    full = client.chat.completions.create(model="gpt-5.5", messages=msgs)
    chunks = list(
        client.chat.completions.create(
            model="gpt-5.5", messages=msgs, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    text = "".join(c.choices[0].delta.content for c in content_chunks)
    assert text == full.choices[0].message.content
    # one token per content chunk
    assert len(content_chunks) == full.usage.completion_tokens
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.completion_tokens == full.usage.completion_tokens
    assert last.usage.prompt_tokens == full.usage.prompt_tokens
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


def test_stream_without_include_usage_has_no_usage_chunk(sim, http):
    r = http.post(
        f"{sim}/openai/v1/chat/completions",
        json={"model": "gpt-5.5", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        stream=True,
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all("usage" not in c for c in chunks)
    assert all(c["choices"] for c in chunks)


def test_max_tokens_caps_output(client):
    r = client.chat.completions.create(
        model="gpt-5.5", messages=[{"role": "user", "content": "long answer please"}], max_completion_tokens=7
    )
    assert r.usage.completion_tokens == 7
    assert r.choices[0].finish_reason == "length"
    r2 = client.chat.completions.create(
        model="gpt-5.5", messages=[{"role": "user", "content": "long answer please"}], max_tokens=9
    )
    assert r2.usage.completion_tokens == 9


def test_long_answer(client):
    r = client.chat.completions.create(model="gpt-5.5", messages=[{"role": "user", "content": "a long answer"}])
    assert r.usage.completion_tokens >= 300


def test_reasoning_tokens(client):
    r = client.chat.completions.create(model="gpt-5-codex", messages=[{"role": "user", "content": "think"}])
    assert r.usage.completion_tokens_details.reasoning_tokens == 128
    visible = r.usage.completion_tokens - 128
    assert 15 <= visible <= 40
    r2 = client.chat.completions.create(
        model="gpt-5.5", reasoning_effort="high", messages=[{"role": "user", "content": "think"}]
    )
    assert r2.usage.completion_tokens_details.reasoning_tokens == 512
    r3 = client.chat.completions.create(model="gpt-5.5-pro", messages=[{"role": "user", "content": "think"}])
    assert r3.usage.completion_tokens_details.reasoning_tokens > 0
    r4 = client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "think"}])
    assert r4.usage.completion_tokens_details.reasoning_tokens == 0


def test_cached_tokens_for_long_prompt(client):
    long = "x" * 8192  # 2048 tokens
    r = client.chat.completions.create(model="gpt-5.5", messages=[{"role": "user", "content": long}])
    assert r.usage.prompt_tokens == 2048
    assert r.usage.prompt_tokens_details.cached_tokens == 1024


def test_tool_call_non_stream(client):
    r = client.chat.completions.create(
        model="gpt-5.5",
        messages=[{"role": "user", "content": "What's the weather in Paris today?"}],
        tools=[WEATHER_TOOL],
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert args["location"] == "Paris"
    assert args["unit"] in ("celsius", "fahrenheit")


def test_tool_call_stream(client):
    stream = client.chat.completions.create(
        model="gpt-5.5",
        messages=[{"role": "user", "content": "weather in Tokyo?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    name = None
    args = ""
    finish = None
    call_id = None
    for chunk in stream:
        if not chunk.choices:
            continue
        d = chunk.choices[0].delta
        for tc in d.tool_calls or ():
            assert tc.index == 0
            if tc.id:
                call_id = tc.id
            if tc.function and tc.function.name:
                name = tc.function.name
            if tc.function and tc.function.arguments:
                args += tc.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    assert call_id and call_id.startswith("call_")
    assert name == "get_weather"
    assert json.loads(args)["location"] == "Tokyo"
    assert finish == "tool_calls"


def test_tool_choice_forced_and_none_and_tool_result(client):
    forced = client.chat.completions.create(
        model="gpt-5.5",
        messages=[{"role": "user", "content": "hello"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert forced.choices[0].message.tool_calls[0].function.name == "get_weather"
    none = client.chat.completions.create(
        model="gpt-5.5",
        messages=[{"role": "user", "content": "weather in Oslo?"}],
        tools=[WEATHER_TOOL],
        tool_choice="none",
    )
    assert none.choices[0].message.tool_calls is None
    assert none.choices[0].finish_reason == "stop"
    # After a tool result the model answers in text (agent loops terminate).
    after = client.chat.completions.create(
        model="gpt-5.5",
        messages=[
            {"role": "user", "content": "weather in Oslo?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [forced.choices[0].message.tool_calls[0].to_dict()],
            },
            {
                "role": "tool",
                "tool_call_id": forced.choices[0].message.tool_calls[0].id,
                "content": "5 C, rain",
            },
        ],
        tools=[WEATHER_TOOL],
    )
    assert after.choices[0].finish_reason == "stop"
    assert after.choices[0].message.content


def test_json_response_formats(client):
    r = client.chat.completions.create(
        model="gpt-5.5",
        messages=[{"role": "user", "content": "give json"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(r.choices[0].message.content), dict)
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array"}},
        "required": ["name", "age", "tags"],
    }
    r2 = client.chat.completions.create(
        model="gpt-5.5",
        messages=[{"role": "user", "content": "a person"}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )
    data = json.loads(r2.choices[0].message.content)
    assert set(data) == {"name", "age", "tags"}
    assert isinstance(data["age"], int) and isinstance(data["tags"], list)


def test_images_in_content_accepted(client):
    r = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            }
        ],
    )
    assert r.usage.prompt_tokens == 2 + 85
    assert r.choices[0].message.content


def test_n_choices(client):
    r = client.chat.completions.create(model="gpt-5.5", n=3, messages=[{"role": "user", "content": "hi"}])
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert len({c.message.content for c in r.choices}) == 3
    assert r.usage.completion_tokens > 40


def test_validation_errors(client):
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model="gpt-5.5", messages=[])
    assert ei.value.status_code == 400
    assert ei.value.body["type"] == "invalid_request_error"


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    assert "gpt-5.5" in ids


def test_gemini_openai_compat(sim):
    c = openai.OpenAI(base_url=f"{sim}/gemini/v1beta/openai", api_key="goog-key", max_retries=0)
    r = c.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}])
    assert r.model == "gemini-2.5-flash"
    assert r.choices[0].message.content
    chunks = list(
        c.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens


# ---------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------


def test_fault_status_via_model_name(client):
    with pytest.raises(openai.InternalServerError) as ei:
        client.chat.completions.create(model="gpt-5.5::status=503", messages=[{"role": "user", "content": "x"}])
    assert ei.value.status_code == 503
    assert ei.value.body["type"] == "server_error"


def test_fault_status_429_retry_after_via_header(sim, http):
    r = http.post(
        f"{sim}/openai/v1/chat/completions",
        headers={"X-Sim-Fault": "status=429;retry_after=7"},
        json={"model": "gpt-5.5", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"


def test_fault_model_name_is_stripped(client):
    r = client.chat.completions.create(
        model="gpt-5.5::delay_ms=10,tokens=5", messages=[{"role": "user", "content": "x"}]
    )
    assert r.model == "gpt-5.5"
    assert r.usage.completion_tokens == 5
    # same text as the plain model name (faults don't change the seed)
    plain = client.chat.completions.create(model="gpt-5.5", messages=[{"role": "user", "content": "x"}])
    assert plain.choices[0].message.content.startswith(r.choices[0].message.content)


def test_fault_delay(client):
    t0 = time.monotonic()
    client.chat.completions.create(model="gpt-5.5::delay_ms=400", messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - t0 >= 0.4


def test_fault_tokens_per_s(sim, http):
    t0 = time.monotonic()
    r = http.post(
        f"{sim}/openai/v1/chat/completions",
        headers={"X-Sim-Fault": "tokens_per_s=20;tokens=10"},
        json={"model": "gpt-5.5", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        stream=True,
    )
    stamps = []
    for line in r.iter_lines(decode_unicode=True):
        if line.startswith("data: ") and '"content":"' in line and '"content":""' not in line:
            stamps.append(time.monotonic() - t0)
    assert len(stamps) == 10
    assert stamps[-1] >= 0.45  # 10 tokens at 20/s
    assert stamps[-1] - stamps[0] >= 0.4


def test_fault_reset_after(client):
    stream = client.chat.completions.create(
        model="gpt-5.5::reset_after=3", messages=[{"role": "user", "content": "x"}], stream=True
    )
    got = []
    with pytest.raises((openai.APIConnectionError, httpx2.RemoteProtocolError, httpx2.ReadError)):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                got.append(chunk.choices[0].delta.content)
    assert len(got) == 3


def test_fault_reset_after_non_stream(sim, http):
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.post(
            f"{sim}/openai/v1/chat/completions",
            headers={"X-Sim-Fault": "reset_after=1"},
            json={"model": "gpt-5.5", "messages": [{"role": "user", "content": "x"}]},
        )


def test_fault_malformed(sim, http, client):
    r = http.post(
        f"{sim}/openai/v1/chat/completions",
        headers={"X-Sim-Fault": "malformed=1"},
        json={"model": "gpt-5.5", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        stream=True,
    )
    bad = 0
    for e in sse_events(r):
        if e == "[DONE]":
            continue
        try:
            json.loads(e)
        except json.JSONDecodeError:
            bad += 1
    assert bad == 1
    with pytest.raises(json.JSONDecodeError):
        for _ in client.chat.completions.create(
            model="gpt-5.5::malformed=1", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass


def test_fault_no_usage(client):
    chunks = list(
        client.chat.completions.create(
            model="gpt-5.5::no_usage=1",
            messages=[{"role": "user", "content": "x"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    r = client.chat.completions.create(model="gpt-5.5::no_usage=1", messages=[{"role": "user", "content": "x"}])
    assert r.usage is None


def test_fault_sse_always(sim, http):
    r = http.post(
        f"{sim}/openai/v1/chat/completions",
        headers={"X-Sim-Fault": "sse_always=1"},
        json={"model": "gpt-5.5", "stream": False, "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r)
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    assert last["choices"] == [] and last["usage"]["completion_tokens"] > 0


def test_fault_error_after(sim, client):
    got = []
    with pytest.raises(openai.APIError) as ei:
        for chunk in client.chat.completions.create(
            model="gpt-5.5::error_after=2", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                got.append(chunk)
    assert len(got) == 2
    assert "mid-stream" in str(ei.value)


def test_fault_stall_then_client_timeout(sim):
    c = openai.OpenAI(base_url=f"{sim}/openai/v1", api_key="k", max_retries=0, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(model="gpt-5.5::stall=1", messages=[{"role": "user", "content": "x"}])


def test_fault_empty(client):
    r = client.chat.completions.create(model="gpt-5.5::empty=1", messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content == ""
    assert r.usage.completion_tokens == 0
