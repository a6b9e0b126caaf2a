from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey
from accounts.selectors import api_key_authenticate
from accounts.services import api_key_mint

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(make_user):
    return make_user(email="owner@example.com")


@pytest.fixture
def owner_client(client, owner, catalog):
    client.force_login(owner)
    return client


def create(client, **fields):
    data = {"name": "prod", "expiry": "never", "spend_limit_period": "month", **fields}
    return client.post(reverse("dashboard:keys"), data)


def test_manage_api_keys_path_from_the_docs_leads_to_the_keys_page(owner_client):
    for path in ("/manage-api-keys", "/manage-api-keys/"):
        response = owner_client.get(path, follow=True)
        assert response.redirect_chain[-1][0] == reverse("dashboard:keys")
        assert response.status_code == 200


def test_empty_keys_page_opens_the_create_form(owner_client):
    body = owner_client.get(reverse("dashboard:keys")).content.decode()
    assert "No keys yet" in body
    assert 'id="create" open' in body
    # The allowlist offers the live catalog's models.
    assert 'value="claude-sonnet-4-6"' in body and 'value="gpt-5.5"' in body


def test_create_key_shows_it_once(owner_client, owner):
    response = create(owner_client, name="laptop")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") and "no-store" in response["Cache-Control"]
    raw_key = response.context["minted"].raw_key
    body = response.content.decode()
    assert raw_key.startswith("ck_") and raw_key in body
    assert "won't be able to see it again" in body
    key = ApiKey.objects.get(user=owner)
    assert key.name == "laptop" and key.expires_at is None and key.allowed_models == []
    assert api_key_authenticate(raw_key=raw_key).key_id == key.pk
    # Never shown again: the list has only prefix and last four.
    again = owner_client.get(reverse("dashboard:keys")).content.decode()
    assert raw_key not in again
    assert f"{key.prefix}…{key.last_four}" in again


def test_create_key_with_expiry_spend_limit_and_allowlist(owner_client, owner):
    response = create(
        owner_client,
        name="ci",
        expiry="30",
        spend_limit_credits="250.5",
        spend_limit_period="day",
        allowed_models=["gpt-5.5", "claude-sonnet-4-6"],
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(user=owner)
    assert timedelta(days=29, hours=23) < key.expires_at - timezone.now() <= timedelta(days=30)
    assert key.spend_limit_micros == 250_500_000 and key.spend_limit_period == "day"
    assert key.allowed_models == ["claude-sonnet-4-6", "gpt-5.5"]
    principal = api_key_authenticate(raw_key=response.context["minted"].raw_key)
    assert principal.allows_model("gpt-5.5") and not principal.allows_model("gpt-5")
    body = owner_client.get(reverse("dashboard:keys")).content.decode()
    assert "250.50 cr per day" in body and "2 models allowed" in body


def test_create_key_expiring_on_a_date(owner_client, owner):
    day = (timezone.now() + timedelta(days=10)).date()
    assert create(owner_client, expiry="date", expires_on=day.isoformat()).status_code == 200
    key = ApiKey.objects.get(user=owner)
    assert key.expires_at.date() == day and key.expires_at.hour == 0


@pytest.mark.parametrize(
    "fields,field,message",
    [
        ({"name": "  "}, "name", "Give the key a name"),
        ({"expiry": "date"}, "expires_on", "Pick the day"),
        ({"expiry": "date", "expires_on": "2001-01-01"}, "expires_on", "in the future"),
        ({"spend_limit_credits": "-5"}, "spend_limit_credits", "greater than or equal to 0"),
        ({"spend_limit_credits": "0"}, "spend_limit_credits", "positive amount"),
        ({"allowed_models": ["no-such-model"]}, "allowed_models", "not one of the available choices"),
        ({"expiry": "forever"}, "expiry", "not one of the available choices"),
    ],
)
def test_create_key_rejects_bad_input_and_creates_nothing(owner_client, fields, field, message):
    response = create(owner_client, **fields)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not ApiKey.objects.exists()
    assert response.context["minted"] is None


def test_key_minting_is_rate_limited_per_user(owner_client, settings):
    settings.PORTAL_RATE_LIMITS = {**settings.PORTAL_RATE_LIMITS, "key_mint_user": "2/h"}
    assert create(owner_client, name="a").status_code == 200
    assert create(owner_client, name="b").status_code == 200
    response = create(owner_client, name="c")
    assert response.status_code == 429
    assert "many keys in the last hour" in response.content.decode()
    assert ApiKey.objects.count() == 2


def test_revoke_asks_for_confirmation_then_revokes(owner_client, owner):
    minted = api_key_mint(user=owner, name="old")
    url = reverse("dashboard:key_revoke", args=[minted.api_key.pk])
    page = owner_client.get(url)
    assert page.status_code == 200
    assert "Revoke “old”?" in page.content.decode()
    assert api_key_authenticate(raw_key=minted.raw_key) is not None  # cached now
    response = owner_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard:keys")
    assert "now get 401" in response.content.decode()
    minted.api_key.refresh_from_db()
    assert minted.api_key.status == "revoked"
    # Revocation clears the cached authentication at once.
    assert api_key_authenticate(raw_key=minted.raw_key) is None
    assert "Revoked" in response.content.decode()


def test_revoke_needs_post(owner_client, owner):
    minted = api_key_mint(user=owner)
    owner_client.get(reverse("dashboard:key_revoke", args=[minted.api_key.pk]))
    minted.api_key.refresh_from_db()
    assert minted.api_key.revoked_at is None


def test_expired_and_revoked_keys_are_labelled(owner_client, owner):
    api_key_mint(user=owner, name="old", expires_at=timezone.now() - timedelta(days=1))
    gone = api_key_mint(user=owner, name="gone").api_key
    owner_client.post(reverse("dashboard:key_revoke", args=[gone.pk]))
    body = owner_client.get(reverse("dashboard:keys")).content.decode()
    assert '<span class="badge warn">Expired</span>' in body
    assert '<span class="badge bad">Revoked</span>' in body


def test_reposting_the_same_form_does_not_mint_a_second_key(owner_client, owner):
    first = create(owner_client, name="once", form_nonce="nonce-1")
    assert first.status_code == 200 and first.context["minted"]
    again = create(owner_client, name="once", form_nonce="nonce-1")  # a reload re-posts the form
    assert again.status_code == 302 and again["Location"] == reverse("dashboard:keys")
    assert ApiKey.objects.filter(user=owner).count() == 1
    assert "already submitted" in owner_client.get(reverse("dashboard:keys")).content.decode()
    # A fresh form (new nonce) creates another key.
    assert create(owner_client, name="twice", form_nonce="nonce-2").context["minted"]
    assert ApiKey.objects.filter(user=owner).count() == 2
