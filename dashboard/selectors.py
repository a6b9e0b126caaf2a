"""Reads for the portal pages. Every query starts from the signed-in user's
rows (user=...), so nothing here can return another user's data."""

import hashlib
from dataclasses import dataclass
from datetime import UTC as dt_utc
from datetime import date, datetime, time, timedelta

from django.db.models import Count, F, Prefetch, Q, Sum, Value
from django.db.models.functions import Coalesce, NullIf, TruncDate
from django.utils import timezone

from accounts.models import ApiKey
from billing.models import LedgerEntry
from billing.selectors import credit_account_for_user, spend_between
from catalog.models import AiModel, Endpoint
from catalog.selectors import catalog_snapshot
from gateway.models import UsageRecord
from media_jobs.models import MediaJob, WebhookAttempt, WebhookDelivery
from media_jobs.selectors import job_list_for_user


def month_start(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return now.astimezone(timezone.get_fixed_timezone(0)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Overview:
    balance_micros: int
    held_micros: int
    spend_month_micros: int
    requests_month: int
    active_keys: int
    has_topup: bool
    has_key: bool
    has_call: bool

    @property
    def available_micros(self) -> int:
        return self.balance_micros - self.held_micros


def overview_for_user(*, user) -> Overview:
    account = credit_account_for_user(user=user)
    start = month_start()
    now = timezone.now()
    keys = ApiKey.objects.filter(user=user)
    active_keys = sum(1 for k in keys if k.revoked_at is None and not k.is_expired(now))
    return Overview(
        balance_micros=account.balance_micros if account else 0,
        held_micros=account.held_micros if account else 0,
        spend_month_micros=spend_between(account_id=account.pk, start=start) if account else 0,
        requests_month=UsageRecord.objects.filter(user=user, created_at__gte=start).count(),
        active_keys=active_keys,
        has_topup=bool(account)
        and (
            account.balance_micros > 0
            or LedgerEntry.objects.filter(account=account, kind=LedgerEntry.Kind.TOPUP).exists()
        ),
        has_key=bool(keys),
        has_call=UsageRecord.objects.filter(user=user).exists(),
    )


def recent_usage(*, user, limit: int = 5):
    return UsageRecord.objects.filter(user=user).select_related("api_key").order_by("-created_at")[:limit]


# --- Docs -----------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointDoc:
    name: str
    method: str
    path: str
    wire: str
    auth: str
    summary: str
    model_count: int = 0


_ENDPOINT_DOCS = [
    (
        Endpoint.CHAT_COMPLETIONS,
        "/chat/completions",
        "OpenAI Chat Completions",
        "Bearer",
        "GPT, Gemini, Qwen, DeepSeek and every other non-Anthropic LLM. Streams with usage in the final chunk.",
    ),
    (
        Endpoint.MESSAGES,
        "/messages",
        "Anthropic Messages",
        "x-api-key",
        "Claude models with extended thinking and 15 s SSE pings. For the Anthropic SDK and Claude Code.",
    ),
    (
        Endpoint.RESPONSES,
        "/responses",
        "OpenAI Responses",
        "Bearer",
        "The Responses API (`input` instead of `messages`), for the Agents SDK and Codex.",
    ),
    (
        Endpoint.CODEX_RESPONSES,
        "/codex/responses",
        "OpenAI Responses",
        "Bearer",
        'Codex CLI\'s `wire_api = "responses"` provider path.',
    ),
    (
        Endpoint.GEMINI,
        "/gemini",
        "Gemini (native or OpenAI shape)",
        "x-goog-api-key or ?key=",
        "Gemini-native `contents` bodies, or OpenAI `messages`; the Google SDK path form "
        "`/gemini/v1beta/models/{model}:generateContent` also works.",
    ),
    (
        Endpoint.CHAT,
        "/chat",
        "Simple chat",
        "Bearer",
        "Minimal chat with `creditsUsed` in the answer; the model defaults when omitted.",
    ),
    (
        Endpoint.IMAGES_GENERATIONS,
        "/images/generations",
        "OpenAI Images",
        "Bearer",
        "Synchronous image generation; billed per image returned.",
    ),
    (
        Endpoint.IMAGES_GENERATE,
        "/images/generate",
        "Media API",
        "Bearer",
        "Synchronous image generation with `mode: auto | fast`.",
    ),
    (
        Endpoint.VIDEO_GENERATIONS,
        "/video/generations",
        "Media (long-poll)",
        "Bearer",
        "Synchronous long-poll: the connection stays open until the clip is ready.",
    ),
    (
        Endpoint.VIDEOS_GENERATE,
        "/videos/generate",
        "Media API (job)",
        "Bearer",
        "Asynchronous video job: poll `/jobs/{id}` or receive a signed webhook.",
    ),
    (
        Endpoint.AUDIO_GENERATIONS,
        "/audio/generations",
        "Fish Audio",
        "Bearer",
        "Text-to-speech, voice cloning and speech recognition; billed per request.",
    ),
    (
        Endpoint.AUDIO_GENERATE,
        "/audio/generate",
        "Media API",
        "Bearer",
        "Speech with emotion syntax, voice clone and ASR.",
    ),
    (Endpoint.THREED_GENERATE, "/3d/generate", "Media API (job)", "Bearer", "Image or text to a GLB 3D model."),
]


def endpoint_docs() -> list[EndpointDoc]:
    models = catalog_snapshot().models.values()
    docs = []
    for endpoint, path, wire, auth, summary in _ENDPOINT_DOCS:
        count = sum(1 for m in models if m.serves(endpoint))
        docs.append(EndpointDoc(endpoint.value, "POST", path, wire, auth, summary, count))
    docs.append(
        EndpointDoc(
            "jobs", "GET", "/jobs/{id}", "Media API", "Bearer", "Status and output of a media job (poll until done)."
        )
    )
    docs.append(
        EndpointDoc(
            "models",
            "GET",
            "/models",
            "OpenAI model list",
            "none",
            "Every model with its price (credits per million tokens) and endpoints; no key needed.",
            len(models),
        )
    )
    return docs


@dataclass(frozen=True)
class ModelRow:
    slug: str
    name: str
    kind: str
    family: str
    endpoints: list[str]
    pricing_unit: str
    unit_label: str
    input_micros: int | None
    cached_input_micros: int | None
    output_micros: int | None
    unit_price_micros: int | None
    minimum_micros: int | None
    fast_surcharge_micros: int | None
    context_window: int | None


def model_catalog() -> list[tuple[str, list[ModelRow]]]:
    """The live catalog grouped by kind, with the price in force now."""
    kinds = dict(AiModel.Kind.choices)
    units = dict(AiModel.PricingUnit.choices)
    endpoint_paths = {e.value: path for e, path, *_ in _ENDPOINT_DOCS}
    snapshot = catalog_snapshot()
    groups: dict[str, list[ModelRow]] = {}
    for model in snapshot.models.values():
        price = model.price_at()
        per_mtok = model.pricing_unit == AiModel.PricingUnit.PER_MTOK
        row = ModelRow(
            slug=model.slug,
            name=model.display_name,
            kind=model.kind,
            family=model.family,
            endpoints=sorted(endpoint_paths.get(e, e) for e in model.endpoints),
            pricing_unit=model.pricing_unit,
            unit_label=units.get(model.pricing_unit, model.pricing_unit),
            input_micros=price.input_per_mtok_micros if price and per_mtok else None,
            cached_input_micros=price.cached_input_per_mtok_micros if price and per_mtok else None,
            output_micros=price.output_per_mtok_micros if price and per_mtok else None,
            unit_price_micros=price.unit_price_micros if price and not per_mtok else None,
            minimum_micros=price.minimum_charge_micros if price else None,
            fast_surcharge_micros=price.fast_surcharge_micros if price else None,
            context_window=model.context_window,
        )
        groups.setdefault(model.kind, []).append(row)
    order = [k for k, _ in AiModel.Kind.choices]
    return [(kinds[k], groups[k]) for k in order if k in groups]


def model_aliases() -> dict[str, str]:
    return dict(sorted(catalog_snapshot().aliases.items()))


# --- Usage -------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageFilters:
    start: date
    end: date  # inclusive
    model: str = ""
    key_id: int | None = None
    endpoint: str = ""
    status: str = ""  # "", "ok" or "error"


@dataclass(frozen=True)
class DayPoint:
    day: date
    requests: int
    cost_micros: int


@dataclass(frozen=True)
class ModelUsage:
    model: str
    requests: int
    cost_micros: int
    tokens: int


@dataclass(frozen=True)
class UsageTotals:
    requests: int
    cost_micros: int
    input_tokens: int
    output_tokens: int
    errors: int


def _model_expression():
    # The model that served the request, or the one asked for when none did.
    return Coalesce(NullIf("model_served", Value("")), "model_requested")


def usage_records(*, user, filters: UsageFilters):
    """The user's usage records matching the filters, newest first."""
    utc = dt_utc
    start = datetime.combine(filters.start, time.min, tzinfo=utc)
    end = datetime.combine(filters.end + timedelta(days=1), time.min, tzinfo=utc)
    qs = UsageRecord.objects.filter(user=user, created_at__gte=start, created_at__lt=end).annotate(
        model_name=_model_expression()
    )
    if filters.model:
        qs = qs.filter(model_name=filters.model)
    if filters.key_id:
        qs = qs.filter(api_key_id=filters.key_id)
    if filters.endpoint:
        qs = qs.filter(endpoint=filters.endpoint)
    if filters.status == "ok":
        qs = qs.filter(status_code__lt=400)
    elif filters.status == "error":
        qs = qs.filter(status_code__gte=400)
    return qs.select_related("api_key").order_by("-created_at", "-id")


def usage_daily(*, records, filters: UsageFilters) -> list[DayPoint]:
    rows = (
        records.order_by()
        .annotate(day=TruncDate("created_at", tzinfo=dt_utc))
        .values("day")
        .annotate(requests=Count("id"), cost=Sum("cost_micros"))
    )
    by_day = {row["day"]: row for row in rows}
    points = []
    day = filters.start
    while day <= filters.end:
        row = by_day.get(day)
        points.append(DayPoint(day, row["requests"] if row else 0, (row["cost"] or 0) if row else 0))
        day += timedelta(days=1)
    return points


def usage_by_model(*, records, limit: int = 10) -> list[ModelUsage]:
    rows = (
        records.order_by()
        .values("model_name")
        .annotate(
            requests=Count("id"),
            cost=Sum("cost_micros"),
            tokens=Sum(F("input_tokens") + F("output_tokens")),
        )
        .order_by("-cost", "-requests", "model_name")[:limit]
    )
    return [ModelUsage(r["model_name"], r["requests"], r["cost"] or 0, r["tokens"] or 0) for r in rows]


def usage_totals(*, records) -> UsageTotals:
    agg = records.order_by().aggregate(
        requests=Count("id"),
        cost=Sum("cost_micros"),
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
        errors=Count("id", filter=Q(status_code__gte=400)),
    )
    return UsageTotals(
        requests=agg["requests"] or 0,
        cost_micros=agg["cost"] or 0,
        input_tokens=agg["input_tokens"] or 0,
        output_tokens=agg["output_tokens"] or 0,
        errors=agg["errors"] or 0,
    )


def usage_filter_options(*, user) -> dict:
    """Choices for the filters, from the user's own history and keys."""
    base = UsageRecord.objects.filter(user=user).annotate(model_name=_model_expression()).order_by()
    return {
        "models": list(base.values_list("model_name", flat=True).distinct().order_by("model_name")),
        "endpoints": list(base.values_list("endpoint", flat=True).distinct().order_by("endpoint")),
        "keys": list(ApiKey.objects.filter(user=user).order_by("-created_at")),
    }


# --- Media jobs ------------------------------------------------------------------

JOBS_PAGE_SIZE = 25


def jobs_for_user(*, user, job_type: str = "", status: str = ""):
    """The user's media jobs with their outputs, webhook deliveries and every
    delivery attempt, newest first."""
    return (
        job_list_for_user(user=user, job_type=job_type or None, status=status or None)
        .select_related("api_key")
        .prefetch_related(
            "outputs",
            Prefetch(
                "webhook_deliveries",
                queryset=WebhookDelivery.objects.order_by("created_at", "id").prefetch_related(
                    Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number"))
                ),
            ),
        )
    )


def jobs_live_state(*, user) -> str:
    """A fingerprint of what the jobs page shows live: the status and progress
    of the recent jobs and their deliveries. The page reloads when it moves."""
    jobs = MediaJob.objects.filter(user=user).order_by("-created_at", "-id")[:JOBS_PAGE_SIZE]
    rows = [f"{j.public_id}:{j.status}:{j.progress}" for j in jobs.only("public_id", "status", "progress")]
    deliveries = WebhookDelivery.objects.filter(job__user=user).order_by("-created_at", "-id")[:JOBS_PAGE_SIZE]
    rows += [f"{d.pk}:{d.status}:{d.attempts}" for d in deliveries.only("pk", "status", "attempts")]
    return hashlib.sha256("|".join(rows).encode()).hexdigest()[:16]


def jobs_in_flight(*, user) -> bool:
    return (
        MediaJob.objects.filter(user=user, status__in=MediaJob.ACTIVE_STATUSES).exists()
        or WebhookDelivery.objects.filter(job__user=user, status=WebhookDelivery.Status.PENDING).exists()
    )
