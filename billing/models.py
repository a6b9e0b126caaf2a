"""Credit accounts, the append-only ledger and holds.

All amounts are integer micro-credits (µcr): 1 credit = 1,000,000 µcr and
100 credits = $1, so 1 US cent = 1,000,000 µcr.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

MICROS_PER_CREDIT = 1_000_000
CREDITS_PER_USD = 100


def credits_to_micros(credits) -> int:
    """Exact conversion; refuses anything finer than one micro-credit."""
    micros = Decimal(str(credits)) * MICROS_PER_CREDIT
    if micros != micros.to_integral_value():
        raise ValueError(f"{credits} credits is not a whole number of micro-credits")
    return int(micros)


def micros_to_credits(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS_PER_CREDIT).normalize() + Decimal(0)


class CreditAccount(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_account")
    # Cached sums, changed only in the transaction that writes the ledger entry
    # or the hold they summarise.
    balance_micros = models.BigIntegerField(default=0)
    held_micros = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} ({micros_to_credits(self.balance_micros)} credits)"

    @property
    def available_micros(self) -> int:
        return self.balance_micros - self.held_micros


class AppendOnlyError(Exception):
    pass


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        TOPUP = "topup", "Top-up"
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"
        REVERSAL = "reversal", "Reversal"
        ADJUSTMENT = "adjustment", "Adjustment"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount_micros = models.BigIntegerField()
    balance_after_micros = models.BigIntegerField()
    # Idempotency reference: a request id, job id or Stripe event id. Unique,
    # so a retried movement cannot be written twice.
    reference = models.CharField(max_length=200, unique=True)
    # The charge a refund gives back, or the top-up a reversal claws back.
    refund_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds")
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Staff member who made this movement, if any.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                name="ledger_amount_sign_matches_kind",
                condition=(
                    Q(kind="topup", amount_micros__gt=0)
                    | Q(kind="charge", amount_micros__lt=0)
                    | Q(kind="refund", amount_micros__gt=0)
                    | Q(kind="reversal", amount_micros__lt=0)
                    | (Q(kind="adjustment") & ~Q(amount_micros=0))
                ),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {micros_to_credits(self.amount_micros)} ({self.reference})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnlyError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Ledger entries are append-only.")


class Hold(models.Model):
    """Credits reserved for a request in flight, worth its worst-case cost."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SETTLED = "settled", "Settled"
        RELEASED = "released", "Released"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="holds")
    reference = models.CharField(max_length=200, unique=True)
    amount_micros = models.BigIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    entry = models.ForeignKey(LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"])]
        constraints = [models.CheckConstraint(name="hold_amount_non_negative", condition=Q(amount_micros__gte=0))]

    def __str__(self) -> str:
        return f"hold {self.reference} {self.status}"


# --- Stripe top-ups ------------------------------------------------------------

# One US cent buys one credit (100 credits = $1).
MICROS_PER_CENT = MICROS_PER_CREDIT * CREDITS_PER_USD // 100


class TopUp(models.Model):
    """A purchase of credits through Stripe Checkout.

    The row is written (pending) before the customer is sent to Stripe, so
    every Checkout Session points back at a row (client_reference_id). Only
    Stripe's signed webhook moves it to paid and credits the account; the
    return pages only read it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="topups")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="topups")
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    credits_micros = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    stripe_checkout_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    checkout_url = models.TextField(blank=True)
    receipt_url = models.TextField(blank=True)
    # Stripe's running total refunded on the charge (its amount_refunded), and
    # the amount of each dispute by id; reversals in the ledger follow these.
    refunded_cents = models.PositiveIntegerField(default=0)
    disputes = models.JSONField(default=dict, blank=True)
    ledger_entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="topup", editable=False
    )
    failure_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "top-up"
        constraints = [
            models.CheckConstraint(name="topup_amount_positive", condition=Q(amount_cents__gt=0)),
        ]

    def __str__(self) -> str:
        return f"top-up #{self.pk} ${self.amount_cents / 100:.2f} {self.status}"

    @property
    def credited(self) -> bool:
        return self.ledger_entry_id is not None

    @property
    def disputed_cents(self) -> int:
        return sum(int(v) for v in (self.disputes or {}).values())

    @property
    def refundable_cents(self) -> int:
        return max(self.amount_cents - self.refunded_cents - self.disputed_cents, 0)


class TopUpRefund(models.Model):
    """A refund staff made from the admin: who, why, and Stripe's refund id."""

    topup = models.ForeignKey(TopUp, on_delete=models.PROTECT, related_name="refunds")
    stripe_refund_id = models.CharField(max_length=255, unique=True)
    amount_cents = models.PositiveIntegerField()
    reason = models.CharField(max_length=500)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    # The reversal written with the refund; empty when Stripe's webhook got
    # there first and wrote it.
    ledger_entry = models.ForeignKey(LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"refund {self.stripe_refund_id} ${self.amount_cents / 100:.2f}"


class StripeEvent(models.Model):
    """Every Stripe event applied, by id. Written in the same transaction as
    the ledger entry it causes, so an event is applied exactly once."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    topup = models.ForeignKey(TopUp, null=True, blank=True, on_delete=models.PROTECT, related_name="stripe_events")
    outcome = models.CharField(max_length=300)
    stripe_created = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
