"""Concurrent money movements on one account must serialise exactly.

Runs against whatever DATABASE_URL points at; CI runs it on PostgreSQL,
where row locks (not SQLite's single writer) do the work."""

import threading

import pytest
from django.db import connection, connections

from billing.models import CreditAccount, LedgerEntry
from billing.selectors import ledger_audit
from billing.services import (
    InsufficientCredits,
    credit_account_ensure,
    hold_place,
    hold_settle,
    ledger_charge,
)

THREADS = 50


def _run_in_threads(target, count: int) -> list:
    errors: list = []
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_charges_give_exact_balance(make_user):
    account = credit_account_ensure(user=make_user(credits=1000))
    amount = 7_654_321

    errors = _run_in_threads(
        lambda i: ledger_charge(account_id=account.pk, amount_micros=amount, reference=f"req_{i}"), THREADS
    )
    assert errors == []
    account.refresh_from_db()
    assert account.balance_micros == 1000 * 1_000_000 - THREADS * amount
    assert LedgerEntry.objects.filter(account=account, kind="charge").count() == THREADS
    balances = sorted(LedgerEntry.objects.filter(kind="charge").values_list("balance_after_micros", flat=True))
    assert len(set(balances)) == THREADS  # each saw the previous one's balance
    assert ledger_audit().clean
    print("vendor:", connection.vendor)


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_charge_once(make_user):
    account = credit_account_ensure(user=make_user(credits=100))
    errors = _run_in_threads(
        lambda i: ledger_charge(account_id=account.pk, amount_micros=1_000_000, reference="same-request"),
        THREADS,
    )
    assert errors == []
    account.refresh_from_db()
    assert account.balance_micros == 99_000_000
    assert LedgerEntry.objects.filter(reference="same-request").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_holds_never_oversubscribe(make_user):
    account = credit_account_ensure(user=make_user(credits=10))
    placed: list[str] = []

    def hold_and_settle(i: int) -> None:
        ref = f"hold_{i}"
        try:
            hold_place(account_id=account.pk, amount_micros=1_000_000, reference=ref)
        except InsufficientCredits:
            return
        placed.append(ref)
        hold_settle(reference=ref, cost_micros=1_000_000)

    errors = _run_in_threads(hold_and_settle, THREADS)
    assert errors == []
    account.refresh_from_db()
    assert len(placed) == 10
    assert account.balance_micros == 0
    assert account.held_micros == 0
    assert ledger_audit().clean
    assert CreditAccount.objects.get(pk=account.pk).balance_micros >= 0
