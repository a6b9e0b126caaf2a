"""Portal pages: landing, overview, usage, jobs and the public docs. Thin:
reads come from dashboard.selectors, writes from each app's services."""

import csv
from datetime import UTC

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from billing.models import micros_to_credits
from catalog.selectors import catalog_snapshot
from dashboard import charts, selectors
from dashboard.forms import UsageFilterForm
from dashboard.snippets import base_urls, quickstart_snippets
from dashboard.templatetags import portal as portal_tags
from media_jobs.models import MediaJob
from media_jobs.presenters import job_output_url
from media_jobs.webhooks import SIGNATURE_HEADER, webhook_secret_get_or_create
from media_jobs.webhooks import webhook_secret_rotate as webhook_secret_rotate_service

DEFAULT_MIN_BALANCE_MICROS = 200_000_000


def _min_balance_micros() -> int:
    # The gateway's gate for LLM calls (the docs: 200 credits = $2).
    return getattr(settings, "GATEWAY_MIN_BALANCE_MICROS", DEFAULT_MIN_BALANCE_MICROS)


def _public_base() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/")


def landing(request):
    return render(request, "dashboard/landing.html", {"model_count": len(catalog_snapshot().models)})


@login_required
def overview(request):
    base = _public_base()
    context = {
        "stats": selectors.overview_for_user(user=request.user),
        "month_start": selectors.month_start(),
        "recent": selectors.recent_usage(user=request.user),
        "base_url": base_urls(base)["openai"],
        "urls": base_urls(base),
        "snippets": quickstart_snippets(base_url=base),
        "min_balance_micros": _min_balance_micros(),
    }
    return render(request, "dashboard/overview.html", context)


def docs(request):
    base = _public_base()
    context = {
        "urls": base_urls(base),
        "snippets": quickstart_snippets(base_url=base),
        "endpoints": selectors.endpoint_docs(),
        "model_groups": selectors.model_catalog(),
        "aliases": selectors.model_aliases(),
        "min_balance_micros": _min_balance_micros(),
        "key_rate_limit": getattr(settings, "RATE_LIMIT_KEY_PER_HOUR", 1000),
        "user_rate_limit": getattr(settings, "RATE_LIMIT_USER_PER_HOUR", 1000),
    }
    return render(request, "dashboard/docs.html", context)


USAGE_PAGE_SIZE = 50
CSV_MAX_ROWS = 100_000
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _usage_filters(request) -> tuple[UsageFilterForm, selectors.UsageFilters]:
    form = UsageFilterForm(request.GET)
    if form.is_valid():
        data = form.cleaned_data
    else:  # a malformed filter falls back to the defaults (last 30 days)
        defaults = UsageFilterForm({})
        defaults.is_valid()
        data = defaults.cleaned_data
    filters = selectors.UsageFilters(
        start=data["start"],
        end=data["end"],
        model=data.get("model") or "",
        key_id=data.get("key"),
        endpoint=data.get("endpoint") or "",
        status=data.get("status") or "",
    )
    return form, filters


@login_required
def usage(request):
    form, filters = _usage_filters(request)
    records = selectors.usage_records(user=request.user, filters=filters)
    daily = selectors.usage_daily(records=records, filters=filters)
    by_model = selectors.usage_by_model(records=records)
    top_cost = max((m.cost_micros for m in by_model), default=0)
    top_requests = max((m.requests for m in by_model), default=0)
    page = Paginator(records, USAGE_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "filters": filters,
        "options": selectors.usage_filter_options(user=request.user),
        "totals": selectors.usage_totals(records=records),
        "spend_chart": charts.bar_chart(
            [(p.day, p.cost_micros) for p in daily],
            label="Spend per day (credits)",
            scale=1_000_000,
            tooltip=lambda v: f"{portal_tags.credits(v)} credits",
        ),
        "requests_chart": charts.bar_chart(
            [(p.day, p.requests) for p in daily],
            label="Requests per day",
            tooltip=lambda v: f"{v:,} request{'s' if v != 1 else ''}",
        ),
        "by_model_cost": [
            {"usage": m, "pct": round(100 * m.cost_micros / top_cost) if top_cost else 0} for m in by_model
        ],
        "by_model_requests": [
            {"usage": m, "pct": round(100 * m.requests / top_requests) if top_requests else 0}
            for m in sorted(by_model, key=lambda m: (-m.requests, m.model))
        ],
        "page": page,
        "query": query.urlencode(),
    }
    return render(request, "dashboard/usage.html", context)


def _csv_cell(value) -> str:
    # A cell starting like a formula would run in a spreadsheet; the model
    # name and error text come from API callers and upstreams.
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_CSV_FORMULA_START) else text


@login_required
def usage_csv(request):
    _, filters = _usage_filters(request)
    records = selectors.usage_records(user=request.user, filters=filters)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="hypereal-usage-{filters.start}-{filters.end}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "time_utc", "request_id", "endpoint", "model_requested", "model_served", "key_name", "key",
            "status_code", "outcome", "stream", "input_tokens", "cached_input_tokens", "output_tokens",
            "reasoning_tokens", "cost_credits", "estimated", "latency_ms", "ttft_ms", "error",
        ]
    )  # fmt: skip
    for r in records[:CSV_MAX_ROWS].iterator(chunk_size=2000):
        key = r.api_key
        writer.writerow(
            [
                r.created_at.astimezone(UTC).isoformat(),
                _csv_cell(r.request_id),
                _csv_cell(r.endpoint),
                _csv_cell(r.model_requested),
                _csv_cell(r.model_served),
                _csv_cell(key.name if key else ""),
                key.masked if key else "",
                r.status_code,
                r.outcome,
                "true" if r.stream else "false",
                r.input_tokens,
                r.cached_input_tokens,
                r.output_tokens,
                r.reasoning_tokens,
                f"{micros_to_credits(r.cost_micros):f}",
                "true" if r.estimated else "false",
                r.latency_ms,
                "" if r.ttft_ms is None else r.ttft_ms,
                _csv_cell(r.error),
            ]
        )
    return response


@login_required
@require_GET
def jobs(request):
    job_type = request.GET.get("type", "")
    status = request.GET.get("status", "")
    if job_type not in MediaJob.Type.values:
        job_type = ""
    if status not in MediaJob.Status.values:
        status = ""
    page = Paginator(
        selectors.jobs_for_user(user=request.user, job_type=job_type, status=status), selectors.JOBS_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    rows = [{"job": job, "outputs": [(o, job_output_url(o)) for o in job.outputs.all()]} for job in page]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "rows": rows,
        "job_type": job_type,
        "status": status,
        "types": MediaJob.Type.choices,
        "statuses": MediaJob.Status.choices,
        "query": query.urlencode(),
        "secret": webhook_secret_get_or_create(user=request.user),
        "signature_header": SIGNATURE_HEADER,
        "live": selectors.jobs_in_flight(user=request.user),
        "live_state": selectors.jobs_live_state(user=request.user),
        "api_base": base_urls(_public_base())["openai"],
    }
    return render(request, "dashboard/jobs.html", context)


@never_cache
@login_required
@require_GET
def jobs_live(request):
    return JsonResponse(
        {"state": selectors.jobs_live_state(user=request.user), "active": selectors.jobs_in_flight(user=request.user)}
    )


@login_required
@require_POST
def webhook_secret_rotate(request):
    webhook_secret_rotate_service(user=request.user)
    messages.success(
        request, "New webhook signing secret created. Deliveries from now on (retries included) are signed with it."
    )
    return redirect("dashboard:jobs")
