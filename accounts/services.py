"""Writes for users and API keys."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, User

API_KEY_PREFIX = "ck_"
# 32 random bytes -> 43 URL-safe characters after the prefix.
API_KEY_RANDOM_BYTES = 32


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_cache_key(key_hash: str) -> str:
    return f"apikey:{key_hash}"


@transaction.atomic
def user_create(*, email: str, password: str | None, name: str = "", is_staff: bool = False) -> User:
    from billing.services import credit_account_ensure

    user = User.objects.create_user(email=email, password=password, name=name, is_staff=is_staff, is_superuser=is_staff)
    credit_account_ensure(user=user)
    return user


@dataclass(frozen=True)
class MintedKey:
    api_key: ApiKey
    raw_key: str


def api_key_mint(
    *,
    user: User,
    name: str = "default",
    expires_at: datetime | None = None,
    allowed_models: list[str] | None = None,
    spend_limit_micros: int | None = None,
    spend_limit_period: str = ApiKey.SpendPeriod.MONTH,
    rate_limit_per_hour: int | None = None,
) -> MintedKey:
    """Create a key and return it with its plaintext, which is never stored."""
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(API_KEY_RANDOM_BYTES)
    api_key = ApiKey.objects.create(
        user=user,
        name=name.strip() or "default",
        key_hash=api_key_hash(raw_key),
        prefix=raw_key[:7],
        last_four=raw_key[-4:],
        expires_at=expires_at,
        allowed_models=sorted(set(allowed_models or [])),
        spend_limit_micros=spend_limit_micros,
        spend_limit_period=spend_limit_period,
        rate_limit_per_hour=rate_limit_per_hour,
    )
    return MintedKey(api_key=api_key, raw_key=raw_key)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        api_key.refresh_from_db(fields=["revoked_at"])
    api_key_cache_invalidate(key_hashes=[api_key.key_hash], revoked=True)
    return api_key


# How long an edited key is read from the database instead of the cache: long
# enough that a request which read the old row before the edit cannot cache it.
RELOAD_MARKER_SECONDS = 60


def api_key_cache_invalidate(*, key_hashes: list[str], revoked: bool = False) -> None:
    """Make a change to keys take effect on the next request, in every
    process when the cache is Redis.

    Entries are overwritten, not deleted: a revoked key gets a tombstone, an
    edited one a reload marker. A request that read the row just before the
    change populates the cache with `add`, which cannot overwrite either, so
    it cannot bring back the old state. Runs after commit when called inside
    a transaction, so readers never reload the uncommitted old row."""
    if not key_hashes:
        return
    from accounts.selectors import KEY_INVALID, KEY_RELOAD

    def write() -> None:
        if revoked:
            cache.set_many({api_key_cache_key(h): KEY_INVALID for h in key_hashes}, settings.API_KEY_CACHE_SECONDS)
        else:
            cache.set_many({api_key_cache_key(h): KEY_RELOAD for h in key_hashes}, RELOAD_MARKER_SECONDS)

    write()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(write)
