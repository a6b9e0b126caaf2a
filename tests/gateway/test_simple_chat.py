"""POST /v1/chat, the media API docs' simple chat endpoint: a default model,
`creditsUsed` in the answer and at the end of a stream, and the flat error
shape of those docs."""

import json
from decimal import Decimal

import pytest
import requests

from billing.models import micros_to_credits
from gateway.wire.simple_chat import default_model
from tests.gateway.conftest import assert_billed

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
HELLO = [{"role": "user", "content": "Hello, how are you?"}]


def post(live, body, key=None, **kwargs):
    headers = {"Authorization": f"Bearer {key or live.key}"}
    return requests.post(f"{live.url}/v1/chat", json=body, headers=headers, **kwargs)


def test_answer_with_default_model_and_credits_used(live):
    response = post(live, {"messages": HELLO, "stream": False})
    assert response.status_code == 200
    data = response.json()
    assert data["choices"][0]["message"]["content"]
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["model"] == default_model() == "gpt-5.4-mini"
    record = assert_billed(response.headers["X-Request-Id"])
    assert record.endpoint == "chat"
    assert Decimal(str(data["creditsUsed"])) == micros_to_credits(record.cost_micros) > 0


def test_stream_ends_with_credits_used(live):
    response = post(live, {"messages": HELLO, "stream": True, "model": "deepseek-v3.2"}, stream=True)
    events = [line[6:] for line in response.iter_lines() if line.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    record = assert_billed(response.headers["X-Request-Id"], stream=True)
    assert chunks[-1]["creditsUsed"] == float(micros_to_credits(record.cost_micros))
    assert record.model_served == "deepseek-v3.2"


def test_errors_in_the_media_docs_shape(live, make_user):
    from accounts.services import api_key_mint

    unauthorized = requests.post(f"{live.url}/v1/chat", json={"messages": HELLO})
    assert unauthorized.status_code == 401 and isinstance(unauthorized.json()["error"], str)
    poor = post(live, {"messages": HELLO}, key=api_key_mint(user=make_user(credits=20)).raw_key)
    assert poor.status_code == 402
    assert poor.json() == {"error": "Insufficient credits", "required": 200, "available": 20}
    missing = post(live, {"stream": False})
    assert missing.status_code == 400 and missing.json()["error"] == "Messages are required"
    wrong = post(live, {"messages": HELLO, "model": "claude-opus-4-6"})
    assert wrong.status_code == 400 and "not served" in wrong.json()["error"]
