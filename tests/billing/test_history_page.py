import pytest
from django.urls import reverse

from billing.models import credits_to_micros
from billing.services import credit_account_ensure, ledger_adjust, ledger_charge, ledger_refund
from billing.views import HISTORY_PAGE_SIZE

pytestmark = pytest.mark.django_db


def rows(body: str) -> list[str]:
    table = body.split('data-testid="ledger-table"', 1)[1].split("</table>", 1)[0]
    return table.split("<tr data-entry-id=")[1:]


def test_every_entry_with_its_running_balance(client, make_user):
    user = make_user(credits=100)  # a test top-up of 100 credits
    account = credit_account_ensure(user=user)
    charge = ledger_charge(
        account_id=account.pk, amount_micros=credits_to_micros("0.25"), reference="req_a", description="gpt-5.5 chat"
    )
    ledger_refund(charge_id=charge.pk, reference="req_a:refund", amount_micros=credits_to_micros("0.05"))
    ledger_adjust(account_id=account.pk, amount_micros=credits_to_micros(5), reference="adj1", description="Goodwill")
    client.force_login(user)
    body = client.get(reverse("dashboard:billing")).content.decode()
    found = rows(body)
    assert len(found) == 4
    # Newest first: adjustment, refund, charge, top-up, each with the balance after it.
    assert "Adjustment" in found[0] and "+5.00" in found[0] and ">104.80<" in found[0] and "Goodwill" in found[0]
    assert "Refund" in found[1] and "+0.05" in found[1] and ">99.80<" in found[1]
    assert "Charge" in found[2] and "−0.25" in found[2] and ">99.75<" in found[2] and "req_a" in found[2]
    assert "Top-up" in found[3] and "+100.00" in found[3] and ">100.00<" in found[3]


def test_filter_by_kind_and_pagination(client, make_user):
    user = make_user(credits=1000)
    account = credit_account_ensure(user=user)
    for i in range(HISTORY_PAGE_SIZE + 5):
        ledger_charge(account_id=account.pk, amount_micros=1000, reference=f"req_{i}")
    client.force_login(user)
    first = client.get(reverse("dashboard:billing"))
    assert len(rows(first.content.decode())) == HISTORY_PAGE_SIZE
    assert "Page 1 of 2 · 56 entries" in first.content.decode()
    second = client.get(reverse("dashboard:billing") + "?page=2").content.decode()
    assert len(rows(second)) == 6
    topups = client.get(reverse("dashboard:billing") + "?kind=topup").content.decode()
    assert len(rows(topups)) == 1 and "Top-up" in rows(topups)[0]
    # An unknown kind shows everything rather than failing.
    assert client.get(reverse("dashboard:billing") + "?kind=bogus").status_code == 200


def test_stripe_top_ups_link_their_receipts(client, make_user, stripe_on, webhook):
    user = make_user()
    client.force_login(user)
    client.post(reverse("dashboard:topup"), {"amount": "12.34"})
    from billing.models import TopUp

    topup = TopUp.objects.get()
    stripe_on.pay(topup.stripe_checkout_session_id)
    webhook.flush()
    topup.refresh_from_db()
    body = client.get(reverse("dashboard:billing")).content.decode()
    assert topup.receipt_url and body.count(topup.receipt_url) == 2  # top-ups table and ledger row
    assert "$12.34" in body and "1,234.00" in body
    [row] = rows(body)
    assert "Top-up $12.34 by card (Stripe)" in row and ">1,234.00<" in row
    stripe_on.refund_in_dashboard(topup.stripe_charge_id, 234)
    webhook.flush()
    body = client.get(reverse("dashboard:billing")).content.decode()
    assert "Partly refunded" in body and "$2.34 refunded" in body
    reversal = rows(body)[0]
    assert (
        "Reversal" in reversal
        and "−234.00" in reversal
        and ">1,000.00<" in reversal
        and "Takes back the top-up" in reversal
    )
