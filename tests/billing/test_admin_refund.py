"""Staff refund a top-up from the admin: a Stripe refund through the API
plus the ledger reversal, recorded with who and why."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from billing.models import CreditAccount, LedgerEntry, TopUp, TopUpRefund, credits_to_micros
from billing.selectors import ledger_audit
from billing.services import credit_account_ensure, ledger_charge

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(make_user, stripe_on, webhook):
    customer = make_user(email="customer@example.com")
    client = Client()
    client.force_login(customer)
    client.post(reverse("dashboard:topup"), {"amount": "30"})
    topup = TopUp.objects.get()
    stripe_on.pay(topup.stripe_checkout_session_id)
    assert webhook.flush()[0].content == b"credited\n"
    topup.refresh_from_db()
    return topup


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def refund(staff_client, topup, *, amount="", reason="Customer asked for a refund"):
    response = staff_client.post(
        reverse("admin:billing_topup_changelist"),
        {
            "action": "refund_through_stripe",
            "_selected_action": [topup.pk],
            "apply": "1",
            "amount": amount,
            "reason": reason,
        },
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)]


def balance(topup) -> int:
    return CreditAccount.objects.get(pk=topup.account_id).balance_micros


def test_the_refund_form_asks_for_amount_and_reason(staff_client, paid):
    response = staff_client.post(
        reverse("admin:billing_topup_changelist"), {"action": "refund_through_stripe", "_selected_action": [paid.pk]}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Refund through Stripe" in body and 'name="reason"' in body and 'name="amount"' in body
    assert not TopUpRefund.objects.exists()


def test_full_refund_refunds_the_card_and_reverses_the_credits(staff_client, staff, paid, stripe_on, webhook):
    messages = refund(staff_client, paid, reason="Duplicate purchase")
    assert (
        len(messages) == 1
        and "refunded $30.00 through Stripe" in messages[0]
        and "3000 credits reversed" in messages[0]
    )
    # Stripe: a refund of the payment, with an idempotency key.
    [call] = [r for r in stripe_on.requests if r["path"] == "/v1/refunds"]
    assert call["params"]["payment_intent"] == paid.stripe_payment_intent_id
    assert call["params"]["amount"] == "3000"
    assert call["params"]["metadata"]["staff"] == staff.email
    assert call["idempotency_key"] == f"hypereal-topup-{paid.pk}-refund-0-3000"
    # Us: who and why, on the refund record and on the ledger reversal.
    record = TopUpRefund.objects.get()
    assert record.created_by == staff and record.reason == "Duplicate purchase" and record.amount_cents == 3000
    reversal = record.ledger_entry
    assert reversal.kind == "reversal" and reversal.amount_micros == credits_to_micros(-3000)
    assert reversal.created_by == staff and "Duplicate purchase" in reversal.description
    assert reversal.refund_of == paid.ledger_entry
    assert balance(paid) == 0
    # Stripe's charge.refunded webhook for the same refund takes nothing more.
    [response] = webhook.flush()
    assert response.content == b"nothing left to reverse\n"
    assert LedgerEntry.objects.filter(kind="reversal").count() == 1
    paid.refresh_from_db()
    assert paid.refunded_cents == 3000
    assert ledger_audit().clean


def test_refund_after_the_credits_were_spent_goes_negative(staff_client, paid):
    ledger_charge(account_id=paid.account_id, amount_micros=credits_to_micros(2000), reference="spent")
    refund(staff_client, paid)
    assert balance(paid) == credits_to_micros(-2000)


def test_partial_refunds_and_the_limit(staff_client, paid, stripe_on, webhook):
    refund(staff_client, paid, amount="10")
    refund(staff_client, paid, amount="5.50")
    assert balance(paid) == credits_to_micros(3000 - 1550)
    messages = refund(staff_client, paid, amount="20")
    assert "at most $14.50 of this top-up can still be refunded" in messages[0]
    assert TopUpRefund.objects.count() == 2
    assert len([r for r in stripe_on.requests if r["path"] == "/v1/refunds"]) == 2
    # Both webhooks arrive afterwards (in reverse order): nothing changes.
    for event in reversed(stripe_on.take_outbox()):
        assert webhook(event).status_code == 200
    assert balance(paid) == credits_to_micros(3000 - 1550)
    # The rest, with the amount left empty.
    refund(staff_client, paid)
    assert balance(paid) == 0
    assert TopUpRefund.objects.order_by("created_at").last().amount_cents == 1450


def test_when_stripes_charge_total_is_unavailable_the_webhook_reverses(staff_client, paid, stripe_on, webhook):
    stripe_on.fail_on["GET /v1/charges/"] = 404
    messages = refund(staff_client, paid, amount="12")
    assert "reversed when Stripe's charge.refunded webhook arrives" in messages[0]
    record = TopUpRefund.objects.get()
    assert record.ledger_entry is None and balance(paid) == credits_to_micros(3000)
    [response] = webhook.flush()
    assert response.content == b"reversed 1200 credits\n"
    assert balance(paid) == credits_to_micros(1800)


def test_unpaid_top_ups_and_missing_reasons_are_refused(staff_client, paid, stripe_on, client, make_user):
    pending = TopUp.objects.create(
        user=paid.user,
        account=credit_account_ensure(user=paid.user),
        amount_cents=500,
        credits_micros=credits_to_micros(500),
    )
    messages = refund(staff_client, pending)
    assert "only paid top-ups can be refunded" in messages[0]
    response = staff_client.post(
        reverse("admin:billing_topup_changelist"),
        {"action": "refund_through_stripe", "_selected_action": [paid.pk], "apply": "1", "amount": "", "reason": ""},
    )
    assert "This field is required" in response.content.decode()
    assert not [r for r in stripe_on.requests if r["path"] == "/v1/refunds"]
    assert balance(paid) == credits_to_micros(3000)


def test_top_up_admin_pages(staff_client, paid):
    assert staff_client.get(reverse("admin:billing_topup_changelist")).status_code == 200
    page = staff_client.get(reverse("admin:billing_topup_change", args=[paid.pk]))
    assert page.status_code == 200 and "checkout.session.completed" in page.content.decode()
    assert staff_client.get(reverse("admin:billing_stripeevent_changelist")).status_code == 200


def test_customers_cannot_reach_the_refund(client, paid):
    client.force_login(paid.user)
    response = client.post(
        reverse("admin:billing_topup_changelist"),
        {"action": "refund_through_stripe", "_selected_action": [paid.pk], "apply": "1", "reason": "free money"},
    )
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not TopUpRefund.objects.exists()
