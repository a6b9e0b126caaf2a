"""Values every portal page needs: the public base URL, whether Stripe is
configured, and the balance shown in the top bar. The balance is a callable,
which templates call only when they read it, so pages without the top bar
(the admin) pay no query."""

from functools import cache

from django.conf import settings

from billing.stripe_api import stripe_configured


def portal(request) -> dict:
    user = getattr(request, "user", None)
    context = {
        "public_base_url": settings.PUBLIC_BASE_URL.rstrip("/"),
        "stripe_configured": stripe_configured,
    }
    if user is not None and user.is_authenticated:

        @cache
        def nav_balance_micros() -> int:
            from billing.selectors import credit_account_for_user

            account = credit_account_for_user(user=user)
            return account.balance_micros if account else 0

        context["nav_balance_micros"] = nav_balance_micros
    return context
