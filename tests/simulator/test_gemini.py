"""Gemini native API over real HTTP, using the official google-genai SDK."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from google import genai
from google.genai import errors, types


@pytest.fixture
def client(sim):
    return genai.Client(
        api_key="goog-test",
        http_options=types.HttpOptions(base_url=f"{sim}/gemini", retry_options=types.HttpRetryOptions(attempts=1)),
    )


def test_generate_content(client):
    r = client.models.generate_content(model="gemini-2.5-flash", contents="Explain gateways.")
    assert r.text and r.text[-1] in ".!"
    cand = r.candidates[0]
    assert cand.finish_reason == types.FinishReason.STOP
    assert cand.content.role == "model"
    u = r.usage_metadata
    assert u.prompt_token_count == (len("Explain gateways.") + 3) // 4
    assert 15 <= u.candidates_token_count <= 40
    assert u.total_token_count == u.prompt_token_count + u.candidates_token_count
    assert u.thoughts_token_count is None  # zero counts are omitted like the real API
    assert r.model_version == "gemini-2.5-flash"


def test_system_instruction_and_config(client):
    r = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[types.Content(role="user", parts=[types.Part(text="hello")])],
        config=types.GenerateContentConfig(system_instruction="be nice", max_output_tokens=6),
    )
    assert r.usage_metadata.candidates_token_count == 6
    assert r.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert r.usage_metadata.prompt_token_count == (len("be nice") + 1 + 5 + 3) // 4


def test_stream_usage_in_last_chunk(client):
    full = client.models.generate_content(model="gemini-2.5-flash", contents="stream test")
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="stream test"))
    assert "".join(c.text or "" for c in chunks) == full.text
    last = chunks[-1]
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata.candidates_token_count == full.usage_metadata.candidates_token_count
    assert last.usage_metadata.total_token_count == full.usage_metadata.total_token_count
    assert all(c.usage_metadata.candidates_token_count is None for c in chunks[:-1])
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])


def test_raw_sse_and_json_array_stream(sim):
    url = f"{sim}/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    r = requests.post(url + "?alt=sse", json=body, headers={"x-goog-api-key": "k"})
    assert r.headers["content-type"].startswith("text/event-stream")
    datas = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert datas[-1]["usageMetadata"]["candidatesTokenCount"] == len(datas)
    # without alt=sse the API streams one JSON array
    r2 = requests.post(url + "?key=k", json=body)
    arr = r2.json()
    assert isinstance(arr, list) and len(arr) == len(datas)
    assert arr[-1]["candidates"][0]["finishReason"] == "STOP"


def test_thinking_models(client):
    r = client.models.generate_content(model="gemini-2.5-pro", contents="think hard")
    u = r.usage_metadata
    assert u.thoughts_token_count == 128
    assert u.total_token_count == u.prompt_token_count + u.candidates_token_count + 128
    r2 = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="think",
        config=types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(thinking_budget=64, include_thoughts=True)
        ),
    )
    parts = r2.candidates[0].content.parts
    assert parts[0].thought is True and parts[0].text
    assert r2.usage_metadata.thoughts_token_count == 64
    assert r2.text  # SDK's .text skips thought parts
    r3 = client.models.generate_content(
        model="gemini-2.5-pro",
        contents="no thinking",
        config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0)),
    )
    assert r3.usage_metadata.thoughts_token_count is None


def test_function_calling(client):
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                description="Weather lookup",
                parameters=types.Schema(
                    type=types.Type.OBJECT,
                    properties={"location": types.Schema(type=types.Type.STRING)},
                    required=["location"],
                ),
            )
        ]
    )
    cfg = types.GenerateContentConfig(
        tools=[tool], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
    )
    r = client.models.generate_content(model="gemini-2.5-flash", contents="What's the weather in Seoul?", config=cfg)
    (fc,) = r.function_calls
    assert fc.name == "get_weather"
    assert fc.args == {"location": "Seoul"}
    chunks = list(
        client.models.generate_content_stream(model="gemini-2.5-flash", contents="weather in Seoul", config=cfg)
    )
    calls = [c.function_calls for c in chunks if c.function_calls]
    assert calls and calls[0][0].args == {"location": "Seoul"}
    # after the function response: text
    r2 = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[
            types.Content(role="user", parts=[types.Part(text="What's the weather in Seoul?")]),
            types.Content(role="model", parts=[types.Part(function_call=fc)]),
            types.Content(
                role="user",
                parts=[types.Part(function_response=types.FunctionResponse(name="get_weather", response={"temp": 20}))],
            ),
        ],
        config=cfg,
    )
    assert r2.function_calls is None and r2.text


def test_count_tokens(client):
    r = client.models.count_tokens(model="gemini-2.5-flash", contents="count these tokens")
    assert r.total_tokens == (len("count these tokens") + 3) // 4


def test_image_model_inline_png(client):
    r = client.models.generate_content(model="gemini-2.5-flash-image", contents="a red bicycle")
    parts = r.candidates[0].content.parts
    imgs = [p.inline_data for p in parts if p.inline_data]
    assert len(imgs) == 1
    assert imgs[0].mime_type == "image/png"
    assert imgs[0].data[:8] == b"\x89PNG\r\n\x1a\n"  # SDK already base64-decoded it
    assert r.usage_metadata.candidates_token_count >= 1290


def test_json_mode(client):
    r = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="json",
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema={
                "type": "OBJECT",
                "properties": {"city": {"type": "STRING"}},
                "required": ["city"],
            },
        ),
    )
    assert set(json.loads(r.text)) == {"city"}


def test_errors_google_shape(client, sim):
    with pytest.raises(errors.ClientError) as ei:
        client.models.generate_content(model="gemini-2.5-flash::status=429", contents="x")
    assert ei.value.code == 429
    assert ei.value.status == "RESOURCE_EXHAUSTED"
    with pytest.raises(errors.ServerError) as ei:
        client.models.generate_content(model="gemini-2.5-flash::status=503", contents="x")
    assert ei.value.status == "UNAVAILABLE"
    r = requests.post(f"{sim}/gemini/v1beta/models/gemini-2.5-flash:generateContent?key=k", json={"contents": []})
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
    r = requests.post(
        f"{sim}/gemini/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": [{"parts": [{"text": "x"}]}]},
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == 401


def test_stream_faults(sim):
    url = f"{sim}/gemini/v1beta/models/gemini-2.5-flash::no_usage=1:streamGenerateContent?alt=sse&key=k"
    r = requests.post(url, json={"contents": [{"parts": [{"text": "x"}]}]})
    datas = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert datas and all("usageMetadata" not in d for d in datas)
    assert all(d["modelVersion"] == "gemini-2.5-flash" for d in datas)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.post(
            f"{sim}/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=k",
            headers={"X-Sim-Fault": "reset_after=2"},
            json={"contents": [{"parts": [{"text": "x"}]}]},
        )


def test_models_list(client):
    names = [m.name for m in client.models.list()]
    assert "models/gemini-2.5-flash" in names


def test_inline_data_counted(sim):
    png = base64.b64encode(b"\x89PNG fake").decode()
    r = requests.post(
        f"{sim}/gemini/v1beta/models/gemini-2.5-flash:countTokens",
        headers={"x-goog-api-key": "k"},
        json={"contents": [{"parts": [{"text": "abcd"}, {"inlineData": {"mimeType": "image/png", "data": png}}]}]},
    )
    assert r.json()["totalTokens"] == 1 + 85


def test_sse_always_on_generate_content(sim):
    r = requests.post(
        f"{sim}/gemini/v1beta/models/gemini-2.5-flash:generateContent?key=k",
        headers={"X-Sim-Fault": "sse_always=1"},
        json={"contents": [{"parts": [{"text": "x"}]}]},
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    datas = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert datas[-1]["candidates"][0]["finishReason"] == "STOP"
