"""Writes for users and API keys."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

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
    api_key_cache_invalidate(key_hashes=[api_key.key_hash])
    return api_key


def api_key_cache_invalidate(*, key_hashes: list[str]) -> None:
    """Forget cached authentications so a change takes effect on the next request.

    With Redis this reaches every process at once; the cache is the only
    place authentication results are kept."""
    if key_hashes:
        cache.delete_many([api_key_cache_key(h) for h in key_hashes])
