"""Anthropic Messages over real HTTP, using the official anthropic SDK."""

from __future__ import annotations

import json
import time

import anthropic
import httpx2
import pytest
import requests

WEATHER = {
    "name": "get_weather",
    "description": "Get the weather for a location",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


@pytest.fixture
def client(sim):
    return anthropic.Anthropic(base_url=f"{sim}/anthropic", api_key="sk-ant-test", max_retries=0)


def raw_stream(sim, body, fault=None):
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    if fault:
        headers["X-Sim-Fault"] = fault
    r = requests.post(f"{sim}/anthropic/v1/messages", json={**body, "stream": True}, headers=headers, stream=True)
    out = []
    event = None
    for line in r.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            out.append((event, json.loads(line[6:])))
    return r, out


def test_create_message(client):
    m = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        system="You are helpful.",
        messages=[{"role": "user", "content": "Hello, Claude"}],
    )
    assert m.type == "message" and m.role == "assistant"
    assert m.id.startswith("msg_")
    assert m.model == "claude-sonnet-4-6"
    assert m.stop_reason == "end_turn"
    (block,) = m.content
    assert block.type == "text" and block.text
    assert m.usage.input_tokens == (len("You are helpful.") + 1 + len("Hello, Claude") + 3) // 4
    assert 15 <= m.usage.output_tokens <= 40
    assert m.usage.cache_read_input_tokens == 0


def test_stream_helper_final_message_equals_create(client):
    kwargs = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 512,
        "messages": [{"role": "user", "content": "stream it"}],
    }
    full = client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == full.content[0].text == final.content[0].text
    assert final.usage.output_tokens == full.usage.output_tokens
    assert final.usage.input_tokens == full.usage.input_tokens
    assert final.stop_reason == "end_turn"


def test_raw_event_order_with_ping(sim):
    r, events = raw_stream(
        sim, {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    names = [e for e, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["usage"]["input_tokens"] == 1 and start["usage"]["output_tokens"] == 1
    deltas = [d for e, d in events if e == "content_block_delta"]
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] == len(deltas)


def test_thinking(client, sim):
    m = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "ponder"}],
    )
    assert [b.type for b in m.content] == ["thinking", "text"]
    assert m.content[0].thinking and m.content[0].signature
    text_tokens = m.usage.output_tokens - 128
    assert 15 <= text_tokens <= 40
    with client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "ponder"}],
    ) as s:
        final = s.get_final_message()
    assert final.content[0].type == "thinking"
    assert final.content[0].thinking == m.content[0].thinking
    assert final.content[0].signature == m.content[0].signature
    _, events = raw_stream(
        sim,
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 4000,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "messages": [{"role": "user", "content": "ponder"}],
        },
    )
    kinds = [d["delta"]["type"] for e, d in events if e == "content_block_delta"]
    assert kinds.count("thinking_delta") == 128
    assert kinds.count("signature_delta") == 1
    assert events[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}


def test_adaptive_thinking(client):
    m = client.messages.create(
        model="claude-opus-4-6",
        max_tokens=4000,
        thinking={"type": "adaptive"},
        messages=[{"role": "user", "content": "ponder"}],
    )
    assert m.content[0].type == "thinking"


def test_thinking_validation(client):
    with pytest.raises(anthropic.BadRequestError) as ei:
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=1000,
            thinking={"type": "enabled", "budget_tokens": 2048},
            messages=[{"role": "user", "content": "x"}],
        )
    assert ei.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=5000,
            thinking={"type": "enabled", "budget_tokens": 100},
            messages=[{"role": "user", "content": "x"}],
        )


def test_tool_use(client, sim):
    m = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=500,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "What is the weather in Berlin?"}],
    )
    assert m.stop_reason == "tool_use"
    assert [b.type for b in m.content] == ["text", "tool_use"]
    tu = m.content[1]
    assert tu.name == "get_weather" and tu.input == {"location": "Berlin"}
    assert tu.id.startswith("toolu_")
    with client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=500,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "What is the weather in Berlin?"}],
    ) as s:
        final = s.get_final_message()
    assert final.content[1].input == {"location": "Berlin"}
    assert final.stop_reason == "tool_use"
    _, events = raw_stream(
        sim,
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 500,
            "tools": [WEATHER],
            "messages": [{"role": "user", "content": "weather in Berlin"}],
        },
    )
    partial = "".join(
        d["delta"]["partial_json"]
        for e, d in events
        if e == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    )
    assert json.loads(partial) == {"location": "Berlin"}
    # tool result -> final text answer
    m2 = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=500,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "What is the weather in Berlin?"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tu.id, "content": "12 C"}]},
        ],
    )
    assert m2.stop_reason == "end_turn"
    # forced tool choice
    m3 = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=500,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "hello"}],
    )
    assert m3.content[-1].type == "tool_use"


def test_max_tokens_stop_reason(client):
    m = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "long answer"}]
    )
    assert m.stop_reason == "max_tokens"
    assert m.usage.output_tokens == 5


def test_count_tokens(client):
    r = client.messages.count_tokens(
        model="claude-sonnet-4-6", system="sys", messages=[{"role": "user", "content": "hello world"}]
    )
    assert r.input_tokens == (3 + 1 + 11 + 3) // 4
    m = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=50,
        system="sys",
        messages=[{"role": "user", "content": "hello world"}],
    )
    assert m.usage.input_tokens == r.input_tokens


def test_prompt_caching_with_cache_control(client):
    big = "y" * 8000
    m = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=50,
        system=[{"type": "text", "text": big, "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "q"}],
    )
    total = (8000 + 1 + 1 + 3) // 4
    assert m.usage.cache_read_input_tokens == (total // 2) // 128 * 128
    assert m.usage.input_tokens + m.usage.cache_read_input_tokens == total


def test_validation_missing_max_tokens(sim):
    r = requests.post(
        f"{sim}/anthropic/v1/messages",
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        json={"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]


@pytest.mark.parametrize(
    ("status", "etype", "exc"),
    [
        (529, "overloaded_error", anthropic.InternalServerError),
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
        (400, "invalid_request_error", anthropic.BadRequestError),
    ],
)
def test_status_faults(client, status, etype, exc):
    with pytest.raises(exc) as ei:
        client.messages.create(
            model=f"claude-sonnet-4-6::status={status}",
            max_tokens=10,
            messages=[{"role": "user", "content": "x"}],
        )
    assert ei.value.status_code == status
    assert ei.value.body["error"]["type"] == etype


def test_stream_faults(client, sim):
    # slow stream: 6 tokens at 20/s
    t0 = time.monotonic()
    with client.messages.stream(
        model="claude-sonnet-4-6::tokens_per_s=20,tokens=6",
        max_tokens=100,
        messages=[{"role": "user", "content": "x"}],
    ) as s:
        final = s.get_final_message()
    assert time.monotonic() - t0 >= 0.25
    assert final.usage.output_tokens == 6
    # mid-stream error event
    with pytest.raises(anthropic.APIStatusError) as ei:
        with client.messages.stream(
            model="claude-sonnet-4-6::error_after=2",
            max_tokens=100,
            messages=[{"role": "user", "content": "x"}],
        ) as s:
            for _ in s:
                pass
    assert "overloaded_error" in str(ei.value)
    # reset
    with pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)):
        with client.messages.stream(
            model="claude-sonnet-4-6::reset_after=2",
            max_tokens=100,
            messages=[{"role": "user", "content": "x"}],
        ) as s:
            for _ in s:
                pass
    # no_usage: no usage anywhere in the raw stream
    _, events = raw_stream(
        sim,
        {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": [{"role": "user", "content": "x"}]},
        fault="no_usage=1",
    )
    assert all("usage" not in d and "usage" not in d.get("message", {}) for _, d in events)
    # malformed line
    r = requests.post(
        f"{sim}/anthropic/v1/messages",
        headers={"x-api-key": "k", "X-Sim-Fault": "malformed=1"},
        json={
            "model": "claude-sonnet-4-6",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    bad = 0
    for line in r.text.split("\n"):
        if line.startswith("data: "):
            try:
                json.loads(line[6:])
            except json.JSONDecodeError:
                bad += 1
    assert bad == 1


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    assert "claude-sonnet-4-6" in ids


def test_sse_always(sim):
    r = requests.post(
        f"{sim}/anthropic/v1/messages",
        headers={"x-api-key": "k", "X-Sim-Fault": "sse_always=1"},
        json={"model": "claude-sonnet-4-6", "max_tokens": 20, "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "event: message_stop" in r.text
