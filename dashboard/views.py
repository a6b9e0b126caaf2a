"""Portal pages: landing, overview, usage, jobs and the public docs. Thin:
reads come from dashboard.selectors, writes from each app's services."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from catalog.selectors import catalog_snapshot
from dashboard import selectors
from dashboard.snippets import base_urls, quickstart_snippets

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


def _pending(title):
    @login_required
    def view(request):
        return render(request, "dashboard/pending.html", {"title": title})

    return view


usage = _pending("Usage")
usage_csv = _pending("Usage")
jobs = _pending("Media jobs")
