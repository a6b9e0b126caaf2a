"""Staff see usage records with filters and totals of the filtered set."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.services import api_key_mint
from catalog.models import Provider
from gateway.models import UsageRecord

pytestmark = pytest.mark.django_db
URL = "admin:gateway_usagerecord_changelist"


@pytest.fixture
def records(make_user, catalog):
    alice, bob = make_user(email="alice@example.com"), make_user(email="bob@example.com")
    alice_key = api_key_mint(user=alice).api_key
    openai_sim = Provider.objects.get(slug="sim-openai")
    anthropic_sim = Provider.objects.get(slug="sim-anthropic")
    rows = [
        (alice, alice_key, "gpt-5.5", openai_sim, 200, "done", 100, 50, 1_500_000, 0),
        (alice, alice_key, "claude-opus-4-6", anthropic_sim, 200, "done", 200, 80, 2_250_000, 0),
        (bob, None, "gpt-5.5", openai_sim, 502, "upstream_error", 0, 0, 0, 0),
        (bob, None, "gpt-5.5", openai_sim, 200, "client_gone", 30, 10, 250_000, 40),
    ]
    now = timezone.now()
    for n, (user, key, model, provider, status, outcome, inp, out, cost, days_ago) in enumerate(rows):
        UsageRecord.objects.create(
            request_id=f"req_admin_{n}",
            user=user,
            api_key=key,
            endpoint="chat_completions",
            model_requested=model,
            model_served=model,
            provider=provider,
            upstream_model=model,
            status_code=status,
            input_tokens=inp,
            output_tokens=out,
            cost_micros=cost,
            estimated=outcome == "client_gone",
            outcome=outcome,
            created_at=now - timedelta(days=days_ago),
        )
    return {"alice": alice, "bob": bob, "alice_key": alice_key, "openai": openai_sim}


def totals(client, **params):
    response = client.get(reverse(URL), params)
    assert response.status_code == 200
    return response.context["usage_totals"], response.content.decode()


def test_totals_of_everything_and_of_filtered_sets(client, staff, records):
    client.force_login(staff)
    everything, page = totals(client)
    assert (everything["requests"], everything["input_tokens"], everything["output_tokens"]) == (4, 330, 140)
    assert everything["credits"] == Decimal("4")
    assert 'id="usage-totals"' in page and "req_admin_0" in page

    by_user, _ = totals(client, user__id__exact=records["alice"].pk)
    assert (by_user["requests"], by_user["credits"]) == (2, Decimal("3.75"))
    by_key, _ = totals(client, api_key__id__exact=records["alice_key"].pk)
    assert by_key["requests"] == 2
    by_model, _ = totals(client, model_served="gpt-5.5")
    assert (by_model["requests"], by_model["total_tokens"]) == (3, 190)
    by_provider, _ = totals(client, provider__id__exact=records["openai"].pk)
    assert by_provider["requests"] == 3
    by_status, _ = totals(client, status_code=502)
    assert (by_status["requests"], by_status["credits"]) == (1, Decimal("0"))
    by_outcome, _ = totals(client, outcome="client_gone")
    assert (by_outcome["requests"], by_outcome["estimated"]) == (1, 1)
    since = (timezone.now() - timedelta(days=7)).isoformat()
    recent, _ = totals(client, created_at__gte=since)
    assert recent["requests"] == 3
    searched, _ = totals(client, q="bob@example.com")
    assert searched["requests"] == 2


def test_records_are_read_only_and_staff_only(client, staff, records, user):
    client.force_login(user)
    assert client.get(reverse(URL)).status_code == 302
    client.force_login(staff)
    record = UsageRecord.objects.first()
    page = client.get(reverse("admin:gateway_usagerecord_change", args=[record.pk]))
    assert page.status_code == 200
    assert client.get(reverse("admin:gateway_usagerecord_add")).status_code == 403
