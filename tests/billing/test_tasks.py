from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import CreditAccount, Hold
from billing.services import credit_account_ensure, hold_place
from billing.tasks import release_expired_holds


@pytest.mark.django_db
def test_release_expired_holds_task_frees_orphans_only(make_user):
    account = credit_account_ensure(user=make_user(credits=10))
    hold_place(account_id=account.pk, amount_micros=1_000_000, reference="old", ttl_seconds=1)
    hold_place(account_id=account.pk, amount_micros=2_000_000, reference="fresh")
    Hold.objects.filter(reference="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert release_expired_holds() == 1
    assert Hold.objects.get(reference="old").status == "released"
    assert Hold.objects.get(reference="fresh").status == "active"
    assert CreditAccount.objects.get(pk=account.pk).held_micros == 2_000_000
