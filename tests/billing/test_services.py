from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import AppendOnlyError, CreditAccount, Hold, LedgerEntry
from billing.selectors import ledger_audit
from billing.services import (
    InsufficientCredits,
    LedgerConflict,
    RefundNotAllowed,
    credit_account_ensure,
    hold_place,
    hold_release,
    hold_release_expired,
    hold_settle,
    ledger_adjust,
    ledger_charge,
    ledger_refund,
    ledger_reverse,
    ledger_topup,
)

pytestmark = pytest.mark.django_db
CREDIT = 1_000_000


@pytest.fixture
def account(make_user):
    return credit_account_ensure(user=make_user(credits=100))


def balance(account) -> int:
    return CreditAccount.objects.get(pk=account.pk).balance_micros


def test_topup_and_charge_move_balance_with_running_total(account):
    charge = ledger_charge(account_id=account.pk, amount_micros=30 * CREDIT, reference="req_1")
    assert charge.amount_micros == -30 * CREDIT
    assert charge.balance_after_micros == 70 * CREDIT
    assert balance(account) == 70 * CREDIT


def test_same_reference_is_applied_once(account):
    first = ledger_charge(account_id=account.pk, amount_micros=5 * CREDIT, reference="req_dup")
    again = ledger_charge(account_id=account.pk, amount_micros=5 * CREDIT, reference="req_dup")
    assert first.pk == again.pk
    assert balance(account) == 95 * CREDIT
    assert LedgerEntry.objects.filter(reference="req_dup").count() == 1


def test_reference_reused_for_a_different_amount_is_a_conflict(account):
    ledger_charge(account_id=account.pk, amount_micros=5 * CREDIT, reference="req_x")
    with pytest.raises(LedgerConflict):
        ledger_charge(account_id=account.pk, amount_micros=6 * CREDIT, reference="req_x")
    assert balance(account) == 95 * CREDIT


def test_charge_beyond_available_is_refused_and_writes_nothing(account):
    with pytest.raises(InsufficientCredits) as exc:
        ledger_charge(account_id=account.pk, amount_micros=101 * CREDIT, reference="too_much")
    assert exc.value.required_micros == 101 * CREDIT
    assert exc.value.available_micros == 100 * CREDIT
    assert not LedgerEntry.objects.filter(reference="too_much").exists()


@pytest.mark.parametrize("amount", [0, -5, 1.5, True])
def test_amounts_must_be_positive_integers(account, amount):
    with pytest.raises(ValueError):
        ledger_charge(account_id=account.pk, amount_micros=amount, reference="bad")


def test_partial_refunds_cannot_exceed_the_charge(account):
    charge = ledger_charge(account_id=account.pk, amount_micros=10 * CREDIT, reference="job_1")
    ledger_refund(charge_id=charge.pk, amount_micros=4 * CREDIT, reference="job_1:refund:a")
    with pytest.raises(RefundNotAllowed):
        ledger_refund(charge_id=charge.pk, amount_micros=7 * CREDIT, reference="job_1:refund:b")
    rest = ledger_refund(charge_id=charge.pk, reference="job_1:refund:c")
    assert rest.amount_micros == 6 * CREDIT
    assert rest.refund_of_id == charge.pk
    with pytest.raises(RefundNotAllowed):
        ledger_refund(charge_id=charge.pk, reference="job_1:refund:d")
    assert balance(account) == 100 * CREDIT


def test_refund_reference_is_idempotent(account):
    charge = ledger_charge(account_id=account.pk, amount_micros=10 * CREDIT, reference="job_2")
    a = ledger_refund(charge_id=charge.pk, reference="job_2:refund")
    b = ledger_refund(charge_id=charge.pk, reference="job_2:refund")
    assert a.pk == b.pk
    assert balance(account) == 100 * CREDIT


def test_only_charges_can_be_refunded_and_only_topups_reversed(account):
    topup = LedgerEntry.objects.get(account=account, kind="topup")
    with pytest.raises(RefundNotAllowed):
        ledger_refund(charge_id=topup.pk, reference="r")
    charge = ledger_charge(account_id=account.pk, amount_micros=CREDIT, reference="c")
    with pytest.raises(RefundNotAllowed):
        ledger_reverse(topup_id=charge.pk, reference="v")


def test_reversal_can_make_balance_negative_but_not_exceed_topup(account):
    ledger_charge(account_id=account.pk, amount_micros=60 * CREDIT, reference="spend")
    topup = LedgerEntry.objects.get(account=account, kind="topup")
    with pytest.raises(RefundNotAllowed):
        ledger_reverse(topup_id=topup.pk, amount_micros=101 * CREDIT, reference="chargeback:x")
    ledger_reverse(topup_id=topup.pk, reference="chargeback:1")
    assert balance(account) == -60 * CREDIT
    assert ledger_audit().clean


def test_adjustment_needs_reason_and_non_zero_amount(account, staff):
    with pytest.raises(ValueError):
        ledger_adjust(account_id=account.pk, amount_micros=0, reference="a0", description="x")
    with pytest.raises(ValueError):
        ledger_adjust(account_id=account.pk, amount_micros=5, reference="a1", description="  ")
    entry = ledger_adjust(
        account_id=account.pk,
        amount_micros=-3 * CREDIT,
        reference="a2",
        description="goodwill",
        created_by=staff,
    )
    assert entry.created_by == staff
    assert balance(account) == 97 * CREDIT


def test_ledger_entries_are_append_only(account):
    entry = LedgerEntry.objects.filter(account=account).first()
    entry.description = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()


def test_hold_gates_on_balance_minus_active_holds(account):
    hold_place(account_id=account.pk, amount_micros=70 * CREDIT, reference="h1")
    with pytest.raises(InsufficientCredits) as exc:
        hold_place(account_id=account.pk, amount_micros=CREDIT, reference="h2", minimum_available_micros=50 * CREDIT)
    assert exc.value.available_micros == 30 * CREDIT
    assert exc.value.required_micros == 50 * CREDIT
    with pytest.raises(InsufficientCredits):
        ledger_charge(account_id=account.pk, amount_micros=31 * CREDIT, reference="c")


def test_settle_charges_real_cost_and_frees_the_hold(account):
    hold_place(account_id=account.pk, amount_micros=50 * CREDIT, reference="req_s")
    entry = hold_settle(reference="req_s", cost_micros=1_234_567, metadata={"output_tokens": 10})
    assert entry.amount_micros == -1_234_567
    refreshed = CreditAccount.objects.get(pk=account.pk)
    assert refreshed.held_micros == 0
    assert refreshed.balance_micros == 100 * CREDIT - 1_234_567
    again = hold_settle(reference="req_s", cost_micros=1_234_567)
    assert again.pk == entry.pk
    assert LedgerEntry.objects.filter(reference="req_s").count() == 1
    assert Hold.objects.get(reference="req_s").status == "settled"


def test_settle_at_zero_cost_writes_no_entry(account):
    hold_place(account_id=account.pk, amount_micros=5 * CREDIT, reference="req_z")
    assert hold_settle(reference="req_z", cost_micros=0) is None
    assert not LedgerEntry.objects.filter(reference="req_z").exists()
    assert CreditAccount.objects.get(pk=account.pk).held_micros == 0


def test_release_returns_the_hold_without_charge(account):
    hold_place(account_id=account.pk, amount_micros=5 * CREDIT, reference="req_r")
    hold_release(reference="req_r")
    hold_release(reference="req_r")
    assert CreditAccount.objects.get(pk=account.pk).held_micros == 0
    assert balance(account) == 100 * CREDIT


def test_expired_holds_are_orphans_until_swept(account):
    hold = hold_place(account_id=account.pk, amount_micros=5 * CREDIT, reference="req_o", ttl_seconds=60)
    later = timezone.now() + timedelta(minutes=2)
    report = ledger_audit(now=later)
    assert not report.clean
    assert "orphan" in report.drifts[0].problems[0]
    assert hold_release_expired(now=later) == 1
    assert ledger_audit(now=later).clean
    # A late settle of a swept hold still bills the request.
    entry = hold_settle(reference=hold.reference, cost_micros=CREDIT)
    assert entry.amount_micros == -CREDIT
    assert ledger_audit(now=later).clean


def test_audit_detects_drift(account):
    assert ledger_audit().clean
    CreditAccount.objects.filter(pk=account.pk).update(balance_micros=1)
    report = ledger_audit()
    assert not report.clean
    assert any("sum of entries" in p for p in report.drifts[0].problems)


def test_topup_reference_is_idempotent(account):
    ledger_topup(account_id=account.pk, amount_micros=CREDIT, reference="evt_1")
    ledger_topup(account_id=account.pk, amount_micros=CREDIT, reference="evt_1")
    assert balance(account) == 101 * CREDIT
