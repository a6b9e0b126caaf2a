import json

import pytest
from django.test import Client

from tests.billing.fake_stripe import FakeStripe

WEBHOOK_URL = "/billing/stripe/webhook/"


@pytest.fixture
def fake_stripe():
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def stripe_on(settings, fake_stripe):
    """Stripe configured and pointed at the local fake."""
    settings.STRIPE_SECRET_KEY = fake_stripe.secret_key
    settings.STRIPE_WEBHOOK_SECRET = fake_stripe.webhook_secret
    settings.STRIPE_API_BASE = fake_stripe.base_url
    return fake_stripe


@pytest.fixture
def webhook(fake_stripe):
    """POST an event to the webhook endpoint as Stripe does (signed raw body)."""
    stripe_client = Client()

    def post(event=None, *, payload: str | None = None, signature: str | None = None, secret: str | None = None):
        body = payload if payload is not None else json.dumps(event)
        header = signature if signature is not None else fake_stripe.sign(body, secret=secret)
        extra = {"HTTP_STRIPE_SIGNATURE": header} if header else {}
        return stripe_client.post(WEBHOOK_URL, data=body, content_type="application/json", **extra)

    def flush():
        return [post(event) for event in fake_stripe.take_outbox()]

    post.flush = flush
    return post
