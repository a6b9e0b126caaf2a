"""Stripe top-ups: starting a Checkout, applying Stripe's webhook events and
staff refunds (writes; reads live in billing.selectors).

Money rules:
- Credits are added only by a verified webhook (checkout.session.completed
  with payment_status "paid", or checkout.session.async_payment_succeeded),
  once per top-up: the ledger reference is the top-up's, and the top-up row
  is locked while it is credited.
- Each event id is stored (StripeEvent, unique) in the same transaction as
  the ledger entry it causes, so a replayed event changes nothing.
- Refunds and disputes follow Stripe's totals, not event counts: the top-up
  keeps Stripe's cumulative amount refunded and each dispute's amount, and
  the ledger reversals are topped up to min(credited, refunded + disputed).
  Whatever order events arrive in, and whichever of the admin refund or
  Stripe's charge.refunded webhook is seen first, the result is the same.

Lock order everywhere: the top-up row, then (inside the ledger services)
the credit account row.
"""

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import MICROS_PER_CENT, LedgerEntry, StripeEvent, TopUp, TopUpRefund
from billing.services import RefundNotAllowed, credit_account_ensure, ledger_reverse, ledger_topup
from billing.stripe_api import stripe_client, stripe_configured

logger = logging.getLogger(__name__)

HANDLED_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    "charge.dispute.created",
)


class TopUpsNotConfigured(Exception):
    pass


class TopUpError(Exception):
    """Stripe refused or could not be reached; the message is for the customer."""


class InvalidTopUpAmount(ValueError):
    pass


def topup_reference(topup: TopUp) -> str:
    return f"stripe:topup:{topup.pk}"


def _dollars(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


# --- Starting a top-up -----------------------------------------------------------


def topup_start(*, user, amount_cents: int, success_url: str, cancel_url: str) -> TopUp:
    """Write the pending top-up, then create its Checkout Session.

    The row is committed before Stripe is called (never inside a
    transaction), so a session always has its row. The idempotency key makes
    a retried create return the same session instead of a second one."""
    if not stripe_configured():
        raise TopUpsNotConfigured
    if not isinstance(amount_cents, int) or not settings.TOPUP_MIN_CENTS <= amount_cents <= settings.TOPUP_MAX_CENTS:
        raise InvalidTopUpAmount(
            f"Top up between {_dollars(settings.TOPUP_MIN_CENTS)} and {_dollars(settings.TOPUP_MAX_CENTS)}."
        )
    account = credit_account_ensure(user=user)
    topup = TopUp.objects.create(
        user=user,
        account=account,
        amount_cents=amount_cents,
        currency="usd",
        credits_micros=amount_cents * MICROS_PER_CENT,
    )
    credits = amount_cents * MICROS_PER_CENT // 1_000_000
    params = {
        "mode": "payment",
        "client_reference_id": str(topup.pk),
        "customer_email": user.email,
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": amount_cents,
                    "product_data": {
                        "name": f"{credits:,} Hypereal credits",
                        "description": "Prepaid API credits (100 credits = $1).",
                    },
                },
            }
        ],
        "metadata": {"topup_id": str(topup.pk), "user_id": str(user.pk)},
        "payment_intent_data": {"metadata": {"topup_id": str(topup.pk), "user_id": str(user.pk)}},
        "success_url": f"{success_url}?topup={topup.pk}&session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{cancel_url}?topup={topup.pk}",
    }
    try:
        session = stripe_client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": f"hypereal-topup-{topup.pk}-checkout"}
        )
    except stripe.StripeError as exc:
        logger.warning("Stripe refused the checkout for top-up %s: %s", topup.pk, exc)
        TopUp.objects.filter(pk=topup.pk).update(
            status=TopUp.Status.FAILED, failure_reason=f"Checkout could not start: {exc.user_message or exc}"[:500]
        )
        raise TopUpError("Stripe could not start the checkout. Nothing was charged; try again in a moment.") from exc
    TopUp.objects.filter(pk=topup.pk).update(stripe_checkout_session_id=session.id, checkout_url=session.url or "")
    topup.refresh_from_db()
    return topup


# --- Webhook events --------------------------------------------------------------


@dataclass(frozen=True)
class EventResult:
    event_id: str
    type: str
    outcome: str
    duplicate: bool = False


def stripe_event_construct(*, payload: bytes, signature: str | None) -> dict:
    """Verify the Stripe-Signature header over the raw body, then parse it.
    Raises stripe.SignatureVerificationError or ValueError."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise stripe.SignatureVerificationError("No webhook secret is configured.", signature, payload)
    stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance=stripe.Webhook.DEFAULT_TOLERANCE)
    event = json.loads(payload)
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise ValueError("not a Stripe event")
    if not isinstance(event.get("data"), dict) or not isinstance(event["data"].get("object"), dict):
        raise ValueError("event without data.object")
    return event


def stripe_event_apply(*, event: dict) -> EventResult:
    """Apply one verified event exactly once."""
    event_id, event_type = str(event["id"]), str(event["type"])
    if StripeEvent.objects.filter(event_id=event_id).exists():
        return EventResult(event_id, event_type, "duplicate", duplicate=True)
    obj = event["data"]["object"]
    # Looking the top-up up may call Stripe: do it before taking any lock.
    topup_id = _topup_id_for_event(event_type, obj) if event_type in HANDLED_EVENTS else None
    try:
        with transaction.atomic():
            topup = None
            if topup_id is not None:
                topup = TopUp.objects.select_for_update().filter(pk=topup_id).first()
            if event_type not in HANDLED_EVENTS:
                outcome = "ignored: event type not handled"
            elif topup is None:
                outcome = "ignored: not a Hypereal top-up"
            else:
                outcome = _HANDLERS[event_type](topup=topup, obj=obj, event_id=event_id)
            StripeEvent.objects.create(
                event_id=event_id,
                type=event_type,
                topup=topup,
                outcome=outcome[:300],
                stripe_created=_from_timestamp(event.get("created")),
            )
    except IntegrityError:
        # A concurrent delivery of the same event committed first; this
        # transaction (and any ledger entry in it) was rolled back.
        if StripeEvent.objects.filter(event_id=event_id).exists():
            return EventResult(event_id, event_type, "duplicate", duplicate=True)
        raise
    if topup is not None and topup.credited and not topup.receipt_url:
        topup_receipt_fetch(topup=topup)
    return EventResult(event_id, event_type, outcome)


def _from_timestamp(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _topup_id_for_event(event_type: str, obj: dict) -> int | None:
    if event_type.startswith("checkout.session."):
        topup_id = _int(obj.get("client_reference_id"))
        metadata_id = _int((obj.get("metadata") or {}).get("topup_id"))
        if topup_id is None or (metadata_id is not None and metadata_id != topup_id):
            return None
        topup = TopUp.objects.filter(pk=topup_id).only("stripe_checkout_session_id").first()
        if topup is None or (topup.stripe_checkout_session_id not in (None, "", obj.get("id"))):
            return None
        return topup.pk
    payment_intent = obj.get("payment_intent")
    # charge.refunded carries the charge; charge.dispute.created a dispute
    # that names its charge.
    charge_id = obj.get("id") if event_type == "charge.refunded" else obj.get("charge")
    found = None
    if payment_intent:
        found = TopUp.objects.filter(stripe_payment_intent_id=payment_intent).values_list("pk", flat=True).first()
    if found is None and charge_id:
        found = TopUp.objects.filter(stripe_charge_id=charge_id).values_list("pk", flat=True).first()
    if found is None and payment_intent:
        # The charge event beat checkout.session.completed: ask Stripe which
        # Checkout Session the payment belongs to. A Stripe error raises, so
        # the webhook answers 500 and Stripe delivers the event again later.
        sessions = stripe_client().v1.checkout.sessions.list(params={"payment_intent": payment_intent, "limit": 1})
        for session in sessions.data:
            candidate = _int(session.client_reference_id)
            if (
                candidate is not None
                and TopUp.objects.filter(pk=candidate, stripe_checkout_session_id__in=[session.id, None]).exists()
            ):
                found = candidate
    return found


def _attach_session(topup: TopUp, session: dict) -> None:
    if not topup.stripe_checkout_session_id:
        topup.stripe_checkout_session_id = session.get("id")
    if session.get("payment_intent") and not topup.stripe_payment_intent_id:
        topup.stripe_payment_intent_id = str(session["payment_intent"])


def _credit(*, topup: TopUp, session: dict, event_id: str) -> str:
    _attach_session(topup, session)
    if topup.credited:
        topup.save()
        return "already credited"
    if _int(session.get("amount_total")) != topup.amount_cents or (session.get("currency") or "").lower() != (
        topup.currency
    ):
        topup.failure_reason = (
            f"Paid {session.get('amount_total')} {session.get('currency')} does not match the top-up; "
            "not credited, needs review."
        )
        topup.save()
        logger.error("Stripe session %s amount does not match top-up %s", session.get("id"), topup.pk)
        return "amount mismatch: not credited"
    entry = ledger_topup(
        account_id=topup.account_id,
        amount_micros=topup.credits_micros,
        reference=topup_reference(topup),
        description=f"Top-up {_dollars(topup.amount_cents)} by card (Stripe)",
        metadata={
            "topup_id": topup.pk,
            "stripe_event_id": event_id,
            "checkout_session": session.get("id"),
            "payment_intent": topup.stripe_payment_intent_id,
        },
    )
    topup.ledger_entry = entry
    topup.status = TopUp.Status.PAID
    topup.paid_at = timezone.now()
    topup.failure_reason = ""
    topup.save()
    # A refund or dispute that arrived before the payment was confirmed.
    _reconcile(topup=topup, reference=f"stripe:{event_id}:reversal", event_id=event_id)
    return "credited"


def _on_session_completed(*, topup: TopUp, obj: dict, event_id: str) -> str:
    if obj.get("payment_status") in ("paid", "no_payment_required"):
        return _credit(topup=topup, session=obj, event_id=event_id)
    _attach_session(topup, obj)
    if topup.status == TopUp.Status.PENDING:
        topup.status = TopUp.Status.PROCESSING
    topup.save()
    return "waiting for a delayed payment"


def _on_async_succeeded(*, topup: TopUp, obj: dict, event_id: str) -> str:
    return _credit(topup=topup, session=obj, event_id=event_id)


def _on_async_failed(*, topup: TopUp, obj: dict, event_id: str) -> str:
    _attach_session(topup, obj)
    if topup.credited:
        topup.save()
        return "ignored: already credited"
    topup.status = TopUp.Status.FAILED
    topup.failure_reason = "The payment failed."
    topup.save()
    return "payment failed"


def _on_session_expired(*, topup: TopUp, obj: dict, event_id: str) -> str:
    if topup.credited or topup.status not in (TopUp.Status.PENDING, TopUp.Status.PROCESSING):
        return f"ignored: top-up is {topup.status}"
    topup.status = TopUp.Status.EXPIRED
    topup.save()
    return "expired"


def _on_charge_refunded(*, topup: TopUp, obj: dict, event_id: str) -> str:
    if obj.get("payment_intent") and not topup.stripe_payment_intent_id:
        topup.stripe_payment_intent_id = obj["payment_intent"]
    topup.stripe_charge_id = topup.stripe_charge_id or str(obj.get("id") or "")
    topup.receipt_url = obj.get("receipt_url") or topup.receipt_url
    refunded = _int(obj.get("amount_refunded")) or 0
    # Stripe's amount_refunded is a running total: an older event carries a
    # smaller total and changes nothing.
    topup.refunded_cents = min(max(topup.refunded_cents, refunded), topup.amount_cents)
    topup.save()
    entry = _reconcile(topup=topup, reference=f"stripe:{event_id}", event_id=event_id)
    if not topup.credited:
        return "refund recorded; reversed when the payment is credited"
    return f"reversed {entry.amount_micros // -MICROS_PER_CENT} credits" if entry else "nothing left to reverse"


def _on_dispute_created(*, topup: TopUp, obj: dict, event_id: str) -> str:
    if obj.get("payment_intent") and not topup.stripe_payment_intent_id:
        topup.stripe_payment_intent_id = obj["payment_intent"]
    topup.stripe_charge_id = topup.stripe_charge_id or str(obj.get("charge") or "")
    disputes = dict(topup.disputes or {})
    disputes[str(obj.get("id"))] = _int(obj.get("amount")) or topup.amount_cents
    topup.disputes = disputes
    topup.save()
    entry = _reconcile(topup=topup, reference=f"stripe:{event_id}", event_id=event_id)
    if not topup.credited:
        return "dispute recorded; reversed when the payment is credited"
    return f"reversed {entry.amount_micros // -MICROS_PER_CENT} credits" if entry else "nothing left to reverse"


_HANDLERS = {
    "checkout.session.completed": _on_session_completed,
    "checkout.session.async_payment_succeeded": _on_async_succeeded,
    "checkout.session.async_payment_failed": _on_async_failed,
    "checkout.session.expired": _on_session_expired,
    "charge.refunded": _on_charge_refunded,
    "charge.dispute.created": _on_dispute_created,
}


def _reconcile(*, topup: TopUp, reference: str, event_id: str = "", created_by=None, reason: str = ""):
    """Bring the top-up's reversals up to what Stripe took back (refunds plus
    disputes, at most what was credited). Needs the top-up row locked."""
    if not topup.credited:
        return None
    target = min(topup.credits_micros, (topup.refunded_cents + topup.disputed_cents) * MICROS_PER_CENT)
    reversed_so_far = -(
        LedgerEntry.objects.filter(refund_of_id=topup.ledger_entry_id, kind=LedgerEntry.Kind.REVERSAL).aggregate(
            total=Sum("amount_micros")
        )["total"]
        or 0
    )
    missing = target - reversed_so_far
    if missing <= 0:
        return None
    what = "refunded" if topup.refunded_cents and not topup.disputed_cents else "disputed"
    if topup.refunded_cents and topup.disputed_cents:
        what = "refunded/disputed"
    return ledger_reverse(
        topup_id=topup.ledger_entry_id,
        amount_micros=missing,
        reference=reference,
        description=(reason or f"Card payment {what}: credits taken back")[:500],
        created_by=created_by,
        metadata={"topup_id": topup.pk, "stripe_event_id": event_id, "payment_intent": topup.stripe_payment_intent_id},
    )


def topup_receipt_fetch(*, topup: TopUp) -> None:
    """Best effort: store the charge and its receipt link after crediting."""
    if not topup.stripe_payment_intent_id or not stripe_configured():
        return
    try:
        intent = stripe_client().v1.payment_intents.retrieve(
            topup.stripe_payment_intent_id, params={"expand": ["latest_charge"]}
        )
    except stripe.StripeError as exc:
        logger.warning("Could not fetch the receipt of top-up %s: %s", topup.pk, exc)
        return
    charge = intent.latest_charge
    if charge is None or isinstance(charge, str):
        return
    TopUp.objects.filter(pk=topup.pk).update(
        stripe_charge_id=charge.id, receipt_url=getattr(charge, "receipt_url", None) or ""
    )


# --- Staff refunds ----------------------------------------------------------------


def topup_refund(*, topup_id: int, amount_cents: int | None, reason: str, staff) -> TopUpRefund:
    """Refund (part of) a paid top-up through Stripe and take its credits
    back, recording who and why. The balance may go negative."""
    if not reason.strip():
        raise RefundNotAllowed("a refund needs a reason")
    topup = TopUp.objects.get(pk=topup_id)
    if not topup.credited or not topup.stripe_payment_intent_id:
        raise RefundNotAllowed("only paid top-ups can be refunded")
    refundable = topup.refundable_cents
    amount = refundable if amount_cents is None else amount_cents
    if amount <= 0 or amount > refundable:
        raise RefundNotAllowed(f"at most {_dollars(refundable)} of this top-up can still be refunded")
    client = stripe_client()
    # The key ties a double-submitted form to one refund.
    refund = client.v1.refunds.create(
        params={
            "payment_intent": topup.stripe_payment_intent_id,
            "amount": amount,
            "reason": "requested_by_customer",
            "metadata": {"topup_id": str(topup.pk), "staff": staff.email, "note": reason[:450]},
        },
        options={"idempotency_key": f"hypereal-topup-{topup.pk}-refund-{topup.refunded_cents}-{amount}"},
    )
    refunded_total = None
    try:
        charge = client.v1.charges.retrieve(refund.charge)
        refunded_total = int(charge.amount_refunded)
    except (stripe.StripeError, TypeError, ValueError) as exc:
        # Stripe's charge.refunded webhook carries the same total and will
        # write the reversal.
        logger.warning("Refund %s made; charge total unavailable (%s)", refund.id, exc)
    with transaction.atomic():
        topup = TopUp.objects.select_for_update().get(pk=topup.pk)
        record, _ = TopUpRefund.objects.get_or_create(
            stripe_refund_id=refund.id,
            defaults={"topup": topup, "amount_cents": amount, "reason": reason.strip()[:500], "created_by": staff},
        )
        if refunded_total is not None:
            topup.refunded_cents = min(max(topup.refunded_cents, refunded_total), topup.amount_cents)
            topup.stripe_charge_id = topup.stripe_charge_id or str(refund.charge or "")
            topup.save()
            entry = _reconcile(
                topup=topup,
                reference=f"stripe:refund:{refund.id}",
                created_by=staff,
                reason=f"Refunded by staff: {reason.strip()}",
            )
            if entry is not None and record.ledger_entry_id is None:
                record.ledger_entry = entry
                record.save(update_fields=["ledger_entry"])
    return record
