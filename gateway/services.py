"""The gateway's writes: a hold before a request goes upstream, and one
transaction at the end that settles the hold to the exact cost and writes the
usage record.

These are synchronous (Django's ORM transactions do not work in async code)
and each is called once per request through sync_to_async: two thread hops a
request, never one per streamed chunk.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.selectors import KeyPrincipal, api_key_touch
from billing.models import CreditAccount
from billing.services import InsufficientCredits, hold_place, hold_settle
from gateway.metering import Usage
from gateway.models import UsageRecord

_account_ids: dict[int, int] = {}
_touched: dict[int, float] = {}
_touch_lock = threading.Lock()
TOUCH_EVERY_SECONDS = 60.0


@dataclass
class KeySpendLimitReached(Exception):
    limit_micros: int
    spent_micros: int
    period: str


def _account_id(user_id: int) -> int:
    # A user's credit account never changes, so the lookup is remembered.
    account_id = _account_ids.get(user_id)
    if account_id is None:
        account_id = CreditAccount.objects.filter(user_id=user_id).values_list("pk", flat=True).first()
        if account_id is None:
            from accounts.models import User
            from billing.services import credit_account_ensure

            account_id = credit_account_ensure(user=User.objects.get(pk=user_id)).pk
        _account_ids[user_id] = account_id
    return account_id


def spend_period_start(*, period: str, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.replace(day=1) if period == "month" else start


def key_spend(*, key_id: int, period: str) -> int:
    start = spend_period_start(period=period)
    return (
        UsageRecord.objects.filter(api_key_id=key_id, created_at__gte=start).aggregate(s=Sum("cost_micros"))["s"] or 0
    )


@transaction.atomic
def call_hold(*, principal: KeyPrincipal, reference: str, amount_micros: int) -> None:
    """Reserve the request's worst case, or refuse it.

    Refused with InsufficientCredits when the available balance is below the
    minimum balance or the hold, and with KeySpendLimitReached when the key
    has spent its limit for the period (a request already in flight may
    overshoot the limit by its own cost)."""
    if principal.spend_limit_micros is not None:
        spent = key_spend(key_id=principal.key_id, period=principal.spend_limit_period)
        if spent >= principal.spend_limit_micros:
            raise KeySpendLimitReached(
                limit_micros=principal.spend_limit_micros, spent_micros=spent, period=principal.spend_limit_period
            )
    hold_place(
        account_id=_account_id(principal.user_id),
        amount_micros=amount_micros,
        reference=reference,
        minimum_available_micros=settings.GATEWAY_MIN_BALANCE_MICROS,
    )


@dataclass
class Settlement:
    request_id: str
    user_id: int
    key_id: int
    endpoint: str
    model_requested: str
    model_served: str
    provider_id: int | None
    upstream_model: str
    status_code: int
    stream: bool
    usage: Usage
    cost_micros: int
    rates: dict
    latency_ms: int
    ttft_ms: int | None
    outcome: str
    error: str = ""


def call_settle(*, s: Settlement) -> UsageRecord:
    """Charge the exact cost against the hold and write the usage record, in
    one transaction: both happen or neither does."""
    with transaction.atomic():
        hold_settle(
            reference=s.request_id,
            cost_micros=s.cost_micros,
            description=f"{s.model_served or s.model_requested} · {s.endpoint}",
            metadata={
                "model": s.model_served,
                "endpoint": s.endpoint,
                "usage": s.usage.as_dict(),
                "rates": s.rates,
            },
        )
        record = UsageRecord.objects.create(
            request_id=s.request_id,
            user_id=s.user_id,
            api_key_id=s.key_id,
            endpoint=s.endpoint,
            model_requested=s.model_requested[:200],
            model_served=s.model_served,
            provider_id=s.provider_id,
            upstream_model=s.upstream_model[:200],
            status_code=s.status_code,
            stream=s.stream,
            input_tokens=s.usage.input_tokens,
            cached_input_tokens=s.usage.cached_input_tokens,
            output_tokens=s.usage.output_tokens,
            reasoning_tokens=s.usage.reasoning_tokens,
            cost_micros=s.cost_micros,
            estimated=s.usage.estimated,
            latency_ms=s.latency_ms,
            ttft_ms=s.ttft_ms,
            outcome=s.outcome,
            error=s.error[:500],
        )
        _key_touch(s.key_id)
    return record


def _key_touch(key_id: int) -> None:
    # Last use is recorded at most once a minute per key and process.
    now = time.monotonic()
    if now - _touched.get(key_id, -TOUCH_EVERY_SECONDS) < TOUCH_EVERY_SECONDS:
        return
    with _touch_lock:
        _touched[key_id] = now
    api_key_touch(key_id=key_id)


__all__ = ["InsufficientCredits", "KeySpendLimitReached", "Settlement", "call_hold", "call_settle"]
