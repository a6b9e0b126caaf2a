"""Reads over accounts and the ledger, including the audit."""

from dataclasses import dataclass, field

from django.db.models import Count, Q, Sum
from django.utils import timezone

from billing.models import CreditAccount, Hold, LedgerEntry


@dataclass
class AccountDrift:
    account_id: int
    email: str
    problems: list[str] = field(default_factory=list)


@dataclass
class AuditReport:
    accounts: int = 0
    entries: int = 0
    total_balance_micros: int = 0
    active_holds: int = 0
    drifts: list[AccountDrift] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.drifts


def ledger_audit(*, now=None) -> AuditReport:
    """Check every account: cached balance == sum of entries, the last entry's
    running balance == cached balance, cached holds == sum of active holds,
    and no active hold past its expiry (an orphan)."""
    now = now or timezone.now()
    report = AuditReport()
    accounts = CreditAccount.objects.select_related("user").annotate(
        entry_sum=Sum("entries__amount_micros"), entry_count=Count("entries")
    )
    hold_sums = dict(
        Hold.objects.filter(status=Hold.Status.ACTIVE)
        .values("account_id")
        .annotate(total=Sum("amount_micros"))
        .values_list("account_id", "total")
    )
    orphan_counts = dict(
        Hold.objects.filter(status=Hold.Status.ACTIVE, expires_at__lt=now)
        .values("account_id")
        .annotate(n=Count("id"))
        .values_list("account_id", "n")
    )
    for account in accounts:
        report.accounts += 1
        report.entries += account.entry_count
        report.total_balance_micros += account.balance_micros
        problems = []
        entry_sum = account.entry_sum or 0
        if entry_sum != account.balance_micros:
            problems.append(f"balance {account.balance_micros} != sum of entries {entry_sum}")
        last = LedgerEntry.objects.filter(account=account).order_by("-created_at", "-id").first()
        if last is not None and last.balance_after_micros != account.balance_micros:
            problems.append(f"last entry's running balance {last.balance_after_micros} != balance")
        held = hold_sums.get(account.pk, 0)
        if held != account.held_micros:
            problems.append(f"held {account.held_micros} != sum of active holds {held}")
        if orphan_counts.get(account.pk):
            problems.append(f"{orphan_counts[account.pk]} orphan hold(s) past expiry")
        report.active_holds += Hold.objects.filter(account=account, status=Hold.Status.ACTIVE).count() if held else 0
        if problems:
            report.drifts.append(AccountDrift(account_id=account.pk, email=account.user.email, problems=problems))
    return report


def credit_account_for_user(*, user) -> CreditAccount | None:
    return CreditAccount.objects.filter(user=user).first()


def ledger_entries_for_account(*, account: CreditAccount):
    return LedgerEntry.objects.filter(account=account).order_by("-created_at", "-id")


def spend_between(*, account_id: int, start, end=None) -> int:
    """Net credits spent (charges minus their refunds) in a window, in µcr."""
    q = Q(
        account_id=account_id,
        created_at__gte=start,
        kind__in=[LedgerEntry.Kind.CHARGE, LedgerEntry.Kind.REFUND],
    )
    if end is not None:
        q &= Q(created_at__lt=end)
    total = LedgerEntry.objects.filter(q).aggregate(total=Sum("amount_micros"))["total"] or 0
    return -total


def topups_for_user(*, user):
    from billing.models import TopUp

    return TopUp.objects.filter(user=user).order_by("-created_at", "-id")


def ledger_history_for_user(*, user, kind: str | None = None):
    """The user's ledger, newest first, with each top-up's Stripe row."""
    qs = LedgerEntry.objects.filter(account__user=user).select_related("topup", "refund_of__topup")
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("-created_at", "-id")
