"""One user can never see or touch another user's keys, usage, ledger or
top-ups: every page, export and action is scoped to the signed-in user."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey
from accounts.selectors import api_key_authenticate
from accounts.services import api_key_mint
from billing.models import TopUp, credits_to_micros
from billing.services import credit_account_ensure, ledger_charge
from gateway.models import UsageRecord
from media_jobs.models import MediaJob, WebhookDelivery, WebhookSecret
from media_jobs.webhooks import webhook_secret_get_or_create

pytestmark = pytest.mark.django_db

PAGES = ["overview", "keys", "topup", "billing", "usage", "usage_csv", "jobs"]


@pytest.fixture
def victim(make_user, catalog):
    user = make_user(email="victim@example.com", credits=777)
    minted = api_key_mint(user=user, name="victim-secret-key-name", allowed_models=["gpt-5.5"])
    account = credit_account_ensure(user=user)
    ledger_charge(
        account_id=account.pk, amount_micros=credits_to_micros(3), reference="req_victim", description="victim-charge"
    )
    UsageRecord.objects.create(
        request_id="req_victim",
        user=user,
        api_key=minted.api_key,
        endpoint="chat_completions",
        model_requested="victim-model",
        model_served="victim-model",
        cost_micros=credits_to_micros(3),
    )
    topup = TopUp.objects.create(
        user=user,
        account=account,
        amount_cents=4321,
        credits_micros=credits_to_micros(4321),
        checkout_url="https://checkout.example/victim",
        receipt_url="https://receipts.example/victim",
    )
    job = MediaJob.objects.create(
        user=user,
        type="video",
        endpoint="videos_generate",
        operation="text_to_video",
        model="victim-video-model",
        webhook_url="https://victim-hooks.example/",
        deadline_at=timezone.now() + timedelta(hours=1),
    )
    WebhookDelivery.objects.create(job=job, event="completed", url=job.webhook_url, payload={})
    secret = webhook_secret_get_or_create(user=user).secret
    return {"user": user, "minted": minted, "topup": topup, "job": job, "secret": secret}


@pytest.fixture
def intruder_client(client, make_user):
    intruder = make_user(email="intruder@example.com", credits=5)
    api_key_mint(user=intruder, name="mine")
    client.force_login(intruder)
    return client


VICTIM_MARKERS = [
    "victim-secret-key-name",
    "victim-model",
    "victim-charge",
    "req_victim",
    "777.00",
    "$43.21",
    "https://receipts.example/victim",
    "https://checkout.example/victim",
    "victim-video-model",
    "https://victim-hooks.example/",
]


@pytest.mark.parametrize("name", PAGES)
def test_no_page_shows_another_users_data(intruder_client, victim, name):
    response = intruder_client.get(reverse(f"dashboard:{name}"), {"start": "2000-01-01"})
    assert response.status_code == 200
    body = response.content.decode()
    key = victim["minted"].api_key
    assert key.masked not in body and f"{key.prefix}…" not in body
    for marker in [*VICTIM_MARKERS, victim["job"].public_id, victim["secret"]]:
        assert marker not in body, marker


def test_usage_filters_cannot_reach_another_users_rows(intruder_client, victim):
    key_id = victim["minted"].api_key.pk
    for query in ({"key": key_id}, {"model": "victim-model"}, {"start": "2000-01-01"}):
        body = intruder_client.get(reverse("dashboard:usage"), query).content.decode()
        assert 'data-testid="total-requests">0<' in body
        csv_body = intruder_client.get(reverse("dashboard:usage_csv"), query).content.decode()
        assert csv_body.count("\n") == 1 and "victim" not in csv_body


def test_cannot_revoke_another_users_key(intruder_client, victim):
    key = victim["minted"].api_key
    url = reverse("dashboard:key_revoke", args=[key.pk])
    assert intruder_client.get(url).status_code == 404
    assert intruder_client.post(url).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert api_key_authenticate(raw_key=victim["minted"].raw_key) is not None


def test_minting_creates_keys_only_for_the_signed_in_user(intruder_client, victim):
    intruder_client.post(
        reverse("dashboard:keys"),
        {"name": "sneaky", "expiry": "never", "spend_limit_period": "month", "user": victim["user"].pk},
    )
    assert not ApiKey.objects.filter(user=victim["user"], name="sneaky").exists()
    assert ApiKey.objects.filter(user__email="intruder@example.com", name="sneaky").exists()


def test_cannot_read_another_users_top_up(intruder_client, victim):
    topup = victim["topup"]
    assert intruder_client.get(reverse("dashboard:topup_status", args=[topup.pk])).status_code == 404
    for name in ("dashboard:topup_success", "dashboard:topup_cancel"):
        response = intruder_client.get(reverse(name) + f"?topup={topup.pk}")
        assert response.status_code == 302 and response["Location"] == reverse("dashboard:topup")


def test_jobs_live_state_and_secret_rotation_are_per_user(intruder_client, victim):
    assert intruder_client.get(reverse("dashboard:jobs_live")).json()["active"] is False
    intruder_client.post(reverse("dashboard:webhook_secret_rotate"))
    assert WebhookSecret.objects.get(user=victim["user"]).secret == victim["secret"]


def test_billing_history_pages_through_own_entries_only(intruder_client, victim):
    body = intruder_client.get(reverse("dashboard:billing") + "?kind=charge").content.decode()
    assert "Nothing here yet" in body
    body = intruder_client.get(reverse("dashboard:billing") + "?page=2").content.decode()
    assert "victim" not in body
