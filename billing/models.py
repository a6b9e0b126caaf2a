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
