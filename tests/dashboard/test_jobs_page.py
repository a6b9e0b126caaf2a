from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from media_jobs.models import JobOutput, MediaJob, WebhookAttempt, WebhookDelivery, WebhookSecret
from media_jobs.webhooks import webhook_secret_get_or_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def job(user, **fields):
    defaults = {
        "type": MediaJob.Type.VIDEO,
        "endpoint": "videos_generate",
        "operation": "text_to_video",
        "model": "wan2.6-flash",
        "deadline_at": timezone.now() + timedelta(hours=1),
        "charged_micros": 25_000_000,
    }
    return MediaJob.objects.create(user=user, **{**defaults, **fields})


@pytest.fixture
def owner(make_user):
    return make_user(email="owner@example.com")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def test_empty_jobs_page_explains_how_to_start(owner_client):
    body = owner_client.get(reverse("dashboard:jobs")).content.decode()
    assert "No media jobs yet" in body and "/api/v1/videos/generate" in body and "webhook_url" in body
    assert 'data-testid="jobs-live"' not in body  # nothing in flight, no polling


def test_jobs_with_status_outputs_and_webhook_attempts(owner_client, owner):
    done = job(owner, status="completed", webhook_url="https://hooks.example/done", finished_at=timezone.now())
    output = JobOutput(job=done, index=0, extension="mp4", content_type="video/mp4", size_bytes=3, sha256="0" * 64)
    output.file.save("0.mp4", ContentFile(b"mp4"), save=True)
    delivery = WebhookDelivery.objects.create(
        job=done, event="completed", url=done.webhook_url, payload={"jobId": done.public_id}, status="delivered",
        attempts=2, delivered_at=timezone.now(),
    )  # fmt: skip
    WebhookAttempt.objects.create(
        delivery=delivery, number=1, status_code=503, duration_ms=12, error="HTTP 503", signature_timestamp=1
    )
    WebhookAttempt.objects.create(delivery=delivery, number=2, status_code=200, duration_ms=9, signature_timestamp=2)
    failed = job(owner, status="failed", error="The upstream refused the prompt.", refunded_micros=25_000_000)
    running = job(owner, status="processing", progress=40)
    body = owner_client.get(reverse("dashboard:jobs")).content.decode()
    table = body.split('data-testid="jobs-table"', 1)[1]
    assert table.index(running.public_id) < table.index(failed.public_id) < table.index(done.public_id)
    assert "Processing 40%" in body
    assert "The upstream refused the prompt." in body and "25.00 refunded" in body
    assert f"/api/v1/jobs/{done.public_id}/output/0.mp4" in body or "/0.mp4" in body
    assert "Delivered" in body and "2 attempts" in body and ">503<" in body and ">200<" in body and "HTTP 503" in body
    assert 'data-testid="jobs-live"' in body  # a job is in flight: the page follows it


def test_filters(owner_client, owner):
    job(owner, status="completed")
    job(owner, type=MediaJob.Type.IMAGE, endpoint="images_generate", operation="generate", model="gpt-image-2")
    body = owner_client.get(reverse("dashboard:jobs"), {"type": "image"}).content.decode()
    assert body.count("<tr data-job-id=") == 1 and "gpt-image-2" in body
    body = owner_client.get(reverse("dashboard:jobs"), {"status": "completed"}).content.decode()
    assert body.count("<tr data-job-id=") == 1 and "wan2.6-flash" in body
    assert owner_client.get(reverse("dashboard:jobs"), {"status": "bogus"}).status_code == 200


def test_live_state_moves_when_a_job_changes(owner_client, owner):
    running = job(owner, status="processing", progress=10)
    first = owner_client.get(reverse("dashboard:jobs_live")).json()
    assert first["active"] is True
    page = owner_client.get(reverse("dashboard:jobs")).content.decode()
    assert f'data-poll-state="{first["state"]}"' in page
    assert owner_client.get(reverse("dashboard:jobs_live")).json()["state"] == first["state"]
    MediaJob.objects.filter(pk=running.pk).update(progress=60)
    second = owner_client.get(reverse("dashboard:jobs_live")).json()
    assert second["state"] != first["state"]
    MediaJob.objects.filter(pk=running.pk).update(status="completed")
    third = owner_client.get(reverse("dashboard:jobs_live")).json()
    assert third["state"] != second["state"] and third["active"] is False


def test_webhook_secret_is_shown_and_rotates(owner_client, owner):
    body = owner_client.get(reverse("dashboard:jobs")).content.decode()
    secret = WebhookSecret.objects.get(user=owner).secret
    assert secret.startswith("whsec_") and secret in body and "X-Hypereal-Signature" in body
    assert owner_client.get(reverse("dashboard:webhook_secret_rotate")).status_code == 405
    response = owner_client.post(reverse("dashboard:webhook_secret_rotate"), follow=True)
    new = WebhookSecret.objects.get(user=owner)
    assert new.secret != secret and new.rotated_at is not None
    body = response.content.decode()
    assert new.secret in body and secret not in body and "New webhook signing secret" in body


def test_jobs_and_secrets_of_other_users_stay_theirs(owner_client, owner, make_user):
    other = make_user(email="other@example.com")
    theirs = job(other, status="processing", webhook_url="https://hooks.example/theirs")
    WebhookDelivery.objects.create(job=theirs, event="completed", url=theirs.webhook_url, payload={})
    their_secret = webhook_secret_get_or_create(user=other).secret
    body = owner_client.get(reverse("dashboard:jobs"), {"status": "processing"}).content.decode()
    assert theirs.public_id not in body and "hooks.example/theirs" not in body and their_secret not in body
    assert owner_client.get(reverse("dashboard:jobs_live")).json()["active"] is False
    owner_client.post(reverse("dashboard:webhook_secret_rotate"))
    assert WebhookSecret.objects.get(user=other).secret == their_secret
