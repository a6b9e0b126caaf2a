import itertools

import pytest
from django.core.cache import cache

from accounts.services import user_create
from billing.models import credits_to_micros
from billing.services import credit_account_ensure, ledger_topup

_emails = itertools.count(1)


@pytest.fixture(autouse=True)
def _clear_cache():
    # With REDIS_URL set this is the shared Redis database of the test run.
    cache.clear()
    from catalog import selectors

    selectors._snapshot = None
    yield


@pytest.fixture
def make_user(db):
    def make(*, email: str | None = None, credits=0, is_staff: bool = False, password: str = "pw-Secret-123"):
        user = user_create(email=email or f"user{next(_emails)}@example.com", password=password, is_staff=is_staff)
        if credits:
            account = credit_account_ensure(user=user)
            ledger_topup(
                account_id=account.pk,
                amount_micros=credits_to_micros(credits),
                reference=f"test-topup:{user.pk}",
            )
        return user

    return make


@pytest.fixture
def user(make_user):
    return make_user(credits=1000)


@pytest.fixture
def staff(make_user):
    return make_user(email="staff@example.com", is_staff=True)


@pytest.fixture
def catalog(db):
    from django.conf import settings

    from catalog.services import catalog_file_read, catalog_load

    return catalog_load(
        data=catalog_file_read(),
        simulator_url=settings.UPSTREAM_SIMULATOR_URL,
        upstream_api_key="sim-test-key",
    )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Tests create many users; the production hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
