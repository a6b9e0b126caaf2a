"""Stripe top-ups against the local fake Stripe, through the real `stripe`
library and the real webhook endpoint."""

import json
import threading
import time

import pytest
from django.db import connections
from django.urls import reverse

from billing.models import CreditAccount, LedgerEntry, StripeEvent, TopUp, credits_to_micros
from billing.selectors import ledger_audit
from billing.services import InsufficientCredits, credit_account_ensure, hold_place, ledger_charge
from billing.topups import stripe_event_apply

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer(make_user):
    return make_user(email="buyer@example.com")


@pytest.fixture
def buyer_client(client, buyer):
    client.force_login(buyer)
    return client


def balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance_micros


def start_topup(client, dollars="25") -> TopUp:
    response = client.post(reverse("dashboard:topup"), {"amount": dollars})
    assert response.status_code == 302, response.content.decode()
    topup = TopUp.objects.latest("id")
    assert response["Location"] == topup.checkout_url
    return topup


def paid_topup(client, fake, webhook, dollars="25") -> TopUp:
    topup = start_topup(client, dollars)
    fake.pay(topup.stripe_checkout_session_id)
    [response] = webhook.flush()
    assert response.status_code == 200
    topup.refresh_from_db()
    return topup


# --- Not configured ----------------------------------------------------------------


def test_without_stripe_keys_the_page_says_top_ups_are_not_configured(buyer_client, settings):
    settings.STRIPE_SECRET_KEY = ""
    page = buyer_client.get(reverse("dashboard:topup"))
    assert page.status_code == 200
    assert "Top-ups are not configured on this server." in page.content.decode()
    response = buyer_client.post(reverse("dashboard:topup"), {"amount": "10"})
    assert response.status_code == 503
    assert not TopUp.objects.exists()


def test_webhook_without_a_secret_refuses_everything(client, settings, fake_stripe, buyer):
    settings.STRIPE_WEBHOOK_SECRET = ""
    payload = json.dumps(fake_stripe.event("checkout.session.completed", {"id": "cs_x"}))
    response = client.post(
        "/billing/stripe/webhook/",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=fake_stripe.sign(payload),
    )
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


# --- Starting a checkout -------------------------------------------------------------


def test_top_up_creates_a_pending_row_then_a_checkout_session(buyer_client, buyer, stripe_on):
    topup = start_topup(buyer_client, "25")
    assert topup.status == TopUp.Status.PENDING and topup.user == buyer
    assert topup.amount_cents == 2500 and topup.credits_micros == credits_to_micros(2500)
    assert not topup.credited
    [call] = [r for r in stripe_on.requests if r["path"] == "/v1/checkout/sessions"]
    params = call["params"]
    assert params["mode"] == "payment"
    assert params["client_reference_id"] == str(topup.pk)
    assert params["line_items"] == [
        {
            "quantity": "1",
            "price_data": {
                "currency": "usd",
                "unit_amount": "2500",
                "product_data": {
                    "name": "2,500 Hypereal credits",
                    "description": "Prepaid API credits (100 credits = $1).",
                },
            },
        }
    ]
    assert params["metadata"] == {"topup_id": str(topup.pk), "user_id": str(buyer.pk)}
    assert params["success_url"].endswith(
        f"/dashboard/topup/success/?topup={topup.pk}&session_id={{CHECKOUT_SESSION_ID}}"
    )
    assert params["cancel_url"].endswith(f"/dashboard/topup/cancel/?topup={topup.pk}")
    assert call["idempotency_key"] == f"hypereal-topup-{topup.pk}-checkout"
    assert topup.stripe_checkout_session_id in stripe_on.sessions
    assert balance(buyer) == 0  # nothing credited before Stripe confirms


@pytest.mark.parametrize("dollars,message", [("1.99", "minimum top-up is $2.00"), ("0", "minimum"), ("abc", "number")])
def test_amounts_below_the_minimum_are_refused_before_stripe(buyer_client, stripe_on, dollars, message):
    response = buyer_client.post(reverse("dashboard:topup"), {"amount": dollars})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not TopUp.objects.exists() and not stripe_on.requests


def test_minimum_two_dollars_is_accepted(buyer_client, stripe_on):
    assert start_topup(buyer_client, "2").amount_cents == 200


def test_a_stripe_error_is_shown_and_nothing_is_charged(buyer_client, stripe_on):
    stripe_on.fail_next = [400]
    response = buyer_client.post(reverse("dashboard:topup"), {"amount": "10"})
    assert response.status_code == 502
    assert "Stripe could not start the checkout" in response.content.decode()
    topup = TopUp.objects.get()
    assert topup.status == TopUp.Status.FAILED and "Simulated Stripe failure" in topup.failure_reason


def test_top_ups_are_rate_limited(buyer_client, stripe_on, settings):
    settings.PORTAL_RATE_LIMITS = {**settings.PORTAL_RATE_LIMITS, "topup_user": "2/h"}
    start_topup(buyer_client)
    start_topup(buyer_client)
    assert buyer_client.post(reverse("dashboard:topup"), {"amount": "5"}).status_code == 429
    assert TopUp.objects.count() == 2


# --- Return pages never credit ------------------------------------------------------------


def test_success_page_never_credits(buyer_client, buyer, stripe_on):
    topup = start_topup(buyer_client)
    stripe_on.pay(topup.stripe_checkout_session_id)  # paid, but the webhook has not arrived
    url = reverse("dashboard:topup_success") + f"?topup={topup.pk}&session_id={topup.stripe_checkout_session_id}"
    body = buyer_client.get(url).content.decode()
    assert "Confirming your payment" in body
    assert f'data-poll-url="/dashboard/topup/{topup.pk}/status/"' in body
    assert balance(buyer) == 0
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PENDING
    status = buyer_client.get(reverse("dashboard:topup_status", args=[topup.pk])).json()
    assert status == {"id": topup.pk, "state": "pending", "credited": False}


def test_cancel_page_says_nothing_was_charged(buyer_client, stripe_on):
    topup = start_topup(buyer_client)
    body = buyer_client.get(reverse("dashboard:topup_cancel") + f"?topup={topup.pk}").content.decode()
    assert "Checkout canceled" in body and "Nothing was charged" in body and topup.checkout_url in body


def test_return_pages_and_status_are_private(client, make_user, stripe_on):
    owner, other = make_user(), make_user()
    client.force_login(owner)
    topup = start_topup(client)
    client.force_login(other)
    assert client.get(reverse("dashboard:topup_success") + f"?topup={topup.pk}").status_code == 302
    assert client.get(reverse("dashboard:topup_cancel") + f"?topup={topup.pk}").status_code == 302
    assert client.get(reverse("dashboard:topup_status", args=[topup.pk])).status_code == 404


# --- The webhook credits, once ----------------------------------------------------------------


def test_completed_checkout_credits_once_and_stores_the_receipt(buyer_client, buyer, stripe_on, webhook):
    topup = paid_topup(buyer_client, stripe_on, webhook, "25")
    assert topup.status == TopUp.Status.PAID and topup.paid_at
    assert balance(buyer) == credits_to_micros(2500)
    entry = topup.ledger_entry
    assert entry.kind == "topup" and entry.reference == f"stripe:topup:{topup.pk}"
    assert entry.amount_micros == credits_to_micros(2500)
    event = StripeEvent.objects.get(type="checkout.session.completed")
    assert event.topup == topup and event.outcome == "credited"
    assert entry.metadata["stripe_event_id"] == event.event_id
    # The receipt link comes from the PaymentIntent's charge.
    charge_id = stripe_on.intents[topup.stripe_payment_intent_id]["latest_charge"]
    assert topup.stripe_charge_id == charge_id
    assert topup.receipt_url == f"{stripe_on.base_url}/receipts/{charge_id}"
    body = buyer_client.get(reverse("dashboard:topup_success") + f"?topup={topup.pk}").content.decode()
    assert "Credits added" in body and topup.receipt_url in body
    assert ledger_audit().clean


def test_replayed_events_change_nothing(buyer_client, buyer, stripe_on, webhook):
    topup = start_topup(buyer_client)
    stripe_on.pay(topup.stripe_checkout_session_id)
    [event] = stripe_on.take_outbox()
    assert webhook(event).content == b"credited\n"
    for _ in range(3):
        response = webhook(event)
        assert response.status_code == 200 and response.content == b"duplicate\n"
    # The same payment confirmed by a different event (async success) is not
    # a second credit either.
    session = stripe_on.sessions[topup.stripe_checkout_session_id]
    again = stripe_on.event("checkout.session.async_payment_succeeded", session)
    assert webhook(again).content == b"already credited\n"
    assert LedgerEntry.objects.filter(kind="topup").count() == 1
    assert balance(buyer) == credits_to_micros(2500)
    assert StripeEvent.objects.count() == 2


def test_concurrent_deliveries_of_one_event_credit_once(transactional_db, make_user, stripe_on, client):
    buyer = make_user()
    client.force_login(buyer)
    topup = start_topup(client)
    stripe_on.pay(topup.stripe_checkout_session_id)
    [event] = stripe_on.take_outbox()
    results, barrier = [], threading.Barrier(4)

    def deliver():
        barrier.wait()
        try:
            results.append(stripe_event_apply(event=event).outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["credited", "duplicate", "duplicate", "duplicate"]
    assert LedgerEntry.objects.filter(kind="topup").count() == 1
    assert balance(buyer) == credits_to_micros(2500)


@pytest.mark.parametrize(
    "tamper",
    ["wrong-secret", "changed-body", "no-header", "old-timestamp", "garbage-header"],
)
def test_bad_signatures_get_400_and_change_nothing(buyer_client, buyer, stripe_on, webhook, tamper):
    topup = start_topup(buyer_client)
    stripe_on.pay(topup.stripe_checkout_session_id)
    [event] = stripe_on.take_outbox()
    payload = json.dumps(event)
    if tamper == "wrong-secret":
        response = webhook(payload=payload, secret="whsec_not_ours")
    elif tamper == "changed-body":
        signature = stripe_on.sign(payload)
        forged = json.loads(payload)
        forged["data"]["object"]["amount_total"] = 999999
        response = webhook(payload=json.dumps(forged), signature=signature)
    elif tamper == "no-header":
        response = webhook(payload=payload, signature="")
    elif tamper == "old-timestamp":
        response = webhook(payload=payload, signature=stripe_on.sign(payload, timestamp=int(time.time()) - 3600))
    else:
        response = webhook(payload=payload, signature="t=abc,v1=zzz")
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()
    assert balance(buyer) == 0
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PENDING
    # The genuine delivery still works afterwards.
    assert webhook(event).status_code == 200
    assert balance(buyer) == credits_to_micros(2500)


def test_signed_garbage_is_a_400(stripe_on, webhook, db):
    assert webhook(payload="not json").status_code == 400
    assert webhook(payload=json.dumps({"hello": "world"})).status_code == 400
    assert not StripeEvent.objects.exists()


def test_unknown_events_and_foreign_sessions_get_200_and_are_recorded(stripe_on, webhook, db):
    response = webhook(stripe_on.event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert response.status_code == 200 and b"not handled" in response.content
    foreign = {"id": "cs_other", "object": "checkout.session", "client_reference_id": None, "payment_status": "paid"}
    response = webhook(stripe_on.event("checkout.session.completed", foreign))
    assert response.status_code == 200 and b"not a Hypereal top-up" in response.content
    assert StripeEvent.objects.count() == 2
    assert not LedgerEntry.objects.exists()


def test_a_session_for_another_top_up_id_is_not_credited(buyer_client, buyer, stripe_on, webhook):
    mine = start_topup(buyer_client)
    other = start_topup(buyer_client, "50")
    stripe_on.pay(mine.stripe_checkout_session_id)
    [event] = stripe_on.take_outbox()
    # Someone re-points a paid $25 session at the $50 top-up: the ids differ.
    event["data"]["object"]["client_reference_id"] = str(other.pk)
    event["data"]["object"]["metadata"]["topup_id"] = str(other.pk)
    assert b"not a Hypereal top-up" in webhook(event).content
    assert balance(buyer) == 0


def test_an_amount_mismatch_is_not_credited(buyer_client, buyer, stripe_on, webhook):
    topup = start_topup(buyer_client)
    stripe_on.pay(topup.stripe_checkout_session_id)
    [event] = stripe_on.take_outbox()
    event["data"]["object"]["amount_total"] = 100
    assert webhook(event).content == b"amount mismatch: not credited\n"
    assert balance(buyer) == 0
    topup.refresh_from_db()
    assert "needs review" in topup.failure_reason


# --- Delayed payments, failures, expiry -----------------------------------------------------------


def test_delayed_payment_credits_only_when_it_succeeds(buyer_client, buyer, stripe_on, webhook):
    topup = start_topup(buyer_client)
    session_id = topup.stripe_checkout_session_id
    stripe_on.pay(session_id, delayed=True)
    assert webhook.flush()[0].content == b"waiting for a delayed payment\n"
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PROCESSING and balance(buyer) == 0
    assert (
        "Payment processing"
        in buyer_client.get(reverse("dashboard:topup_success") + f"?topup={topup.pk}").content.decode()
    )
    stripe_on.settle_delayed(session_id, succeeded=True)
    assert webhook.flush()[0].content == b"credited\n"
    assert balance(buyer) == credits_to_micros(2500)


def test_failed_delayed_payment_credits_nothing(buyer_client, buyer, stripe_on, webhook):
    topup = start_topup(buyer_client)
    stripe_on.pay(topup.stripe_checkout_session_id, delayed=True)
    stripe_on.settle_delayed(topup.stripe_checkout_session_id, succeeded=False)
    outcomes = [r.content for r in webhook.flush()]
    assert outcomes == [b"waiting for a delayed payment\n", b"payment failed\n"]
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED and balance(buyer) == 0
    body = buyer_client.get(reverse("dashboard:topup_success") + f"?topup={topup.pk}").content.decode()
    assert "did not go through" in body


def test_expired_checkout(buyer_client, buyer, stripe_on, webhook):
    topup = start_topup(buyer_client)
    stripe_on.expire(topup.stripe_checkout_session_id)
    assert webhook.flush()[0].content == b"expired\n"
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.EXPIRED


def test_expiry_arriving_after_payment_is_ignored(buyer_client, buyer, stripe_on, webhook):
    topup = paid_topup(buyer_client, stripe_on, webhook)
    session = dict(stripe_on.sessions[topup.stripe_checkout_session_id], status="expired")
    assert b"ignored" in webhook(stripe_on.event("checkout.session.expired", session)).content
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PAID and balance(buyer) == credits_to_micros(2500)


# --- Refunds and disputes take credits back ------------------------------------------------------


def test_refund_in_stripe_dashboard_reverses_credits_and_can_go_negative(buyer_client, buyer, stripe_on, webhook):
    topup = paid_topup(buyer_client, stripe_on, webhook, "25")
    account = credit_account_ensure(user=buyer)
    ledger_charge(account_id=account.pk, amount_micros=credits_to_micros(1000), reference="spent")
    stripe_on.refund_in_dashboard(topup.stripe_charge_id)
    [response] = webhook.flush()
    assert response.content == b"reversed 2500 credits\n"
    assert balance(buyer) == credits_to_micros(-1000)
    reversal = LedgerEntry.objects.get(kind="reversal")
    assert reversal.refund_of == topup.ledger_entry and "refunded" in reversal.description
    # A negative balance blocks API calls (no hold can be placed) until a top-up.
    with pytest.raises(InsufficientCredits):
        hold_place(account_id=account.pk, amount_micros=1, reference="next-call")
    assert "Your balance is negative" in buyer_client.get(reverse("dashboard:overview")).content.decode()
    assert ledger_audit().clean


def test_partial_refunds_follow_stripes_running_total_in_any_order(buyer_client, buyer, stripe_on, webhook):
    topup = paid_topup(buyer_client, stripe_on, webhook, "25")
    stripe_on.refund_in_dashboard(topup.stripe_charge_id, 500)
    stripe_on.refund_in_dashboard(topup.stripe_charge_id, 700)
    first, second = stripe_on.take_outbox()
    assert first["data"]["object"]["amount_refunded"] == 500
    assert second["data"]["object"]["amount_refunded"] == 1200
    # Out of order: the later total first, then the older one, then replays.
    assert webhook(second).content == b"reversed 1200 credits\n"
    assert webhook(first).content == b"nothing left to reverse\n"
    assert webhook(second).content == b"duplicate\n"
    assert balance(buyer) == credits_to_micros(2500 - 1200)
    topup.refresh_from_db()
    assert topup.refunded_cents == 1200


def test_dispute_reverses_the_disputed_amount_once(buyer_client, buyer, stripe_on, webhook):
    topup = paid_topup(buyer_client, stripe_on, webhook, "25")
    stripe_on.dispute(topup.stripe_charge_id)
    [event] = stripe_on.take_outbox()
    assert webhook(event).content == b"reversed 2500 credits\n"
    assert webhook(event).content == b"duplicate\n"
    assert balance(buyer) == 0
    # A refund after a full dispute cannot take back more than was credited.
    stripe_on.refund_in_dashboard(topup.stripe_charge_id, 300)
    assert webhook.flush()[0].content == b"nothing left to reverse\n"
    assert LedgerEntry.objects.filter(kind="reversal").count() == 1
    assert ledger_audit().clean


def test_refund_event_before_the_completed_event(buyer_client, buyer, stripe_on, webhook):
    """charge.refunded overtakes checkout.session.completed: the top-up is
    found through Stripe (sessions by payment_intent) and the refund is
    applied when the payment is credited."""
    topup = start_topup(buyer_client)
    stripe_on.pay(topup.stripe_checkout_session_id)
    completed = stripe_on.take_outbox()[0]
    charge_id = stripe_on.intents[stripe_on.sessions[topup.stripe_checkout_session_id]["payment_intent"]][
        "latest_charge"
    ]
    stripe_on.refund_in_dashboard(charge_id, 1000)
    refunded = stripe_on.take_outbox()[0]
    assert webhook(refunded).content == b"refund recorded; reversed when the payment is credited\n"
    assert balance(buyer) == 0
    assert webhook(completed).content == b"credited\n"
    assert balance(buyer) == credits_to_micros(1500)
    assert [e.kind for e in LedgerEntry.objects.order_by("id")] == ["topup", "reversal"]
    assert ledger_audit().clean


def test_charge_events_for_payments_that_are_not_top_ups_are_ignored(stripe_on, webhook, db):
    charge = {"id": "ch_x", "object": "charge", "payment_intent": "pi_unknown", "amount_refunded": 100}
    response = webhook(stripe_on.event("charge.refunded", charge))
    assert response.status_code == 200 and b"not a Hypereal top-up" in response.content
