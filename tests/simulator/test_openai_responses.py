"""OpenAI Responses API over real HTTP, using the official openai SDK."""

from __future__ import annotations

import json

import openai
import pytest
import requests

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture
def client(sim):
    return openai.OpenAI(base_url=f"{sim}/openai/v1", api_key="sk-test", max_retries=0)


def raw_events(sim: str, body: dict, fault: str | None = None) -> list[tuple[str, dict]]:
    headers = {"Authorization": "Bearer k"}
    if fault:
        headers["X-Sim-Fault"] = fault
    r = requests.post(f"{sim}/openai/v1/responses", json=body, headers=headers, stream=True)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    out = []
    event = None
    for line in r.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
            assert data["type"] == event
            out.append((event, data))
    return out


def test_non_stream_string_input(client):
    r = client.responses.create(model="gpt-5.5", input="Tell me about HTTP.", instructions="Be short.")
    assert r.object == "response"
    assert r.id.startswith("resp_")
    assert r.status == "completed"
    assert r.instructions == "Be short."
    assert r.output_text
    assert [o.type for o in r.output] == ["message"]
    msg = r.output[0]
    assert msg.role == "assistant" and msg.status == "completed"
    assert msg.content[0].type == "output_text"
    u = r.usage
    assert u.input_tokens == (len("Be short.") + 1 + len("Tell me about HTTP.") + 3) // 4
    assert 15 <= u.output_tokens <= 40
    assert u.total_tokens == u.input_tokens + u.output_tokens
    assert u.input_tokens_details.cached_tokens == 0
    assert u.output_tokens_details.reasoning_tokens == 0


def test_item_list_input(client):
    r = client.responses.create(
        model="gpt-5.5",
        input=[
            {"role": "developer", "content": "You are terse."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "hi"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                ],
            },
        ],
    )
    assert r.output_text
    assert r.usage.input_tokens == (len("You are terse.") + 1 + 2 + 3) // 4 + 85


def test_stream_event_sequence_and_final_response(client, sim):
    body = {"model": "gpt-5.5", "input": "stream me", "stream": True}
    events = raw_events(sim, body)
    types = [e for e, _ in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    deltas = [d["delta"] for e, d in events if e == "response.output_text.delta"]
    done_text = next(d["text"] for e, d in events if e == "response.output_text.done")
    assert "".join(deltas) == done_text
    final = events[-1][1]["response"]
    assert final["status"] == "completed"
    assert final["usage"]["output_tokens"] == len(deltas)
    assert events[0][1]["response"]["status"] == "in_progress"
    assert events[0][1]["response"]["usage"] is None

    # The SDK's stream helper accumulates the same thing.
    with client.responses.stream(model="gpt-5.5", input="stream me") as s:
        for _ in s:
            pass
        fr = s.get_final_response()
    assert fr.output_text == done_text
    assert fr.usage.output_tokens == len(deltas)


def test_sdk_stream_iteration(client):
    stream = client.responses.create(model="gpt-5.5", input="iterate", stream=True)
    kinds = [ev.type for ev in stream]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds


def test_reasoning_model_items(client, sim):
    r = client.responses.create(model="gpt-5-codex", input="solve", reasoning={"effort": "low"})
    assert [o.type for o in r.output] == ["reasoning", "message"]
    assert r.output[0].id.startswith("rs_")
    assert r.usage.output_tokens_details.reasoning_tokens == 32
    assert 15 <= r.usage.output_tokens - 32 <= 40  # visible answer tokens on top of reasoning
    # with a reasoning summary, the summary events are streamed
    events = raw_events(
        sim,
        {
            "model": "gpt-5",
            "input": "solve",
            "stream": True,
            "reasoning": {"effort": "low", "summary": "auto"},
        },
    )
    types = [e for e, _ in events]
    assert types[2] == "response.output_item.added" and events[2][1]["item"]["type"] == "reasoning"
    assert "response.reasoning_summary_part.added" in types
    n_sum = types.count("response.reasoning_summary_text.delta")
    assert n_sum == 32
    final = events[-1][1]["response"]
    assert final["output"][0]["summary"][0]["type"] == "summary_text"
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] == 32


def test_function_call(client, sim):
    r = client.responses.create(model="gpt-5.5", input="What's the weather in Lisbon?", tools=[WEATHER])
    (fc,) = r.output
    assert fc.type == "function_call"
    assert fc.name == "get_weather"
    assert fc.call_id.startswith("call_")
    assert json.loads(fc.arguments) == {"city": "Lisbon"}
    assert r.output_text == ""
    # stream form
    events = raw_events(sim, {"model": "gpt-5.5", "input": "weather in Lisbon", "tools": [WEATHER], "stream": True})
    types = [e for e, _ in events]
    assert "response.function_call_arguments.delta" in types
    args = "".join(d["delta"] for e, d in events if e == "response.function_call_arguments.delta")
    done = next(d for e, d in events if e == "response.function_call_arguments.done")
    assert args == done["arguments"] == '{"city":"Lisbon"}'
    # follow-up with the tool output -> a text answer
    r2 = client.responses.create(
        model="gpt-5.5",
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "What's the weather in Lisbon?"},
            {"type": "function_call", "call_id": fc.call_id, "name": fc.name, "arguments": fc.arguments},
            {"type": "function_call_output", "call_id": fc.call_id, "output": "21 C and sunny"},
        ],
    )
    assert r2.output[0].type == "message"
    assert r2.output_text


def test_max_output_tokens_incomplete(client, sim):
    r = client.responses.create(model="gpt-5.5", input="long answer", max_output_tokens=16)
    assert r.status == "incomplete"
    assert r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 16
    events = raw_events(sim, {"model": "gpt-5.5", "input": "long answer", "max_output_tokens": 16, "stream": True})
    assert events[-1][0] == "response.incomplete"


def test_json_schema_output(client):
    r = client.responses.create(
        model="gpt-5.5",
        input="a city",
        text={
            "format": {
                "type": "json_schema",
                "name": "city",
                "schema": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
                    "required": ["name", "population"],
                },
            }
        },
    )
    data = json.loads(r.output_text)
    assert set(data) == {"name", "population"}


def test_input_tokens_endpoint(client):
    n = client.responses.input_tokens.count(model="gpt-5.5", input="12345678")
    assert n.input_tokens == 2


def test_faults(client, sim):
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="gpt-5.5::status=429", input="x")
    # sse_always: answers SSE although stream=false
    events = raw_events(sim, {"model": "gpt-5.5", "input": "x", "stream": False}, fault="sse_always=1")
    assert events[-1][0] == "response.completed"
    # no_usage
    r = client.responses.create(model="gpt-5.5::no_usage=1", input="x")
    assert r.usage is None
    # error_after: an `error` event after 2 deltas
    events = raw_events(sim, {"model": "gpt-5.5", "input": "x", "stream": True}, fault="error_after=2")
    assert events[-1][0] == "error"
    assert [e for e, _ in events].count("response.output_text.delta") == 2


def test_missing_input_is_400(client):
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-5.5")
