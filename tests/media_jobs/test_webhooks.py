"""Signed webhooks: a loopback receiver checks the signature itself, fails
on purpose to see the retries, and the SSRF guard refuses private targets."""

import hashlib
import hmac
import itertools
import time

import orjson
import pytest
import requests

from billing.models import CreditAccount
from media_jobs.models import MediaJob, WebhookAttempt, WebhookDelivery
from media_jobs.webhooks import (
    webhook_attempt,
    webhook_retry_delay,
    webhook_secret_get_or_create,
    webhook_secret_rotate,
    webhook_signature_verify,
)
from tests.media_jobs.support import WebhookReceiver, route_upstream_set, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


def post(base, path, key, body):
    return requests.post(f"{base}/api/v1/{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def verify(secret: str, request: dict) -> dict:
    """What a customer's receiver does (independently of our signing code):
    recompute HMAC-SHA256 over "<t>.<raw body>" and compare."""
    header = request["headers"]["X-Hypereal-Signature"]
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"]), "bad signature"
    assert abs(time.time() - int(fields["t"])) < 300
    assert webhook_signature_verify(secret=secret, header=header, body=request["body"])
    assert not webhook_signature_verify(secret=secret, header=header, body=request["body"] + b" ")
    return orjson.loads(request["body"])


def submit_video(live, key, webhook_url, model="kling-v3"):
    response = post(
        live,
        "videos/generate",
        key,
        {"model": model, "input": {"prompt": "a cat", "duration": 5}, "webhook_url": webhook_url},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_completed_job_posts_the_seed_payload_signed(live, customer, receiver):
    user, key = customer
    route_upstream_set("kling-v3", "kling-v3::duration_ms=100")
    accepted = submit_video(live, key, receiver.url)
    assert accepted["message"].startswith("Generation started. Result will be sent to your webhook URL")
    [request] = receiver.wait_for(1)
    payload = verify(webhook_secret_get_or_create(user=user).secret, request)
    assert payload == {
        "status": "completed",
        "outputUrl": payload["outputUrl"],
        "jobId": accepted["jobId"],
        "type": "video",
        "model": "kling-v3",
        "creditsUsed": 60,
    }
    assert requests.get(payload["outputUrl"]).content[4:8] == b"ftyp"
    assert request["headers"]["X-Hypereal-Event"] == "job.completed"
    assert request["headers"]["Content-Type"] == "application/json"
    delivery = wait_until(lambda: WebhookDelivery.objects.filter(status="delivered").first(), what="delivered")
    assert delivery.attempts == 1
    assert WebhookAttempt.objects.get().status_code == 200
    # The owner sees the delivery and its attempts on the job.
    job = requests.get(f"{live}/api/v1/jobs/{accepted['jobId']}", headers={"Authorization": f"Bearer {key}"}).json()
    assert job["webhook"]["deliveries"][0]["status"] == "delivered"
    assert job["webhook"]["deliveries"][0]["attempts"][0]["statusCode"] == 200


def test_failed_job_posts_failed_with_error_and_zero_credits(live, customer, receiver):
    user, key = customer
    route_upstream_set("kling-v3", "kling-v3::duration_ms=50,fail=1")
    accepted = submit_video(live, key, receiver.url)
    [request] = receiver.wait_for(1)
    payload = verify(webhook_secret_get_or_create(user=user).secret, request)
    assert payload["status"] == "failed" and payload["jobId"] == accepted["jobId"]
    assert payload["creditsUsed"] == 0 and "failure" in payload["error"] and payload["outputUrl"] is None
    assert CreditAccount.objects.get(user=user).balance_micros == 1000_000_000


def test_receiver_failures_are_retried_with_growing_delays(live, customer):
    user, key = customer
    receiver = WebhookReceiver(fail_first=3, fail_status=500)
    try:
        route_upstream_set("kling-v3", "kling-v3::duration_ms=50")
        submit_video(live, key, receiver.url)
        requests_seen = receiver.wait_for(4)
    finally:
        receiver.close()
    secret = webhook_secret_get_or_create(user=user).secret
    bodies = {verify(secret, r)["jobId"] for r in requests_seen}
    assert len(bodies) == 1  # the same event every time
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(requests_seen)]
    # Base 0.2 s doubling, capped at 1 s in tests: 0.2, 0.4, 0.8.
    assert gaps[0] >= 0.15 and gaps[1] >= 0.35 and gaps[2] >= 0.7, gaps
    assert [r["headers"]["X-Hypereal-Attempt"] for r in requests_seen] == ["1", "2", "3", "4"]
    wait_until(lambda: WebhookDelivery.objects.filter(status="delivered").exists(), what="delivered")
    attempts = list(WebhookAttempt.objects.order_by("number").values_list("number", "status_code", "error"))
    assert attempts == [(1, 500, "HTTP 500"), (2, 500, "HTTP 500"), (3, 500, "HTTP 500"), (4, 200, "")]


def test_retry_schedule_spans_about_a_day(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 4 * 3600
    delays, total = [], 0.0
    while total < 24 * 3600:
        delay = webhook_retry_delay(attempt=len(delays) + 1)
        delays.append(delay)
        total += delay
    assert delays[:4] == [30, 60, 120, 240] and max(delays) == 4 * 3600
    assert 12 <= len(delays) <= 16


def test_delivery_gives_up_when_the_window_closes(live, customer, settings):
    _, key = customer
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 1
    receiver = WebhookReceiver(fail_first=100)
    try:
        route_upstream_set("kling-v3", "kling-v3::duration_ms=50")
        submit_video(live, key, receiver.url)
        wait_until(lambda: WebhookDelivery.objects.filter(status="failed").exists(), what="giving up")
    finally:
        receiver.close()
    delivery = WebhookDelivery.objects.get()
    assert 2 <= delivery.attempts <= 4 and delivery.last_status_code == 503
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == delivery.attempts


def test_private_targets_refused_unless_allowed(live, customer, receiver, settings):
    user, key = customer
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    for url in (
        receiver.url,
        "http://169.254.169.254/latest",
        "http://10.1.2.3/hook",
        "http://[::1]:9/x",
        "http://localhost/x",
    ):
        response = post(
            live, "videos/generate", key, {"model": "kling-v3", "input": {"prompt": "x"}, "webhook_url": url}
        )
        assert response.status_code == 400, url
        assert (
            response.json()["field"] == "webhook_url" and "private, loopback or link-local" in response.json()["error"]
        )
    assert MediaJob.objects.count() == 0
    assert CreditAccount.objects.get(user=user).balance_micros == 1000_000_000


def test_delivery_time_guard_and_duplicate_attempts(live, customer, receiver, settings):
    """The address is checked again when sending (DNS may have changed), and
    a duplicated delivery task makes no second request."""
    _, key = customer
    route_upstream_set("kling-v3", "kling-v3::duration_ms=50")
    submit_video(live, key, receiver.url)
    receiver.wait_for(1)
    delivery = wait_until(lambda: WebhookDelivery.objects.filter(status="delivered").first(), what="delivered")
    assert webhook_attempt(delivery_id=delivery.pk, attempt=1) is None  # already made
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="pending")
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    assert webhook_attempt(delivery_id=delivery.pk, attempt=2) is not None  # refused, retry later
    attempt = WebhookAttempt.objects.get(delivery=delivery, number=2)
    assert attempt.status_code is None and attempt.error.startswith("refused")
    assert len(receiver.received) == 1


def test_rotated_secret_signs_later_deliveries(live, customer, receiver):
    user, key = customer
    route_upstream_set("kling-v3", "kling-v3::duration_ms=50")
    old = webhook_secret_get_or_create(user=user).secret
    new = webhook_secret_rotate(user=user).secret
    submit_video(live, key, receiver.url)
    [request] = receiver.wait_for(1)
    verify(new, request)
    with pytest.raises(AssertionError):
        verify(old, request)
