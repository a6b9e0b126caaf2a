"""POST /v1/messages with the official anthropic SDK: answers, streams with
extended thinking, tools, keep-alive pings, old model ids, count_tokens and
every error class as the SDK's own exception."""

import anthropic
import pytest
import requests

from gateway.models import UsageRecord
from tests.gateway.conftest import MAX_BODY_BYTES, assert_billed, wait_record

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
HELLO = [{"role": "user", "content": "Hello, Claude."}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def client(live, key=None) -> anthropic.Anthropic:
    # Claude Code's setting: ANTHROPIC_BASE_URL=https://host/api
    return anthropic.Anthropic(base_url=f"{live.url}/api", api_key=key or live.key, max_retries=0)


def test_message_is_answered_and_billed(live):
    before = live.balance_micros()
    message = client(live).messages.create(model="claude-sonnet-4-6", max_tokens=1024, messages=HELLO)
    assert message.content[0].type == "text" and message.content[0].text
    assert message.model == "claude-sonnet-4-6"
    assert message.stop_reason == "end_turn"
    record = assert_billed(message._request_id, stream=False)
    assert record.endpoint == "messages"
    assert record.input_tokens == message.usage.input_tokens
    assert record.output_tokens == message.usage.output_tokens
    assert live.balance_micros() == before - record.cost_micros


def test_stream_with_extended_thinking(live):
    with client(live).messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "Plan a 3-step refactor."}],
    ) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_message()
        request_id = stream.response.headers["request-id"]
    assert {"message_start", "content_block_delta", "message_stop"} <= kinds
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert final.content[0].thinking and final.content[0].signature
    record = assert_billed(request_id, stream=True)
    assert record.output_tokens == final.usage.output_tokens
    # Thinking is billed as output: more than the visible text alone.
    assert record.output_tokens > len(final.content[1].text.split())


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use(live, stream):
    kwargs = {
        "model": "claude-haiku-4-5",
        "max_tokens": 512,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [{"role": "user", "content": "What's the weather in Tokyo?"}],
    }
    c = client(live)
    if stream:
        with c.messages.stream(**kwargs) as s:
            message = s.get_final_message()
            request_id = s.response.headers["request-id"]
    else:
        message = c.messages.create(**kwargs)
        request_id = message._request_id
    tool_use = next(block for block in message.content if block.type == "tool_use")
    assert tool_use.name == "get_weather" and "city" in tool_use.input
    assert message.stop_reason == "tool_use"
    follow = c.messages.create(
        model="claude-haiku-4-5",
        max_tokens=512,
        tools=[WEATHER_TOOL],
        messages=[
            *kwargs["messages"],
            {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in message.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "21 C"}]},
        ],
    )
    assert follow.content[0].text
    assert_billed(request_id, stream=stream)


def test_older_model_ids_alias_to_current_ones(live):
    message = client(live).messages.create(model="claude-3-5-sonnet-20241022", max_tokens=256, messages=HELLO)
    assert message.model == "claude-sonnet-4-6"
    record = assert_billed(message._request_id)
    assert (record.model_requested, record.model_served) == ("claude-3-5-sonnet-20241022", "claude-sonnet-4-6")


def test_pings_while_the_upstream_is_silent(live):
    """The upstream sends its first events and then nothing; the gateway
    keeps the stream alive with `event: ping` (every 0.4 s on the test server)."""
    provider = live.provider(protocol="anthropic_messages", path="/anthropic/v1", priority=1)
    model = live.model(like="claude-sonnet-4-6", routes=[(provider, "claude-sonnet-4-6::stall=1")])
    response = requests.post(
        f"{live.api}/messages",
        headers={"x-api-key": live.key, "anthropic-version": "2023-06-01"},
        json={"model": model.slug, "max_tokens": 256, "stream": True, "messages": HELLO},
        stream=True,
        timeout=30,
    )
    assert response.status_code == 200
    events = []
    for line in response.iter_lines():
        if line.startswith(b"event: "):
            events.append(line[7:].decode())
            if events.count("ping") >= 4:
                break
    response.close()
    assert events[0] == "message_start"
    assert events.count("ping") >= 4
    record = wait_record(response.headers["request-id"])
    # Cut off before any text: nothing generated, nothing billed.
    assert record.outcome == "client_gone" and record.cost_micros == 0


def test_count_tokens(live):
    counted = client(live).messages.count_tokens(model="claude-sonnet-4-6", messages=HELLO)
    assert counted.input_tokens > 0
    assert UsageRecord.objects.count() == 0


def test_models_list_in_anthropic_shape(live):
    ids = [m.id for m in client(live).models.list()]
    assert "claude-opus-4-6" in ids and "gpt-5.5" not in ids


def test_errors_raise_the_sdk_exception_classes(live, make_user):
    from accounts.services import api_key_mint

    with pytest.raises(anthropic.AuthenticationError):
        client(live, "ck_wrong").messages.create(model="claude-sonnet-4-6", max_tokens=16, messages=HELLO)
    poor = api_key_mint(user=make_user(credits=50)).raw_key
    with pytest.raises(anthropic.PaymentRequiredError) as exc:
        client(live, poor).messages.create(model="claude-sonnet-4-6", max_tokens=16, messages=HELLO)
    assert exc.value.body["error"]["required"] == 200 and exc.value.body["error"]["available"] == 50
    narrow = live.mint(allowed_models=["claude-haiku-4-5"])
    with pytest.raises(anthropic.PermissionDeniedError):
        client(live, narrow).messages.create(model="claude-sonnet-4-6", max_tokens=16, messages=HELLO)
    with pytest.raises(anthropic.BadRequestError) as exc:
        client(live).messages.create(model="claude-nope", max_tokens=16, messages=HELLO)
    assert "claude-opus-4-6" in exc.value.body["error"]["available_models"]
    with pytest.raises(anthropic.BadRequestError) as exc:
        client(live).messages.create(model="gpt-5.5", max_tokens=16, messages=HELLO)
    assert "not served on this endpoint" in exc.value.message
    with pytest.raises(anthropic.NotFoundError):
        client(live).models.retrieve("claude-nope")
    with pytest.raises(anthropic.ContentTooLargeError):
        client(live).messages.create(
            model="claude-sonnet-4-6", max_tokens=16, messages=[{"role": "user", "content": "x" * MAX_BODY_BYTES}]
        )
    limited = live.mint(rate_limit_per_hour=1)
    client(live, limited).messages.create(model="claude-haiku-4-5", max_tokens=16, messages=HELLO)
    with pytest.raises(anthropic.RateLimitError) as exc:
        client(live, limited).messages.create(model="claude-haiku-4-5", max_tokens=16, messages=HELLO)
    assert exc.value.response.headers["retry-after"]


@pytest.mark.parametrize(
    ("fault", "timeout", "error_class", "status"),
    [
        ("status=500", 600, anthropic.InternalServerError, 502),
        ("status=529", 600, anthropic.InternalServerError, 502),
        ("status=503", 600, anthropic.ServiceUnavailableError, 503),
        ("delay_ms=2500", 1, anthropic.GatewayTimeoutError, 504),
    ],
)
def test_upstream_failures(live, fault, timeout, error_class, status):
    provider = live.provider(protocol="anthropic_messages", path="/anthropic/v1", priority=1, timeout_seconds=timeout)
    model = live.model(like="claude-haiku-4-5", routes=[(provider, f"claude-haiku-4-5::{fault}")])
    with pytest.raises(error_class) as exc:
        client(live).messages.create(model=model.slug, max_tokens=16, messages=HELLO)
    assert exc.value.status_code == status
    record = assert_billed(
        exc.value.response.headers["request-id"], outcome="timeout" if status == 504 else "upstream_error"
    )
    assert record.cost_micros == 0


def test_failover_to_the_backup_route(live):
    broken = live.provider(protocol="anthropic_messages", path="/anthropic/v1", priority=1)
    backup = live.provider(protocol="anthropic_messages", path="/anthropic/v1", priority=2)
    model = live.model(
        like="claude-haiku-4-5",
        routes=[(broken, "claude-haiku-4-5::status=529"), (backup, "claude-haiku-4-5")],
    )
    with client(live).messages.stream(model=model.slug, max_tokens=64, messages=HELLO) as stream:
        text = stream.get_final_text()
        request_id = stream.response.headers["request-id"]
    assert text
    assert assert_billed(request_id, stream=True).provider_id == backup.pk
