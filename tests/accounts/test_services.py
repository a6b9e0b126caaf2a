import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from accounts.models import ApiKey
from accounts.selectors import api_key_authenticate
from accounts.services import api_key_cache_key, api_key_hash, api_key_mint, api_key_revoke

pytestmark = pytest.mark.django_db


def test_minted_key_has_prefix_and_enough_randomness(user):
    minted = api_key_mint(user=user, name="ci")
    assert re.fullmatch(r"ck_[A-Za-z0-9_-]{43}", minted.raw_key)
    assert minted.api_key.key_hash == api_key_hash(minted.raw_key)
    assert minted.api_key.prefix == minted.raw_key[:7]
    assert minted.api_key.last_four == minted.raw_key[-4:]
    other = api_key_mint(user=user, name="ci")
    assert other.raw_key != minted.raw_key


def test_plaintext_key_is_stored_nowhere(user):
    minted = api_key_mint(user=user, name="secret-check")
    api_key_authenticate(raw_key=minted.raw_key)  # also populates the cache
    secret_part = minted.raw_key[7:-4]  # what is neither prefix nor last four
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                assert not any(isinstance(v, str) and secret_part in v for v in row), table
    cached = cache.get(api_key_cache_key(minted.api_key.key_hash))
    assert secret_part not in repr(cached)


def test_authenticate_returns_principal_for_valid_key(user):
    minted = api_key_mint(user=user, allowed_models=["gpt-5"], spend_limit_micros=5_000_000)
    principal = api_key_authenticate(raw_key=minted.raw_key)
    assert principal.user_id == user.pk
    assert principal.key_id == minted.api_key.pk
    assert principal.allows_model("gpt-5")
    assert not principal.allows_model("claude-opus-4-6")
    assert principal.spend_limit_micros == 5_000_000


@pytest.mark.parametrize("raw", [None, "", "sk-123", "ck_unknown", "ck_" + "x" * 300])
def test_authenticate_rejects_bad_keys(user, raw):
    assert api_key_authenticate(raw_key=raw) is None


def test_cache_hit_needs_no_query(user, django_assert_num_queries):
    minted = api_key_mint(user=user)
    assert api_key_authenticate(raw_key=minted.raw_key) is not None
    with django_assert_num_queries(0):
        assert api_key_authenticate(raw_key=minted.raw_key) is not None


def test_revocation_is_effective_at_once(user):
    minted = api_key_mint(user=user)
    assert api_key_authenticate(raw_key=minted.raw_key) is not None  # cached now
    api_key_revoke(api_key=minted.api_key)
    assert api_key_authenticate(raw_key=minted.raw_key) is None
    assert ApiKey.objects.get(pk=minted.api_key.pk).status == "revoked"


def test_expiry_is_effective_at_once_even_when_cached(user, monkeypatch):
    minted = api_key_mint(user=user, expires_at=timezone.now() + timedelta(minutes=5))
    assert api_key_authenticate(raw_key=minted.raw_key) is not None
    principal = cache.get(api_key_cache_key(minted.api_key.key_hash))
    # Move the clock just past the expiry; the cache entry is untouched.
    monkeypatch.setattr("accounts.selectors.time.time", lambda: principal.expires_at + 0.001)
    assert api_key_authenticate(raw_key=minted.raw_key) is None


def test_already_expired_key_is_refused(user):
    minted = api_key_mint(user=user, expires_at=timezone.now() - timedelta(seconds=1))
    assert api_key_authenticate(raw_key=minted.raw_key) is None


def test_deactivating_user_invalidates_cached_keys(user):
    minted = api_key_mint(user=user)
    assert api_key_authenticate(raw_key=minted.raw_key) is not None
    user.is_active = False
    user.save()
    assert api_key_authenticate(raw_key=minted.raw_key) is None


def test_admin_edit_of_allowlist_takes_effect_at_once(user):
    minted = api_key_mint(user=user)
    assert api_key_authenticate(raw_key=minted.raw_key).allows_model("gpt-5")
    key = ApiKey.objects.get(pk=minted.api_key.pk)
    key.allowed_models = ["claude-opus-4-6"]
    key.save()
    assert not api_key_authenticate(raw_key=minted.raw_key).allows_model("gpt-5")


def test_last_used_is_written_at_most_once_a_minute(user, django_assert_num_queries):
    minted = api_key_mint(user=user)
    api_key_authenticate(raw_key=minted.raw_key)
    first = ApiKey.objects.get(pk=minted.api_key.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(0):
        for _ in range(5):
            api_key_authenticate(raw_key=minted.raw_key)
    assert ApiKey.objects.get(pk=minted.api_key.pk).last_used_at == first


def test_many_keys_share_one_balance(user):
    from billing.models import CreditAccount

    a = api_key_authenticate(raw_key=api_key_mint(user=user, name="a").raw_key)
    b = api_key_authenticate(raw_key=api_key_mint(user=user, name="b").raw_key)
    assert a.user_id == b.user_id
    assert CreditAccount.objects.filter(user_id=a.user_id).count() == 1


def test_revocation_racing_a_cache_miss_cannot_resurrect_the_key(user, monkeypatch):
    """A request that read the key's row just before the revocation must not
    cache that stale row afterwards."""
    from accounts import selectors

    minted = api_key_mint(user=user)
    real_load = selectors._principal_load

    def load_then_revoke(key_hash):
        principal = real_load(key_hash)  # the row as it was: active
        api_key_revoke(api_key=ApiKey.objects.get(pk=minted.api_key.pk))
        return principal

    monkeypatch.setattr(selectors, "_principal_load", load_then_revoke)
    selectors.api_key_authenticate(raw_key=minted.raw_key)
    monkeypatch.setattr(selectors, "_principal_load", real_load)
    assert api_key_authenticate(raw_key=minted.raw_key) is None


def test_edit_racing_a_cache_miss_is_not_overwritten(user, monkeypatch):
    from accounts import selectors

    minted = api_key_mint(user=user)
    real_load = selectors._principal_load

    def load_then_edit(key_hash):
        principal = real_load(key_hash)
        key = ApiKey.objects.get(pk=minted.api_key.pk)
        key.allowed_models = ["gpt-5"]
        key.save()
        return principal

    monkeypatch.setattr(selectors, "_principal_load", load_then_edit)
    selectors.api_key_authenticate(raw_key=minted.raw_key)
    monkeypatch.setattr(selectors, "_principal_load", real_load)
    principal = api_key_authenticate(raw_key=minted.raw_key)
    assert not principal.allows_model("claude-opus-4-6")


def test_invalidation_inside_a_transaction_is_repeated_after_commit(user, django_capture_on_commit_callbacks):
    from accounts.selectors import KEY_INVALID

    minted = api_key_mint(user=user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api_key_revoke(api_key=minted.api_key)
    assert len(callbacks) == 1
    cache.delete(api_key_cache_key(minted.api_key.key_hash))
    callbacks[0]()
    assert cache.get(api_key_cache_key(minted.api_key.key_hash)) == KEY_INVALID
