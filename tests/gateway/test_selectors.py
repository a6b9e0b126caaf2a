import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from accounts.selectors import api_key_authenticate
from accounts.services import api_key_mint, api_key_revoke
from gateway import selectors


def _no_database(**kwargs):
    raise AssertionError("the database was asked")


@pytest.mark.django_db
def test_a_cached_key_is_authenticated_without_the_database(user, monkeypatch):
    minted = api_key_mint(user=user)
    assert api_key_authenticate(raw_key=minted.raw_key) is not None  # fills the cache
    assert api_key_authenticate(raw_key="ck_unknown") is None  # remembered as invalid
    monkeypatch.setattr(selectors, "api_key_authenticate", _no_database)
    principal = asyncio.run(selectors.principal_authenticate(raw_key=minted.raw_key))
    assert principal.key_id == minted.api_key.pk and principal.user_id == user.pk
    assert asyncio.run(selectors.principal_authenticate(raw_key="ck_unknown")) is None
    assert asyncio.run(selectors.principal_authenticate(raw_key="sk-other-prefix")) is None


async def _authenticate(raw_key: str):
    try:
        return await selectors.principal_authenticate(raw_key=raw_key)
    finally:
        # A cache miss queries from asgiref's worker thread: close its connection.
        await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
def test_a_cache_miss_loads_the_key_and_revocation_takes_effect_at_once(user):
    minted = api_key_mint(user=user)
    assert asyncio.run(_authenticate(minted.raw_key)) is not None
    api_key_revoke(api_key=minted.api_key)
    assert asyncio.run(_authenticate(minted.raw_key)) is None
