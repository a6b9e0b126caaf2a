"""Reads for users and API keys, including the cached key authentication
that every gateway request goes through."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.services import API_KEY_PREFIX, api_key_cache_key, api_key_hash

# Cache values besides a KeyPrincipal: a remembered unknown/revoked key, and
# a marker left by an edit that says "read the database, do not cache yet".
KEY_INVALID = "invalid"
KEY_RELOAD = "reload"
_INVALID_CACHE_SECONDS = 30
LAST_USED_RESOLUTION_SECONDS = 60


@dataclass(frozen=True, slots=True)
class KeyPrincipal:
    """What a request needs to know about its key, cached after the first lookup."""

    key_id: int
    user_id: int
    key_hash: str
    allowed_models: frozenset[str]
    spend_limit_micros: int | None
    spend_limit_period: str
    key_rate_limit_per_hour: int | None
    user_rate_limit_per_hour: int | None
    expires_at: float | None

    def allows_model(self, model_id: str) -> bool:
        return not self.allowed_models or model_id in self.allowed_models


def _principal_load(key_hash: str) -> KeyPrincipal | None:
    row = (
        ApiKey.objects.select_related("user")
        .filter(key_hash=key_hash, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if row is None:
        return None
    return KeyPrincipal(
        key_id=row.pk,
        user_id=row.user_id,
        key_hash=key_hash,
        allowed_models=frozenset(row.allowed_models or ()),
        spend_limit_micros=row.spend_limit_micros,
        spend_limit_period=row.spend_limit_period,
        key_rate_limit_per_hour=row.rate_limit_per_hour,
        user_rate_limit_per_hour=row.user.rate_limit_per_hour,
        expires_at=row.expires_at.timestamp() if row.expires_at else None,
    )


def principal_from_cache_value(value, *, now: float | None = None) -> tuple[bool, KeyPrincipal | None]:
    """Interpret a cached value: (True, principal or None) when the cache
    decides, (False, None) when the database must be read."""
    if isinstance(value, KeyPrincipal):
        # Expiry is checked on every request against the cached timestamp,
        # so it takes effect to the second without any invalidation.
        if value.expires_at is not None and value.expires_at <= (now or time.time()):
            return True, None
        return True, value
    if value == KEY_INVALID:
        return True, None
    return False, None


def api_key_authenticate(*, raw_key: str | None) -> KeyPrincipal | None:
    """The principal for a presented key, or None for a missing, unknown,
    revoked or expired key. No database query on a cache hit."""
    if not raw_key or not raw_key.startswith(API_KEY_PREFIX) or len(raw_key) > 256:
        return None
    key_hash = api_key_hash(raw_key)
    cache_key = api_key_cache_key(key_hash)
    cached = cache.get(cache_key)
    decided, principal = principal_from_cache_value(cached)
    if not decided:
        principal = _principal_load(key_hash)
        if cached is None:
            # `add`, not `set`: if a revocation or edit lands between the read
            # above and this line, its tombstone or reload marker wins and the
            # stale row just read is not cached.
            if principal is None:
                cache.add(cache_key, KEY_INVALID, _INVALID_CACHE_SECONDS)
            else:
                cache.add(cache_key, principal, settings.API_KEY_CACHE_SECONDS)
        if principal is not None and principal.expires_at is not None and principal.expires_at <= time.time():
            return None
    if principal is not None:
        api_key_touch(key_id=principal.key_id)
    return principal


def api_key_touch(*, key_id: int) -> None:
    """Record use at most once a minute per key, not on every request."""
    if cache.add(f"apikey:touched:{key_id}", 1, LAST_USED_RESOLUTION_SECONDS):
        ApiKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())


def api_key_list(*, user: User):
    return ApiKey.objects.filter(user=user).order_by("-created_at")
