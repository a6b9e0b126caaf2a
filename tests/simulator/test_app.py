"""Routing, auth (SIM_API_KEY), fault-option parsing and multipart parsing."""

from __future__ import annotations

import anthropic
import openai
import pytest
import requests

from simulator import faults
from simulator.app import parse_multipart

from .conftest import API_KEY


def test_healthz(sim):
    r = requests.get(f"{sim}/healthz")
    assert r.status_code == 200 and r.json() == {"ok": True}


def test_unknown_route_and_method(sim):
    assert requests.get(f"{sim}/nope").status_code == 404
    assert requests.get(f"{sim}/openai/v1/chat/completions").status_code == 405


def test_missing_key_rejected_when_unset(sim):
    r = requests.post(f"{sim}/openai/v1/chat/completions", json={"model": "m", "messages": []})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"


CHAT = {"model": "gpt-5.5", "messages": [{"role": "user", "content": "x"}]}
MSG = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
GEM = {"contents": [{"parts": [{"text": "x"}]}]}


@pytest.mark.parametrize(
    ("path", "body", "good", "bad", "check"),
    [
        (
            "/openai/v1/chat/completions",
            CHAT,
            {"Authorization": f"Bearer {API_KEY}"},
            {"Authorization": "Bearer nope"},
            lambda j: j["error"]["code"] == "invalid_api_key",
        ),
        (
            "/openai/v1/responses",
            {"model": "gpt-5.5", "input": "x"},
            {"Authorization": f"Bearer {API_KEY}"},
            {"Authorization": "Bearer nope"},
            lambda j: j["error"]["type"] == "invalid_request_error",
        ),
        (
            "/anthropic/v1/messages",
            MSG,
            {"x-api-key": API_KEY},
            {"x-api-key": "nope"},
            lambda j: j["type"] == "error" and j["error"]["type"] == "authentication_error",
        ),
        (
            "/gemini/v1beta/models/gemini-2.5-flash:generateContent",
            GEM,
            {"x-goog-api-key": API_KEY},
            {"x-goog-api-key": "nope"},
            lambda j: j["error"]["code"] == 401 and j["error"]["status"] == "UNAUTHENTICATED",
        ),
        (
            "/gemini/v1beta/openai/chat/completions",
            {**CHAT, "model": "gemini-2.5-flash"},
            {"Authorization": f"Bearer {API_KEY}"},
            {"Authorization": "Bearer nope"},
            lambda j: "error" in j,
        ),
        (
            "/fish/v1/tts",
            {"text": "x"},
            {"Authorization": f"Bearer {API_KEY}"},
            {"Authorization": "Bearer nope"},
            lambda j: j == {"message": "Invalid Token", "status": 401},
        ),
        (
            "/wavespeed/api/v3/wavespeed-ai/flux-dev",
            {"prompt": "x"},
            {"Authorization": f"Bearer {API_KEY}"},
            {"Authorization": "Bearer nope"},
            lambda j: j["code"] == 401 and j["data"] is None,
        ),
    ],
)
def test_sim_api_key_enforced(sim_keyed, path, body, good, bad, check):
    ok = requests.post(sim_keyed + path, json=body, headers=good)
    assert ok.status_code == 200, ok.text
    r = requests.post(sim_keyed + path, json=body, headers=bad)
    assert r.status_code == 401
    assert check(r.json())
    missing = requests.post(sim_keyed + path, json=body)
    assert missing.status_code == 401


def test_gemini_query_key(sim_keyed):
    url = f"{sim_keyed}/gemini/v1beta/models/gemini-2.5-flash:generateContent"
    assert requests.post(f"{url}?key={API_KEY}", json=GEM).status_code == 200
    r = requests.post(f"{url}?key=nope", json=GEM)
    assert r.status_code == 401
    assert r.json()["error"]["status"] == "UNAUTHENTICATED"


def test_sdk_auth_errors(sim_keyed):
    c = openai.OpenAI(base_url=f"{sim_keyed}/openai/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        c.chat.completions.create(**CHAT)
    a = anthropic.Anthropic(base_url=f"{sim_keyed}/anthropic", api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        a.messages.create(**MSG)
    a_ok = anthropic.Anthropic(base_url=f"{sim_keyed}/anthropic", api_key=API_KEY, max_retries=0)
    assert a_ok.messages.create(**MSG).content


def test_files_and_health_need_no_key(sim_keyed):
    assert requests.get(f"{sim_keyed}/healthz").status_code == 200
    assert requests.get(f"{sim_keyed}/files/mesh-1.glb").status_code == 200


def test_fault_parsing():
    base, opts = faults.split_model("claude-sonnet-4-6::delay_ms=200,tokens_per_s=20")
    assert base == "claude-sonnet-4-6"
    assert opts == {"delay_ms": "200", "tokens_per_s": "20"}
    assert faults.split_model("gpt-5.5") == ("gpt-5.5", {})
    f = faults.collect("status=503;delay_ms=300;malformed=1;stall;unknown=3", {"status": "429", "tokens": "7"})
    assert f.status == 503  # header wins
    assert f.delay_ms == 300
    assert f.malformed is True and f.stall is True
    assert f.tokens == 7
    assert f.tokens_per_s == 0 and not f.paced
    g = faults.collect("tokens_per_s=2.5;no_usage=0;reset_after=x")
    assert g.tokens_per_s == 2.5 and g.paced
    assert g.no_usage is False
    assert g.reset_after is None  # unparsable values are ignored


class _Req:
    def __init__(self, ctype: str, body: bytes):
        self.headers = {"content-type": ctype}
        self.body = body


def test_multipart_parser():
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="prompt"\r\n\r\n'
        b"add a hat\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="image"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
        b"\x89PNG\r\n\x1a\nDATA\r\n"
        b"--XyZ--\r\n"
    )
    parts = parse_multipart(_Req('multipart/form-data; boundary="XyZ"', body))
    assert [(p.name, p.filename) for p in parts] == [("prompt", None), ("image", "a.png")]
    assert parts[0].text == "add a hat"
    assert parts[1].data == b"\x89PNG\r\n\x1a\nDATA"
    assert parts[1].content_type == "image/png"


def test_fault_times_fails_only_first_k(sim):
    body = {
        "model": "gpt-5.5::status=503,times=2,tag=times-test",
        "messages": [{"role": "user", "content": "x"}],
    }
    codes = [
        requests.post(f"{sim}/openai/v1/chat/completions", json=body, headers={"Authorization": "Bearer k"}).status_code
        for _ in range(4)
    ]
    assert codes == [503, 503, 200, 200]
