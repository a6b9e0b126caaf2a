import pytest
from django.urls import reverse

from accounts.models import ApiKey
from accounts.services import api_key_mint
from billing.models import CreditAccount, LedgerEntry
from billing.services import ledger_charge

pytestmark = pytest.mark.django_db

ADMIN_MODELS = [
    "accounts_user",
    "accounts_apikey",
    "billing_creditaccount",
    "billing_ledgerentry",
    "billing_hold",
    "catalog_aimodel",
    "catalog_modelprice",
    "catalog_modelalias",
    "catalog_provider",
    "catalog_route",
]


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.mark.parametrize("name", ADMIN_MODELS)
def test_staff_sees_every_changelist(staff_client, catalog, user, name):
    api_key_mint(user=user)
    response = staff_client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200


def test_staff_sees_change_pages(staff_client, catalog, user):
    from catalog.models import AiModel, Provider

    for url in [
        reverse("admin:catalog_aimodel_change", args=[AiModel.objects.get(slug="gpt-5").pk]),
        reverse("admin:catalog_provider_change", args=[Provider.objects.get(slug="sim-openai").pk]),
        reverse("admin:accounts_user_change", args=[user.pk]),
        reverse("admin:billing_ledgerentry_change", args=[LedgerEntry.objects.first().pk]),
    ]:
        response = staff_client.get(url)
        assert response.status_code == 200, url
    # The provider's key is never rendered.
    page = staff_client.get(
        reverse("admin:catalog_provider_change", args=[Provider.objects.get(slug="sim-openai").pk])
    ).content.decode()
    assert "sim-test-key" not in page


def test_non_staff_get_no_admin(client, user):
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    response = client.get(reverse("admin:billing_ledgerentry_changelist"))
    assert response.status_code == 302


def test_anonymous_get_no_admin(client):
    assert client.get(reverse("admin:index")).status_code == 302


def test_ledger_is_read_only_in_admin(staff_client, user):
    entry = LedgerEntry.objects.first()
    assert staff_client.get(reverse("admin:billing_ledgerentry_add")).status_code == 403
    response = staff_client.post(reverse("admin:billing_ledgerentry_delete", args=[entry.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_adjust_action_records_who_and_why(staff_client, staff, user):
    account = CreditAccount.objects.get(user=user)
    url = reverse("admin:billing_creditaccount_changelist")
    form = staff_client.post(url, {"action": "adjust_balance", "_selected_action": [account.pk]})
    assert form.status_code == 200 and b"reason" in form.content
    staff_client.post(
        url,
        {
            "action": "adjust_balance",
            "_selected_action": [account.pk],
            "apply": "1",
            "credits": "-12.5",
            "reason": "duplicate top-up",
        },
    )
    entry = LedgerEntry.objects.get(account=account, kind="adjustment")
    assert entry.amount_micros == -12_500_000
    assert entry.created_by == staff
    assert entry.description == "duplicate top-up"
    assert CreditAccount.objects.get(pk=account.pk).balance_micros == 987_500_000


def test_refund_action_refunds_once(staff_client, staff, user):
    account = CreditAccount.objects.get(user=user)
    charge = ledger_charge(account_id=account.pk, amount_micros=5_000_000, reference="req_admin")
    url = reverse("admin:billing_ledgerentry_changelist")
    data = {
        "action": "refund",
        "_selected_action": [charge.pk],
        "apply": "1",
        "credits": "",
        "reason": "bad output",
    }
    staff_client.post(url, data)
    staff_client.post(url, data)  # a second full refund is refused
    refunds = LedgerEntry.objects.filter(refund_of=charge)
    assert refunds.count() == 1
    assert refunds.get().created_by == staff
    assert CreditAccount.objects.get(pk=account.pk).balance_micros == 1000_000_000


def test_revoke_action(staff_client, user):
    minted = api_key_mint(user=user)
    staff_client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke", "_selected_action": [minted.api_key.pk]},
    )
    assert ApiKey.objects.get(pk=minted.api_key.pk).revoked_at is not None
