"""POST /v1/responses and /v1/codex/responses with the openai SDK: native
Responses upstreams, upstreams that stream when asked not to, models served
over Chat Completions or Gemini converted to Responses, Codex-style turns,
and Anthropic models refused."""

import json

import openai
import pytest

from tests.gateway.conftest import assert_billed

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def client(live, *, codex: bool = False) -> openai.OpenAI:
    base = f"{live.api}/codex" if codex else live.api
    return openai.OpenAI(base_url=base, api_key=live.key, max_retries=0)


@pytest.mark.parametrize("codex", [False, True])
def test_codex_model_answers_and_is_billed(live, codex):
    response = client(live, codex=codex).responses.create(
        model="gpt-5-codex", input="Write a TypeScript function that debounces a callback."
    )
    assert response.output_text
    assert response.status == "completed"
    assert response.model == "gpt-5-codex"
    record = assert_billed(response._request_id, stream=False)
    assert record.endpoint == ("codex_responses" if codex else "responses")
    assert record.input_tokens == response.usage.input_tokens
    assert record.output_tokens == response.usage.output_tokens
    # Codex models reason: those tokens are output too.
    assert record.reasoning_tokens == response.usage.output_tokens_details.reasoning_tokens > 0


@pytest.mark.parametrize("model", ["gpt-5-codex", "gpt-5.4-mini", "gemini-3.1-pro"])
def test_streams_through_the_sdk_helper(live, model):
    """Native for the Codex model; converted from Chat Completions and from
    Gemini for the others."""
    with client(live).responses.stream(model=model, input="Stream me a haiku.") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
        request_id = stream._response.headers["x-request-id"]
    assert "".join(deltas) == final.output_text != ""
    assert final.usage.output_tokens > 0
    record = assert_billed(request_id, stream=True)
    assert record.output_tokens == final.usage.output_tokens


def test_upstream_streaming_to_a_non_streaming_request(live):
    """Some upstreams always answer with SSE; the client still gets the JSON
    object it asked for."""
    provider = live.provider(protocol="openai_responses", path="/openai/v1", priority=1)
    model = live.model(like="gpt-5-codex", routes=[(provider, "gpt-5-codex::sse_always=1")])
    response = client(live).responses.create(model=model.slug, input="Refactor this file.")
    assert response.object == "response" and response.output_text
    record = assert_billed(response._request_id, stream=False)
    assert record.output_tokens == response.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["gpt-5-codex", "gpt-5.4-mini", "gemini-3-flash-official"])
@pytest.mark.parametrize("stream", [False, True])
def test_codex_style_tool_turns(live, model, stream):
    """What Codex CLI sends: instructions, typed input items, function tools,
    reasoning effort; then the tool's output in the next turn."""
    c = client(live, codex=True)
    base = {
        "model": model,
        "instructions": "You are a coding agent.",
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
        "reasoning": {"effort": "low"},
        "store": False,
    }
    turn = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo?"}]}]
    if stream:
        with c.responses.stream(input=turn, **base) as s:
            first = s.get_final_response()
            request_id = s._response.headers["x-request-id"]
    else:
        first = c.responses.create(input=turn, **base)
        request_id = first._request_id
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and "city" in json.loads(call.arguments)
    assert_billed(request_id, stream=stream)
    second = c.responses.create(
        input=[
            *turn,
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 3}'},
        ],
        **{**base, "tool_choice": "auto"},
    )
    assert second.output_text
    assert_billed(second._request_id)


def test_anthropic_models_are_refused(live):
    with pytest.raises(openai.BadRequestError) as exc:
        client(live).responses.create(model="claude-sonnet-4-6", input="Hello")
    assert exc.value.code == "wrong_endpoint" and "/v1/messages" in exc.value.message
    with pytest.raises(openai.BadRequestError):
        client(live, codex=True).responses.create(model="claude-opus-4-6", input="Hello")


def test_upstream_error_mid_stream_reaches_the_client(live):
    provider = live.provider(protocol="openai_responses", path="/openai/v1", priority=1)
    model = live.model(like="gpt-5-codex", routes=[(provider, "gpt-5-codex::error_after=3")])
    raw = client(live).responses.with_raw_response.create(model=model.slug, input="Hello", stream=True)
    events = list(raw.parse())
    assert events[-1].type == "error"
    record = assert_billed(raw.headers["x-request-id"], outcome="upstream_error", estimated=True)
    assert record.output_tokens >= 1
