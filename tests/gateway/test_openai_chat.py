"""POST /v1/chat/completions with the official openai SDK against the live
gateway and simulator: answers, streams, tools, images, structured output,
conversions for Gemini- and Codex-routed models, listings, and the ledger
after each call."""

import base64
import json

import openai
import pytest
import requests

from gateway.models import UsageRecord
from tests.gateway.conftest import assert_billed

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
# A 1x1 PNG.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100ffff03000006000557bfabd40000000049454e44ae426082"
    )
).decode()


def client(live, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=live.api, api_key=live.key, max_retries=0, **kwargs)


def test_completion_is_answered_and_billed_exactly(live):
    before = live.balance_micros()
    raw = client(live).chat.completions.with_raw_response.create(
        model="gpt-5.4-mini", messages=[{"role": "user", "content": "Say hi in one word."}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-5.4-mini"
    assert completion.usage.completion_tokens > 0
    assert raw.headers["x-hypereal-provider"] == "sim-openai"
    assert raw.headers["x-ratelimit-limit"] == "1000"
    assert raw.headers["x-ratelimit-remaining"] == "999"
    request_id = completion._request_id
    assert request_id.startswith("req_")

    record = assert_billed(request_id, stream=False)
    assert record.input_tokens == completion.usage.prompt_tokens
    assert record.output_tokens == completion.usage.completion_tokens
    assert record.model_requested == record.model_served == "gpt-5.4-mini"
    assert record.provider.slug == "sim-openai"
    assert record.api_key_id == live.key_id
    assert record.endpoint == "chat_completions"
    assert record.cost_micros > 0
    assert live.balance_micros() == before - record.cost_micros
    assert live.account().held_micros == 0


def test_stream_carries_usage_in_its_final_chunk(live):
    stream = client(live).chat.completions.create(
        model="gpt-5.4-mini", messages=[{"role": "user", "content": "Stream a haiku."}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert all(c.usage is None for c in chunks[:-1])
    request_id = stream.response.headers["x-request-id"]
    record = assert_billed(request_id, stream=True)
    assert record.output_tokens == chunks[-1].usage.completion_tokens
    assert record.ttft_ms is not None and record.ttft_ms <= record.latency_ms


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls(live, stream):
    kwargs = {
        "model": "gpt-5.4-mini",
        "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }
    c = client(live)
    if stream:
        with c.chat.completions.stream(**kwargs) as s:
            for _ in s:
                pass
            completion = s.get_final_completion()
        request_id = s._response.headers["x-request-id"]
    else:
        completion = c.chat.completions.create(**kwargs)
        request_id = completion._request_id
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)
    assert completion.choices[0].finish_reason == "tool_calls"
    # The tool's answer goes back and the model finishes in words.
    follow = c.chat.completions.create(
        model="gpt-5.4-mini",
        messages=[
            *kwargs["messages"],
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
            {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
        ],
        tools=[WEATHER_TOOL],
    )
    assert follow.choices[0].message.content
    assert_billed(request_id, stream=stream)
    assert_billed(follow._request_id)


def test_images_in_content_and_structured_output_pass_through(live):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer", "confidence"],
        "additionalProperties": False,
    }
    completion = client(live).chat.completions.create(
        model="gpt-5.4-mini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                ],
            }
        ],
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}},
    )
    parsed = json.loads(completion.choices[0].message.content)
    assert set(parsed) == {"answer", "confidence"}
    # The simulator prices an image part at 85 prompt tokens.
    assert completion.usage.prompt_tokens > 85
    assert_billed(completion._request_id)


@pytest.mark.parametrize(
    ("model", "protocol", "provider"),
    [("gemini-3.1-pro", "gemini", "sim-gemini"), ("gpt-5.1-codex", "openai_responses", "sim-openai-responses")],
)
def test_models_served_over_other_protocols_are_converted(live, model, protocol, provider):
    """A Gemini model routed to a native Gemini provider, and a Codex model
    routed to a Responses provider, still answer in Chat Completions shape."""
    c = client(live)
    raw = c.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    )
    completion = raw.parse()
    assert raw.headers["x-hypereal-provider"] == provider
    assert completion.model == model
    assert completion.choices[0].message.content
    assert completion.usage.completion_tokens > 0
    record = assert_billed(completion._request_id)
    assert record.provider.protocol == protocol
    assert record.output_tokens == completion.usage.completion_tokens

    stream = c.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What's the weather in Oslo?"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
        stream=True,
    )
    chunks = list(stream)
    calls = [tc for ch in chunks if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "get_weather"
    arguments = "".join(tc.function.arguments or "" for tc in calls)
    assert "city" in json.loads(arguments)
    assert any(ch.choices and ch.choices[0].finish_reason == "tool_calls" for ch in chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    record = assert_billed(stream.response.headers["x-request-id"], stream=True)
    assert record.output_tokens == chunks[-1].usage.completion_tokens


def test_reasoning_tokens_are_billed_as_output(live):
    completion = client(live).chat.completions.create(
        model="gpt-5.4-mini", messages=[{"role": "user", "content": "Think first."}], reasoning_effort="high"
    )
    reasoning = completion.usage.completion_tokens_details.reasoning_tokens
    assert reasoning > 0
    record = assert_billed(completion._request_id)
    assert record.reasoning_tokens == reasoning
    assert record.output_tokens == completion.usage.completion_tokens


def test_listings(live):
    c = client(live)
    models = {m.id: m for m in c.models.list()}
    assert {"gpt-5.5", "claude-opus-4-6", "gemini-3.1-pro", "gpt-5-codex"} <= set(models)
    assert models["gpt-5.5"].model_extra["pricing"]["input_per_mtok"] == 200
    assert c.models.retrieve("gpt-5.5").id == "gpt-5.5"
    # The docs: GET chat/completions and GET responses list their models, no key needed.
    listing = requests.get(f"{live.api}/chat/completions")
    assert listing.headers["X-Request-Id"].startswith("req_")
    chat = listing.json()
    assert chat["object"] == "list"
    chat_ids = {m["id"] for m in chat["data"]}
    assert "gpt-5.5" in chat_ids and "claude-opus-4-6" not in chat_ids
    responses = {m["id"] for m in requests.get(f"{live.url}/v1/responses").json()["data"]}
    assert "gpt-5-codex" in responses and "claude-opus-4-6" not in responses
    assert UsageRecord.objects.count() == 0
