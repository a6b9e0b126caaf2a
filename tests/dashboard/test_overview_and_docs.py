import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.services import api_key_mint
from billing.models import credits_to_micros
from billing.services import credit_account_ensure, ledger_charge, ledger_refund, ledger_reverse, ledger_topup
from catalog.models import AiModel, ModelPrice
from catalog.selectors import catalog_snapshot_invalidate
from dashboard.snippets import base_urls, quickstart_snippets
from gateway.models import UsageRecord

pytestmark = pytest.mark.django_db


def page(client, name="dashboard:overview"):
    response = client.get(reverse(name))
    assert response.status_code == 200
    return response.content.decode()


def test_fresh_signup_sees_zero_credits_and_how_to_get_past_402(client, catalog):
    client.post(reverse("signup"), {"email": "fresh@example.com", "password": "correct-Horse-battery-9"})
    body = page(client)
    assert "You have 0 credits." in body
    assert "402 Payment Required" in body and "at least $2 (200 credits)" in body
    assert reverse("dashboard:topup") in body
    assert 'data-testid="balance">0.00 <small>credits' in body


def test_overview_shows_balance_and_this_months_spend(client, make_user, catalog):
    user = make_user(credits=1500)
    account = credit_account_ensure(user=user)
    charge = ledger_charge(account_id=account.pk, amount_micros=credits_to_micros("12.5"), reference="r1")
    ledger_charge(account_id=account.pk, amount_micros=credits_to_micros("7.5"), reference="r2")
    ledger_refund(charge_id=charge.pk, reference="r1-refund", amount_micros=credits_to_micros("2.5"))
    client.force_login(user)
    body = page(client)
    assert 'data-testid="balance">1,482.50 <small>credits' in body
    assert "≈ $14.83" in body
    assert 'data-testid="spend-month">17.50 <small>credits' in body
    assert "balance-alert" not in body


def test_low_and_negative_balances_are_explained(client, make_user, catalog):
    user = make_user()
    account = credit_account_ensure(user=user)
    topup = ledger_topup(account_id=account.pk, amount_micros=credits_to_micros(300), reference="t1")
    ledger_charge(account_id=account.pk, amount_micros=credits_to_micros(150), reference="c1")
    client.force_login(user)
    body = page(client)
    assert "150.00 credits available." in body and "at least 200.00 credits ($2.00) available" in body
    ledger_reverse(topup_id=topup.pk, reference="rev1")  # the card payment was refunded
    body = page(client)
    assert "Your balance is negative (−150.00 credits)." in body
    assert "API calls are blocked until you top up" in body


def test_overview_lists_the_users_recent_requests_and_progress(client, make_user, catalog):
    user = make_user(credits=10)
    minted = api_key_mint(user=user)
    UsageRecord.objects.create(
        request_id="req_1",
        user=user,
        api_key=minted.api_key,
        endpoint="chat_completions",
        model_requested="gpt-5.5",
        model_served="gpt-5.5",
        input_tokens=1200,
        output_tokens=34,
        cost_micros=1_234_567,
    )
    client.force_login(user)
    body = page(client)
    assert "<code>gpt-5.5</code>" in body and "1,234" in body and "1.23" in body
    assert body.count('<li class="done">') == 4


@pytest.mark.parametrize("public", ["https://hypereal.build", "https://hypereal.build/"])
def test_snippets_use_the_base_url_each_sdk_needs(settings, public):
    urls = base_urls(public)
    assert urls == {
        "openai": "https://hypereal.build/api/v1",
        "anthropic": "https://hypereal.build/api",
        "gemini": "https://hypereal.build/api/v1/gemini",
        "codex": "https://hypereal.build/api/v1/codex",
    }
    snippets = {s.slug: s.code for s in quickstart_snippets(base_url=public)}
    assert set(snippets) == {"curl", "openai-python", "openai-node", "anthropic", "google", "codex", "claude-code"}
    assert "curl https://hypereal.build/api/v1/chat/completions" in snippets["curl"]
    assert 'base_url="https://hypereal.build/api/v1"' in snippets["openai-python"]
    assert 'baseURL: "https://hypereal.build/api/v1"' in snippets["openai-node"]
    assert 'base_url="https://hypereal.build/api"' in snippets["anthropic"]
    assert 'HttpOptions(base_url="https://hypereal.build/api/v1/gemini")' in snippets["google"]
    assert (
        'base_url = "https://hypereal.build/api/v1/codex"' in snippets["codex"]
        and 'wire_api = "responses"' in snippets["codex"]
    )
    assert 'ANTHROPIC_BASE_URL="https://hypereal.build/api"' in snippets["claude-code"]


def test_overview_quick_start_uses_the_public_base_url(client, user, catalog, settings):
    settings.PUBLIC_BASE_URL = "https://api.example.test"
    client.force_login(user)
    body = page(client)
    assert 'id="base-url">https://api.example.test/api/v1</code>' in body
    for label in [
        "cURL",
        "OpenAI · Python",
        "OpenAI · Node",
        "Anthropic SDK",
        "Google GenAI SDK",
        "Codex CLI",
        "Claude Code",
    ]:
        assert label in body


def test_docs_are_public_and_read_the_live_catalog(client, catalog):
    body = page(client, "dashboard:docs")
    for text in ["Authentication", "x-goog-api-key", "/api/v1/chat/completions", "429", "X-RateLimit-Remaining"]:
        assert text in body
    # gpt-5: 125 credits in / 1,000 out per MTok in the data file.
    row = body.split('data-filter-text="gpt-5 GPT-5"', 1)[1].split("</tr>", 1)[0]
    assert ">125<" in row and ">12.50<" in row and ">1,000<" in row
    assert "claude-3-5-sonnet-20241022</code> → <code>claude-sonnet-4-6" in body
    # A price change shows up at once (the catalog snapshot is invalidated).
    model = AiModel.objects.get(slug="gpt-5")
    ModelPrice.objects.create(
        model=model,
        effective_from=timezone.now(),
        input_per_mtok_micros=credits_to_micros(99),
        output_per_mtok_micros=credits_to_micros(999),
    )
    catalog_snapshot_invalidate()
    row = page(client, "dashboard:docs").split('data-filter-text="gpt-5 GPT-5"', 1)[1].split("</tr>", 1)[0]
    assert ">99<" in row and ">999<" in row
    # A model taken out of the catalog disappears from the docs.
    AiModel.objects.filter(slug="gpt-5.1").update(is_active=False)
    catalog_snapshot_invalidate()
    assert 'data-filter-text="gpt-5.1 ' not in page(client, "dashboard:docs")


def test_docs_show_media_unit_prices(client, catalog):
    body = page(client, "dashboard:docs")
    row = body.split('data-filter-text="wan2.6-flash ', 1)[1].split("</tr>", 1)[0]
    assert "4 <span" in row and "per second" in row and ">20<" in row and "+5" in row


def test_branded_not_found_page(client, settings, db):
    settings.DEBUG = False
    response = client.get("/dashboard/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
