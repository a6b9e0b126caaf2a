"""The request lifecycle against the live gateway, with the openai SDK as the
client: every error class raising the SDK's own exception, key limits,
failover and cooldown, cut-off streams, and many concurrent streams settling
exactly."""

import threading
from datetime import timedelta

import openai
import pytest
import requests
from django.utils import timezone

from accounts.models import ApiKey
from billing.models import Hold, LedgerEntry
from billing.selectors import ledger_audit
from billing.services import ledger_topup
from gateway.models import UsageRecord
from tests.gateway.conftest import MAX_BODY_BYTES, assert_billed, wait_record

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
HELLO = [{"role": "user", "content": "Hello"}]


def client(live, key=None) -> openai.OpenAI:
    return openai.OpenAI(base_url=live.api, api_key=key or live.key, max_retries=0)


def faulty(live, fault: str, *, like: str = "gpt-5.4-mini", backup: bool = False, timeout_seconds: int = 600):
    """A model whose first route answers with a simulator fault (and, with
    backup, a healthy second route)."""
    primary = live.provider(protocol="openai_chat", path="/openai/v1", priority=1, timeout_seconds=timeout_seconds)
    routes = [(primary, f"{like}::{fault}")]
    if backup:
        routes.append((live.provider(protocol="openai_chat", path="/openai/v1", priority=2), like))
    return live.model(like=like, routes=routes)


# --- errors ---------------------------------------------------------------------


def test_missing_and_invalid_keys_are_401(live):
    response = requests.post(f"{live.api}/chat/completions", json={"model": "gpt-5.5", "messages": HELLO})
    assert response.status_code == 401
    assert response.headers["X-Request-Id"].startswith("req_")
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and error["code"] == "missing_api_key"
    for key in ("ck_not-a-real-key", "sk-wrong-prefix"):
        with pytest.raises(openai.AuthenticationError) as exc:
            client(live, key).chat.completions.create(model="gpt-5.5", messages=HELLO)
        assert exc.value.code == "invalid_api_key"
    expired = live.mint(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(openai.AuthenticationError):
        client(live, expired).chat.completions.create(model="gpt-5.5", messages=HELLO)
    assert UsageRecord.objects.count() == 0


def test_insufficient_credits_is_402_with_required_and_available(live, make_user):
    from accounts.services import api_key_mint

    poor = make_user(credits=150)
    key = api_key_mint(user=poor).raw_key
    with pytest.raises(openai.APIStatusError) as exc:
        client(live, key).chat.completions.create(model="gpt-5.4-mini", messages=HELLO)
    assert exc.value.status_code == 402
    assert exc.value.body["required"] == 200 and exc.value.body["available"] == 150
    assert exc.value.body["type"] == "insufficient_quota"
    # A request whose worst case exceeds the balance: 128k output tokens of
    # gpt-5.5-pro at 12,000 credits per million.
    with pytest.raises(openai.APIStatusError) as exc:
        client(live).chat.completions.create(model="gpt-5.5-pro", messages=HELLO)
    assert exc.value.status_code == 402
    assert exc.value.body["required"] > 1000 and exc.value.body["available"] == 1000
    # Asking for less output makes it affordable.
    small = client(live).chat.completions.create(model="gpt-5.5-pro", messages=HELLO, max_tokens=1000)
    assert_billed(small._request_id)
    assert Hold.objects.filter(status="active").count() == 0


def test_model_allowlist_is_403(live):
    key = live.mint(allowed_models=["gpt-5.4-nano"])
    with pytest.raises(openai.PermissionDeniedError) as exc:
        client(live, key).chat.completions.create(model="gpt-5.4-mini", messages=HELLO)
    assert exc.value.code == "model_not_allowed"
    assert client(live, key).chat.completions.create(model="gpt-5.4-nano", messages=HELLO).choices


def test_unknown_model_and_wrong_endpoint_are_400(live):
    with pytest.raises(openai.BadRequestError) as exc:
        client(live).chat.completions.create(model="gpt-99", messages=HELLO)
    assert exc.value.code == "model_not_found"
    available = exc.value.body["available_models"]
    assert "gpt-5.5" in available and "claude-opus-4-6" not in available
    with pytest.raises(openai.BadRequestError) as exc:
        client(live).chat.completions.create(model="claude-opus-4-6", messages=HELLO)
    assert exc.value.code == "wrong_endpoint" and "/v1/messages" in exc.value.message
    with pytest.raises(openai.BadRequestError):
        client(live).chat.completions.create(model="gpt-5.5", messages=[])
    assert UsageRecord.objects.count() == 0


def test_not_found_is_404_in_json(live):
    with pytest.raises(openai.NotFoundError):
        client(live).models.retrieve("no-such-model")
    response = requests.post(f"{live.api}/no/such/path", headers={"Authorization": f"Bearer {live.key}"})
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found_error"


def test_body_too_large_is_413(live):
    with pytest.raises(openai.APIStatusError) as exc:
        client(live).chat.completions.create(
            model="gpt-5.4-mini", messages=[{"role": "user", "content": "x" * (MAX_BODY_BYTES + 10)}]
        )
    assert exc.value.status_code == 413
    assert UsageRecord.objects.count() == 0


def test_rate_limit_is_429_with_headers(live):
    key = live.mint(rate_limit_per_hour=2)
    c = client(live, key)
    first = c.chat.completions.with_raw_response.create(model="gpt-5.4-nano", messages=HELLO)
    assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == ("2", "1")
    assert int(first.headers["x-ratelimit-reset"]) > 0
    c.chat.completions.create(model="gpt-5.4-nano", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as exc:
        c.chat.completions.create(model="gpt-5.4-nano", messages=HELLO)
    headers = exc.value.response.headers
    assert headers["x-ratelimit-remaining"] == "0"
    assert int(headers["retry-after"]) > 0
    assert UsageRecord.objects.count() == 2


def test_user_rate_limit_spans_keys(live):
    live.user.rate_limit_per_hour = 1
    live.user.save(update_fields=["rate_limit_per_hour"])
    client(live).chat.completions.create(model="gpt-5.4-nano", messages=HELLO)
    with pytest.raises(openai.RateLimitError):
        client(live, live.mint()).chat.completions.create(model="gpt-5.4-nano", messages=HELLO)


@pytest.mark.parametrize(
    ("fault", "status", "error_class"),
    [
        ("status=500", 502, openai.InternalServerError),
        ("status=503", 503, openai.InternalServerError),
        ("status=429", 429, openai.RateLimitError),
    ],
)
def test_upstream_failures_map_to_gateway_errors(live, fault, status, error_class):
    model = faulty(live, fault)
    with pytest.raises(error_class) as exc:
        client(live).chat.completions.create(model=model.slug, messages=HELLO)
    assert exc.value.status_code == status
    record = wait_record(exc.value.response.headers["x-request-id"])
    assert (record.outcome, record.status_code, record.cost_micros) == ("upstream_error", status, 0)
    assert_billed(record.request_id, outcome="upstream_error")
    assert LedgerEntry.objects.filter(kind="charge").count() == 0


def test_upstream_timeout_is_504(live):
    model = faulty(live, "delay_ms=2500", timeout_seconds=1)
    with pytest.raises(openai.InternalServerError) as exc:
        client(live).chat.completions.create(model=model.slug, messages=HELLO)
    assert exc.value.status_code == 504
    record = assert_billed(exc.value.response.headers["x-request-id"], outcome="timeout")
    assert record.cost_micros == 0


def test_upstream_refusal_is_passed_on_without_failover(live):
    model = faulty(live, "status=400", backup=True)
    with pytest.raises(openai.BadRequestError) as exc:
        client(live).chat.completions.create(model=model.slug, messages=HELLO)
    assert exc.value.code == "upstream_rejected"
    record = wait_record(exc.value.response.headers["x-request-id"])
    assert record.provider.priority == 1 and record.cost_micros == 0


def test_key_spend_limit(live):
    key = live.mint(spend_limit_micros=1, spend_limit_period="day")
    first = client(live, key).chat.completions.create(model="gpt-5.4-nano", messages=HELLO)
    assert_billed(first._request_id)
    with pytest.raises(openai.APIStatusError) as exc:
        client(live, key).chat.completions.create(model="gpt-5.4-nano", messages=HELLO)
    assert exc.value.status_code == 402 and exc.value.code == "key_spend_limit_reached"
    # Other keys of the same user are not limited by it.
    assert client(live).chat.completions.create(model="gpt-5.4-nano", messages=HELLO).choices


# --- failover -------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fault", ["status=503", "status=429", "reset_after=0"])
def test_failover_before_the_first_byte(live, fault, stream):
    model = faulty(live, fault, backup=True)
    raw = client(live).chat.completions.with_raw_response.create(model=model.slug, messages=HELLO, stream=stream)
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    else:
        text = raw.parse().choices[0].message.content
    assert text
    record = assert_billed(raw.headers["x-request-id"], stream=stream)
    assert record.provider.priority == 2
    assert raw.headers["x-hypereal-provider"] == record.provider.slug


def test_failover_on_connect_error_and_timeout(live):
    dead = live.provider(protocol="openai_chat", path="http://127.0.0.1:9/v1", priority=1)
    slow = live.provider(protocol="openai_chat", path="/openai/v1", priority=2, timeout_seconds=1)
    good = live.provider(protocol="openai_chat", path="/openai/v1", priority=3)
    model = live.model(
        like="gpt-5.4-mini",
        routes=[(dead, "gpt-5.4-mini"), (slow, "gpt-5.4-mini::delay_ms=2500"), (good, "gpt-5.4-mini")],
    )
    completion = client(live).chat.completions.create(model=model.slug, messages=HELLO)
    record = assert_billed(completion._request_id)
    assert record.provider_id == good.pk
    assert record.model_served == model.slug


def test_failing_route_cools_down(live, counting_upstream):
    """After two failures in a row (the test server's setting) the route is
    skipped: the third request never reaches it."""
    down = live.provider(protocol="openai_chat", path=counting_upstream.url, priority=1)
    good = live.provider(protocol="openai_chat", path="/openai/v1", priority=2)
    model = live.model(like="gpt-5.4-mini", routes=[(down, "gpt-5.4-mini"), (good, "gpt-5.4-mini")])
    for _ in range(3):
        completion = client(live).chat.completions.create(model=model.slug, messages=HELLO)
        assert wait_record(completion._request_id).provider_id == good.pk
    assert counting_upstream.calls == 2


def test_equal_priority_routes_share_traffic_by_weight(live):
    a = live.provider(protocol="openai_chat", path="/openai/v1", priority=1, weight=1)
    b = live.provider(protocol="openai_chat", path="/openai/v1", priority=1, weight=1000)
    model = live.model(like="gpt-5.4-nano", routes=[(a, "gpt-5.4-nano"), (b, "gpt-5.4-nano")])
    for _ in range(5):
        client(live).chat.completions.create(model=model.slug, messages=HELLO)
    served = list(UsageRecord.objects.values_list("provider_id", flat=True))
    assert served.count(b.pk) >= 4


def test_no_failover_after_the_first_byte(live):
    """A stream that breaks after it started is not retried elsewhere: the
    client gets an error event and is billed for what was generated."""
    model = faulty(live, "reset_after=4", backup=True)
    stream = client(live).chat.completions.create(model=model.slug, messages=HELLO, stream=True)
    received = []
    with pytest.raises(openai.APIError) as exc:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert "broke" in exc.value.message
    assert len(received) == 4
    record = assert_billed(stream.response.headers["x-request-id"], outcome="upstream_error", estimated=True)
    assert record.provider.priority == 1
    assert record.output_tokens >= 1 and record.cost_micros > 0


def test_stream_without_usage_gets_an_estimate(live):
    model = faulty(live, "no_usage=1")
    stream = client(live).chat.completions.create(model=model.slug, messages=HELLO, stream=True)
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    record = assert_billed(stream.response.headers["x-request-id"], estimated=True)
    assert record.output_tokens == chunks[-1].usage.completion_tokens
    answer = client(live).chat.completions.create(model=model.slug, messages=HELLO)
    assert answer.usage.completion_tokens > 0
    assert_billed(answer._request_id, estimated=True)


def test_client_disconnect_mid_stream_bills_what_was_generated(live):
    model = faulty(live, "tokens_per_s=25,tokens=400")
    stream = client(live).chat.completions.create(model=model.slug, messages=HELLO, stream=True)
    request_id = stream.response.headers["x-request-id"]
    received = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received += 1
            if received == 5:
                break
    stream.close()
    # Settled when the client left, not when the upstream would have finished (16 s).
    record = assert_billed(request_id, outcome="client_gone", estimated=True)
    assert 5 <= record.output_tokens < 400
    assert record.latency_ms < 10_000
    assert record.cost_micros > 0


def test_client_giving_up_on_a_slow_answer_pays_nothing(live):
    model = faulty(live, "delay_ms=3000")
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            f"{live.api}/chat/completions",
            json={"model": model.slug, "messages": HELLO},
            headers={"Authorization": f"Bearer {live.key}"},
            timeout=0.5,
        )
    # Settled as soon as the client left, long before the upstream answered.
    record = wait_record(model_served=model.slug, seconds=2.0)
    assert_billed(record.request_id, outcome="client_gone")
    assert record.cost_micros == 0 and record.latency_ms < 2500


def test_fifty_concurrent_streams_settle_exactly(live):
    # Fifty holds of the worst case (128k output tokens each) at once, above
    # the 200-credit minimum balance.
    ledger_topup(account_id=live.account().pk, amount_micros=5_000_000_000, reference="test:more-credits")
    before = live.balance_micros()
    errors: list = []
    request_ids: list = []
    barrier = threading.Barrier(50)

    def run():
        try:
            c = client(live)
            barrier.wait()
            stream = c.chat.completions.create(model="gpt-5.4-mini", messages=HELLO, stream=True)
            assert list(stream)[-1].usage is not None
            request_ids.append(stream.response.headers["x-request-id"])
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for rid in request_ids:  # the audit needs every settlement in
        wait_record(rid)
    records = [assert_billed(rid, stream=True) for rid in request_ids]
    assert len({r.request_id for r in records}) == 50
    charges = LedgerEntry.objects.filter(kind="charge", reference__in=request_ids)
    assert charges.count() == 50
    total = sum(r.cost_micros for r in records)
    assert sum(c.amount_micros for c in charges) == -total
    assert live.balance_micros() == before - total
    assert live.account().held_micros == 0
    assert ledger_audit().clean


def test_last_use_of_a_key_is_recorded(live):
    client(live).chat.completions.create(model="gpt-5.4-nano", messages=HELLO)
    assert ApiKey.objects.get(pk=live.key_id).last_used_at is not None
