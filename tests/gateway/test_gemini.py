"""The Gemini endpoint with the official google-genai SDK (base URL
/api/v1/gemini, the SDK path form) and raw HTTP (POST /api/v1/gemini in both
shapes): answers, streams, tools, thinking, conversion to an
OpenAI-compatible route, counting, and error classes."""

import json

import pytest
import requests
from google import genai
from google.genai import errors, types

from tests.gateway.conftest import MAX_BODY_BYTES, assert_billed, wait_record

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Current weather for a city",
    parameters=types.Schema(
        type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}, required=["city"]
    ),
)


_clients: list = []


def client(live, key=None) -> genai.Client:
    # Kept referenced: a genai.Client closes its HTTP client when collected,
    # even while `client.models` is still in use.
    c = genai.Client(api_key=key or live.key, http_options=types.HttpOptions(base_url=f"{live.api}/gemini"))
    _clients.append(c)
    return c


def request_id(response) -> str:
    return response.sdk_http_response.headers["x-request-id"]


def openai_routed(live):
    """A Gemini model whose only route is Google's OpenAI-compatible path."""
    provider = live.provider(protocol="openai_chat", path="/gemini/v1beta/openai", priority=1)
    return live.model(like="gemini-3.1-pro", routes=[(provider, "gemini-3.1-pro")]).slug


@pytest.mark.parametrize("routed", ["native", "openai"])
def test_generate_content(live, routed):
    model = "gemini-3.1-pro" if routed == "native" else openai_routed(live)
    before = live.balance_micros()
    response = client(live).models.generate_content(
        model=model,
        contents="Outline a launch plan.",
        config=types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.6, max_output_tokens=2048),
    )
    assert response.text
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage.prompt_token_count > 0 and usage.candidates_token_count > 0
    record = assert_billed(request_id(response), stream=False)
    assert record.endpoint == "gemini"
    assert record.input_tokens == usage.prompt_token_count
    assert record.output_tokens == usage.candidates_token_count + (usage.thoughts_token_count or 0)
    assert record.provider.protocol == ("gemini" if routed == "native" else "openai_chat")
    assert live.balance_micros() == before - record.cost_micros


@pytest.mark.parametrize("routed", ["native", "openai"])
def test_stream(live, routed):
    model = "gemini-3.1-fast" if routed == "native" else openai_routed(live)
    chunks = list(client(live).models.generate_content_stream(model=model, contents="Stream me a haiku."))
    text = "".join(c.text or "" for c in chunks)
    assert text
    final = chunks[-1]
    assert final.candidates[0].finish_reason == types.FinishReason.STOP
    record = assert_billed(request_id(chunks[0]), stream=True)
    usage = final.usage_metadata
    assert record.output_tokens == usage.candidates_token_count + (usage.thoughts_token_count or 0)


@pytest.mark.parametrize("routed", ["native", "openai"])
def test_function_calling(live, routed):
    model = "gemini-3-flash-official" if routed == "native" else openai_routed(live)
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="ANY")),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    c = client(live)
    response = c.models.generate_content(model=model, contents="Weather in Lisbon?", config=config)
    call = response.function_calls[0]
    assert call.name == "get_weather" and "city" in call.args
    assert_billed(request_id(response))
    follow = c.models.generate_content(
        model=model,
        contents=[
            types.Content(role="user", parts=[types.Part(text="Weather in Lisbon?")]),
            response.candidates[0].content,
            types.Content(
                role="user",
                parts=[types.Part.from_function_response(name="get_weather", response={"temp_c": 19})],
            ),
        ],
        config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])]),
    )
    assert follow.text
    assert_billed(request_id(follow))


def test_thinking_is_billed_as_output(live):
    response = client(live).models.generate_content(
        model="gemini-3.1-thinking",
        contents="Think it through.",
        config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True)),
    )
    thoughts = [p for p in response.candidates[0].content.parts if p.thought]
    assert thoughts
    record = assert_billed(request_id(response))
    assert record.reasoning_tokens == response.usage_metadata.thoughts_token_count > 0


def test_count_tokens_and_models(live):
    c = client(live)
    counted = c.models.count_tokens(model="gemini-3.1-pro", contents="How many tokens is this?")
    assert counted.total_tokens > 0
    names = [m.name for m in c.models.list()]
    assert "models/gemini-3.1-pro" in names and "models/gpt-5.5" not in names


@pytest.mark.parametrize("auth", ["x-goog-api-key", "key-param", "bearer"])
def test_post_gemini_native_shape_with_each_auth_form(live, auth):
    body = {
        "model": "gemini-3.1-pro",
        "contents": [{"role": "user", "parts": [{"text": "Outline a launch plan."}]}],
        "generationConfig": {"temperature": 0.6, "maxOutputTokens": 2048},
    }
    headers, params = {}, {}
    if auth == "x-goog-api-key":
        headers["x-goog-api-key"] = live.key
    elif auth == "key-param":
        params["key"] = live.key
    else:
        headers["Authorization"] = f"Bearer {live.key}"
    response = requests.post(f"{live.api}/gemini", json=body, headers=headers, params=params)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["candidates"][0]["content"]["parts"][0]["text"]
    assert data["usageMetadata"]["candidatesTokenCount"] > 0
    assert_billed(response.headers["X-Request-Id"])


def test_post_gemini_openai_shape(live):
    body = {"model": "gemini-3.1-fast", "messages": [{"role": "user", "content": "Hi"}]}
    response = requests.post(f"{live.api}/gemini", json=body, headers={"x-goog-api-key": live.key})
    data = response.json()
    assert data["object"] == "chat.completion" and data["choices"][0]["message"]["content"]
    assert_billed(response.headers["X-Request-Id"])
    stream = requests.post(
        f"{live.api}/gemini", json={**body, "stream": True}, headers={"x-goog-api-key": live.key}, stream=True
    )
    lines = [line for line in stream.iter_lines() if line.startswith(b"data: ")]
    assert lines[-1] == b"data: [DONE]"
    assert json.loads(lines[-2][6:])["usage"]["completion_tokens"] > 0
    assert_billed(stream.headers["X-Request-Id"], stream=True)


def test_stream_as_a_json_array_without_alt_sse(live):
    response = requests.post(
        f"{live.api}/gemini/v1beta/models/gemini-3.1-fast:streamGenerateContent",
        json={"contents": [{"parts": [{"text": "Hi"}]}]},
        headers={"x-goog-api-key": live.key},
    )
    assert response.headers["Content-Type"].startswith("application/json")
    chunks = response.json()
    assert isinstance(chunks, list) and chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert_billed(response.headers["X-Request-Id"], stream=True)


def test_errors_raise_the_sdk_exception_classes(live, make_user):
    from accounts.services import api_key_mint

    def call(key=None, model="gemini-3.1-fast", contents="Hi"):
        return client(live, key).models.generate_content(model=model, contents=contents)

    with pytest.raises(errors.ClientError) as exc:
        call("ck_wrong")
    assert exc.value.code == 401 and exc.value.status == "UNAUTHENTICATED"
    with pytest.raises(errors.ClientError) as exc:
        call(api_key_mint(user=make_user(credits=10)).raw_key)
    assert exc.value.code == 402 and exc.value.details["error"]["required"] == 200
    with pytest.raises(errors.ClientError) as exc:
        call(live.mint(allowed_models=["gemini-3.1-pro"]))
    assert exc.value.code == 403 and exc.value.status == "PERMISSION_DENIED"
    with pytest.raises(errors.ClientError) as exc:
        call(model="gemini-0")
    assert exc.value.code == 400 and "gemini-3.1-pro" in exc.value.details["error"]["available_models"]
    with pytest.raises(errors.ClientError) as exc:
        call(model="claude-opus-4-6")
    assert exc.value.code == 400
    with pytest.raises(errors.ClientError) as exc:
        client(live).models.get(model="gemini-0")
    assert exc.value.code == 404
    with pytest.raises(errors.ClientError) as exc:
        call(contents="x" * MAX_BODY_BYTES)
    assert exc.value.code == 413
    limited = live.mint(rate_limit_per_hour=1)
    call(limited)
    with pytest.raises(errors.ClientError) as exc:
        call(limited)
    assert exc.value.code == 429 and exc.value.status == "RESOURCE_EXHAUSTED"


def test_upstream_failure_is_a_server_error(live):
    provider = live.provider(protocol="gemini", path="/gemini/v1beta", priority=1)
    model = live.model(like="gemini-3.1-fast", routes=[(provider, "gemini-3.1-fast::status=503")])
    with pytest.raises(errors.ServerError) as exc:
        client(live).models.generate_content(model=model.slug, contents="Hi")
    assert exc.value.code == 503
    record = wait_record(exc.value.response.headers["x-request-id"])
    assert record.outcome == "upstream_error" and record.cost_micros == 0
