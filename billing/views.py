"""Top-up pages, billing history and the Stripe webhook.

The success and cancel pages only read the top-up: credits are added by
Stripe's signed webhook alone, so a forged or replayed return URL can
never add credits."""

import logging

import stripe
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.decorators import ratelimit

from billing import selectors
from billing.forms import TopUpForm
from billing.models import LedgerEntry, TopUp
from billing.stripe_api import stripe_configured
from billing.topups import TopUpError, TopUpsNotConfigured, stripe_event_apply, stripe_event_construct, topup_start

logger = logging.getLogger(__name__)


def _topup_rate(group, request):
    return settings.PORTAL_RATE_LIMITS["topup_user"]


@never_cache
@login_required
@ratelimit(group="topup", key="user", rate=_topup_rate, method="POST", block=False)
@require_http_methods(["GET", "POST"])
def topup(request):
    configured = stripe_configured()
    form = TopUpForm(request.POST or None)
    status = 200
    form_error = None
    if request.method == "POST":
        if not configured:
            form_error = "Top-ups are not configured on this server."
            status = 503
        elif getattr(request, "limited", False):
            form_error = "You started many top-ups in the last hour. Try again later."
            status = 429
        elif form.is_valid():
            try:
                started = topup_start(
                    user=request.user,
                    amount_cents=form.cleaned_data["amount"],
                    success_url=request.build_absolute_uri(reverse("dashboard:topup_success")),
                    cancel_url=request.build_absolute_uri(reverse("dashboard:topup_cancel")),
                )
            except TopUpsNotConfigured:
                form_error = "Top-ups are not configured on this server."
                status = 503
            except TopUpError as exc:
                form_error = str(exc)
                status = 502
            else:
                return redirect(started.checkout_url, permanent=False)
        else:
            status = 400
    context = {
        "form": form,
        "form_error": form_error,
        "configured": configured,
        "presets": [(dollars, dollars * 100) for dollars in TopUpForm.PRESETS],
        "recent": selectors.topups_for_user(user=request.user)[:5],
        "min_cents": settings.TOPUP_MIN_CENTS,
    }
    return render(request, "billing/topup.html", context, status=status)


def _own_topup(request) -> TopUp | None:
    topup_id = request.GET.get("topup", "")
    if not topup_id.isdigit():
        return None
    return TopUp.objects.filter(pk=int(topup_id), user=request.user).first()


@never_cache
@login_required
@require_GET
def topup_success(request):
    topup = _own_topup(request)
    if topup is None:
        return redirect("dashboard:topup")
    return render(request, "billing/topup_return.html", {"topup": topup, "returned": "success"})


@never_cache
@login_required
@require_GET
def topup_cancel(request):
    topup = _own_topup(request)
    if topup is None:
        return redirect("dashboard:topup")
    if topup.status == TopUp.Status.PENDING:
        messages.info(request, "Checkout canceled. Nothing was charged.")
    return render(request, "billing/topup_return.html", {"topup": topup, "returned": "cancel"})


@never_cache
@login_required
@require_GET
def topup_status(request, topup_id: int):
    topup = get_object_or_404(TopUp, pk=topup_id, user=request.user)
    return JsonResponse({"id": topup.pk, "state": topup.status, "credited": topup.credited})


HISTORY_PAGE_SIZE = 50


@login_required
@require_GET
def billing_history(request):
    """Every ledger entry of the signed-in user's account, newest first, with
    the running balance after it, and the top-ups with their receipts."""
    kind = request.GET.get("kind", "")
    if kind not in LedgerEntry.Kind.values:
        kind = ""
    entries = selectors.ledger_history_for_user(user=request.user, kind=kind or None)
    page = Paginator(entries, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "kind": kind,
        "kinds": LedgerEntry.Kind.choices,
        "account": selectors.credit_account_for_user(user=request.user),
        "topups": selectors.topups_for_user(user=request.user)[:20],
    }
    return render(request, "billing/history.html", context)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe → us. 400 for a bad signature or body (nothing is changed);
    200 for every verified event, handled or not, so Stripe stops retrying;
    500 (raised) when applying failed, so Stripe delivers it again."""
    try:
        event = stripe_event_construct(payload=request.body, signature=request.headers.get("Stripe-Signature"))
    except stripe.SignatureVerificationError:
        logger.warning("Stripe webhook with a bad signature refused")
        return HttpResponseBadRequest("invalid signature", content_type="text/plain")
    except (ValueError, UnicodeDecodeError):
        return HttpResponseBadRequest("invalid payload", content_type="text/plain")
    result = stripe_event_apply(event=event)
    logger.info("Stripe event %s (%s): %s", result.event_id, result.type, result.outcome)
    return HttpResponse(f"{result.outcome}\n", content_type="text/plain")
