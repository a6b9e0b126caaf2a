"""Every credit movement goes through these functions.

Locking: each writer locks the account row (SELECT ... FOR UPDATE) before it
reads the balance, so concurrent movements on one account are serialised and
the cached balance always equals the sum of the entries. Each function is
atomic; called inside an outer transaction it nests (a savepoint), so a
caller can settle a hold and write its own records in one commit, and a
refused movement (InsufficientCredits, RefundNotAllowed) leaves the outer
transaction usable.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import CreditAccount, Hold, LedgerEntry

Kind = LedgerEntry.Kind


@dataclass
class InsufficientCredits(Exception):
    required_micros: int
    available_micros: int

    def __str__(self) -> str:
        return f"insufficient credits: required {self.required_micros} µcr, available {self.available_micros} µcr"


class LedgerConflict(Exception):
    """An idempotency reference was reused for a different movement."""


class RefundNotAllowed(Exception):
    pass


def credit_account_ensure(*, user) -> CreditAccount:
    account, _ = CreditAccount.objects.get_or_create(user=user)
    return account


def _account_lock(account_id: int) -> CreditAccount:
    return CreditAccount.objects.select_for_update().get(pk=account_id)


def _entry_existing(*, reference: str, kind: str, amount_micros: int | None) -> LedgerEntry | None:
    entry = LedgerEntry.objects.filter(reference=reference).first()
    if entry is None:
        return None
    if entry.kind != kind or (amount_micros is not None and entry.amount_micros != amount_micros):
        raise LedgerConflict(f"reference {reference!r} already used for {entry.kind} {entry.amount_micros}")
    return entry


def _entry_append(
    *,
    account: CreditAccount,
    kind: str,
    amount_micros: int,
    reference: str,
    description: str = "",
    refund_of: LedgerEntry | None = None,
    created_by=None,
    metadata: dict | None = None,
) -> LedgerEntry:
    """Append an entry to a locked account and move its cached balance."""
    account.balance_micros += amount_micros
    entry = LedgerEntry.objects.create(
        account=account,
        kind=kind,
        amount_micros=amount_micros,
        balance_after_micros=account.balance_micros,
        reference=reference,
        description=description[:500],
        refund_of=refund_of,
        created_by=created_by,
        metadata=metadata or {},
    )
    CreditAccount.objects.filter(pk=account.pk).update(balance_micros=account.balance_micros, updated_at=timezone.now())
    return entry


def _require_positive(amount_micros: int) -> None:
    if not isinstance(amount_micros, int) or isinstance(amount_micros, bool) or amount_micros <= 0:
        raise ValueError("amount_micros must be a positive integer")


@transaction.atomic
def ledger_topup(
    *,
    account_id: int,
    amount_micros: int,
    reference: str,
    description: str = "Top-up",
    created_by=None,
    metadata: dict | None = None,
) -> LedgerEntry:
    _require_positive(amount_micros)
    account = _account_lock(account_id)
    existing = _entry_existing(reference=reference, kind=Kind.TOPUP, amount_micros=amount_micros)
    if existing:
        return existing
    return _entry_append(
        account=account,
        kind=Kind.TOPUP,
        amount_micros=amount_micros,
        reference=reference,
        description=description,
        created_by=created_by,
        metadata=metadata,
    )


@transaction.atomic
def ledger_charge(
    *,
    account_id: int,
    amount_micros: int,
    reference: str,
    description: str = "",
    metadata: dict | None = None,
    require_available: bool = True,
) -> LedgerEntry:
    """Charge now (media jobs charge at submit). With require_available the
    charge is refused unless balance minus active holds covers it."""
    _require_positive(amount_micros)
    account = _account_lock(account_id)
    existing = _entry_existing(reference=reference, kind=Kind.CHARGE, amount_micros=-amount_micros)
    if existing:
        return existing
    if require_available and account.available_micros < amount_micros:
        raise InsufficientCredits(required_micros=amount_micros, available_micros=account.available_micros)
    return _entry_append(
        account=account,
        kind=Kind.CHARGE,
        amount_micros=-amount_micros,
        reference=reference,
        description=description,
        metadata=metadata,
    )


def _returnable_micros(original: LedgerEntry) -> int:
    already = original.refunds.aggregate(total=Sum("amount_micros"))["total"] or 0
    return abs(original.amount_micros) - abs(already)


@transaction.atomic
def ledger_refund(
    *,
    charge_id: int,
    reference: str,
    amount_micros: int | None = None,
    description: str = "Refund",
    created_by=None,
    metadata: dict | None = None,
) -> LedgerEntry:
    """Give back all (amount None) or part of a charge. The refunds of a
    charge can never add up to more than the charge, and a reference is
    applied once."""
    charge = LedgerEntry.objects.get(pk=charge_id)
    if charge.kind != Kind.CHARGE:
        raise RefundNotAllowed("only charges can be refunded")
    account = _account_lock(charge.account_id)
    existing = LedgerEntry.objects.filter(reference=reference).first()
    if existing:
        if existing.kind != Kind.REFUND or existing.refund_of_id != charge.pk:
            raise LedgerConflict(f"reference {reference!r} already used")
        return existing
    remaining = _returnable_micros(charge)
    amount = remaining if amount_micros is None else amount_micros
    if amount <= 0 or amount > remaining:
        raise RefundNotAllowed(f"refund of {amount} µcr exceeds the {remaining} µcr left to refund on this charge")
    return _entry_append(
        account=account,
        kind=Kind.REFUND,
        amount_micros=amount,
        reference=reference,
        description=description,
        refund_of=charge,
        created_by=created_by,
        metadata=metadata,
    )


@transaction.atomic
def ledger_reverse(
    *,
    topup_id: int,
    reference: str,
    amount_micros: int | None = None,
    description: str = "Reversal",
    created_by=None,
    metadata: dict | None = None,
) -> LedgerEntry:
    """Claw back all or part of a top-up (payment refunded or disputed).
    The balance may go negative; a negative balance blocks API calls."""
    topup = LedgerEntry.objects.get(pk=topup_id)
    if topup.kind != Kind.TOPUP:
        raise RefundNotAllowed("only top-ups can be reversed")
    account = _account_lock(topup.account_id)
    existing = LedgerEntry.objects.filter(reference=reference).first()
    if existing:
        if existing.kind != Kind.REVERSAL or existing.refund_of_id != topup.pk:
            raise LedgerConflict(f"reference {reference!r} already used")
        return existing
    remaining = _returnable_micros(topup)
    amount = remaining if amount_micros is None else amount_micros
    if amount <= 0 or amount > remaining:
        raise RefundNotAllowed(f"reversal of {amount} µcr exceeds the {remaining} µcr left on this top-up")
    return _entry_append(
        account=account,
        kind=Kind.REVERSAL,
        amount_micros=-amount,
        reference=reference,
        description=description,
        refund_of=topup,
        created_by=created_by,
        metadata=metadata,
    )


@transaction.atomic
def ledger_adjust(
    *,
    account_id: int,
    amount_micros: int,
    reference: str,
    description: str,
    created_by=None,
) -> LedgerEntry:
    if not isinstance(amount_micros, int) or amount_micros == 0:
        raise ValueError("an adjustment must be a non-zero integer")
    if not description.strip():
        raise ValueError("an adjustment needs a reason")
    account = _account_lock(account_id)
    existing = _entry_existing(reference=reference, kind=Kind.ADJUSTMENT, amount_micros=amount_micros)
    if existing:
        return existing
    return _entry_append(
        account=account,
        kind=Kind.ADJUSTMENT,
        amount_micros=amount_micros,
        reference=reference,
        description=description,
        created_by=created_by,
    )


# --- Holds -------------------------------------------------------------------


@transaction.atomic
def hold_place(
    *,
    account_id: int,
    amount_micros: int,
    reference: str,
    minimum_available_micros: int = 0,
    ttl_seconds: int | None = None,
) -> Hold:
    """Reserve the worst-case cost of a request. Refused (InsufficientCredits)
    when balance minus active holds is below the gate or the hold itself."""
    if amount_micros < 0:
        raise ValueError("a hold cannot be negative")
    account = _account_lock(account_id)
    existing = Hold.objects.filter(reference=reference).first()
    if existing:
        return existing
    required = max(minimum_available_micros, amount_micros)
    if account.available_micros < required:
        raise InsufficientCredits(required_micros=required, available_micros=max(account.available_micros, 0))
    now = timezone.now()
    hold = Hold.objects.create(
        account=account,
        reference=reference,
        amount_micros=amount_micros,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds or settings.HOLD_TTL_SECONDS),
    )
    CreditAccount.objects.filter(pk=account.pk).update(held_micros=account.held_micros + amount_micros)
    return hold


def _hold_close(*, hold: Hold, account: CreditAccount, status: str, entry: LedgerEntry | None) -> None:
    if hold.status == Hold.Status.ACTIVE:
        account.held_micros -= hold.amount_micros
        CreditAccount.objects.filter(pk=account.pk).update(held_micros=account.held_micros)
    Hold.objects.filter(pk=hold.pk).update(status=status, closed_at=timezone.now(), entry=entry)


@transaction.atomic
def hold_settle(
    *,
    reference: str,
    cost_micros: int,
    description: str = "",
    metadata: dict | None = None,
) -> LedgerEntry | None:
    """Turn a hold into a charge of the real cost (which may be zero), once.

    The charge reuses the hold's reference. A hold already released by the
    expiry sweep is still charged: a request that ran is always billed."""
    if cost_micros < 0:
        raise ValueError("a cost cannot be negative")
    hold = Hold.objects.get(reference=reference)
    account = _account_lock(hold.account_id)
    hold = Hold.objects.get(pk=hold.pk)  # re-read under the account lock
    if hold.status == Hold.Status.SETTLED:
        return hold.entry
    entry = None
    if cost_micros > 0:
        entry = _entry_append(
            account=account,
            kind=Kind.CHARGE,
            amount_micros=-cost_micros,
            reference=reference,
            description=description,
            metadata=metadata,
        )
    _hold_close(hold=hold, account=account, status=Hold.Status.SETTLED, entry=entry)
    return entry


@transaction.atomic
def hold_release(*, reference: str) -> None:
    hold = Hold.objects.get(reference=reference)
    account = _account_lock(hold.account_id)
    hold = Hold.objects.get(pk=hold.pk)
    if hold.status == Hold.Status.ACTIVE:
        _hold_close(hold=hold, account=account, status=Hold.Status.RELEASED, entry=None)


def hold_release_expired(*, now=None) -> int:
    """Release holds whose request never settled (a crashed worker)."""
    now = now or timezone.now()
    released = 0
    for reference in Hold.objects.filter(status=Hold.Status.ACTIVE, expires_at__lt=now).values_list(
        "reference", flat=True
    ):
        hold_release(reference=reference)
        released += 1
    return released
