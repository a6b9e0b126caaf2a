"""Staff see jobs, outputs, webhook deliveries and every attempt; the one
write action fails and refunds through the service."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from billing.models import CreditAccount
from media_jobs.models import MediaJob, WebhookAttempt, WebhookDelivery
from media_jobs.services import StoredOutput, job_complete, job_submit
from media_jobs.webhooks import webhook_secret_get_or_create
from tests.media_jobs.support import model_view

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def make_job(user, *, webhook_url=""):
    return job_submit(
        user_id=user.pk,
        api_key_id=None,
        model=model_view("gpt-image-2"),
        job_type="image",
        endpoint="images_generate",
        operation="generate",
        input={"prompt": "x"},
        quantity=1,
        webhook_url=webhook_url,
        deadline_seconds=600,
    )


def test_staff_sees_jobs_outputs_deliveries_and_attempts(staff_client, user, catalog):
    webhook_secret_get_or_create(user=user)
    job = make_job(user, webhook_url="https://hooks.example.com/x")
    name = default_storage.save("media_jobs/t/0.png", ContentFile(b"\x89PNG\r\n\x1a\n"))
    job_complete(
        job_id=job.pk,
        outputs=[StoredOutput(name=name, extension="png", content_type="image/png", size_bytes=8, sha256="x")],
    )
    delivery = WebhookDelivery.objects.get(job=job)
    WebhookAttempt.objects.create(delivery=delivery, number=1, status_code=503, error="HTTP 503", signature_timestamp=1)
    for url in [
        reverse("admin:media_jobs_mediajob_changelist"),
        reverse("admin:media_jobs_mediajob_change", args=[job.pk]),
        reverse("admin:media_jobs_webhookdelivery_changelist"),
        reverse("admin:media_jobs_webhookdelivery_change", args=[delivery.pk]),
        reverse("admin:media_jobs_webhookattempt_changelist"),
        reverse("admin:media_jobs_webhooksecret_changelist"),
    ]:
        response = staff_client.get(url)
        assert response.status_code == 200, url
    page = staff_client.get(reverse("admin:media_jobs_webhookdelivery_change", args=[delivery.pk])).content.decode()
    assert "HTTP 503" in page
    secrets_page = staff_client.get(reverse("admin:media_jobs_webhooksecret_changelist")).content.decode()
    assert webhook_secret_get_or_create(user=user).secret not in secrets_page


def test_staff_action_fails_and_refunds_once(staff_client, user, catalog):
    job = make_job(user)
    before = CreditAccount.objects.get(user=user).balance_micros
    url = reverse("admin:media_jobs_mediajob_changelist")
    for _ in range(2):
        staff_client.post(url, {"action": "fail_and_refund", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "cancelled"
    assert CreditAccount.objects.get(user=user).balance_micros == before + 3_000_000


def test_customers_cannot_open_the_admin(client, user):
    client.force_login(user)
    assert client.get(reverse("admin:media_jobs_mediajob_changelist")).status_code == 302
    assert MediaJob.objects.count() == 0
