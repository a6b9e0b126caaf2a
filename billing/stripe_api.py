"""The one place the Stripe client is built from settings.

STRIPE_API_BASE points the official library at another API server (the
local fake Stripe of the tests); unset, it talks to api.stripe.com."""

from django.conf import settings
from stripe import StripeClient


def stripe_configured() -> bool:
    """Top-ups need both keys: the secret key creates Checkout Sessions and
    the webhook secret is the only way credits are ever added."""
    return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_WEBHOOK_SECRET)


def stripe_client() -> StripeClient:
    base = {"api": settings.STRIPE_API_BASE.rstrip("/")} if settings.STRIPE_API_BASE else None
    return StripeClient(settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2)
