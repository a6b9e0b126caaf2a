"""The worker's steps (submit with failover, poll with backoff, store,
finish, fail, sweep) against the simulator, called directly: Celery's eager
mode would ignore the countdowns these steps rely on."""

import time
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from billing.models import CreditAccount, LedgerEntry
from billing.selectors import ledger_audit
from catalog.models import AiModel, Provider, Route
from catalog.selectors import catalog_snapshot_invalidate
from media_jobs import runner
from media_jobs.models import MediaJob
from media_jobs.services import job_fail, job_submit
from media_jobs.storage import sniff_extension
from tests.media_jobs.support import model_view, route_upstream_set

pytestmark = pytest.mark.django_db


def submit(user, slug, *, job_type, operation="generate", quantity=1, variant="standard", **data):
    return job_submit(
        user_id=user.pk,
        api_key_id=None,
        model=model_view(slug),
        job_type=job_type,
        endpoint="test",
        operation=operation,
        input=data,
        quantity=quantity,
        variant=variant,
        deadline_seconds=600,
    )


def drive(job: MediaJob, *, timeout=15.0) -> MediaJob:
    """What the Celery tasks do, in this thread: run, then poll until done."""
    delay = runner.job_run(job_id=job.pk)
    seq = 0
    deadline = time.monotonic() + timeout
    while delay is not None:
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(delay)
        delay = runner.job_poll(job_id=job.pk, seq=seq)
        seq += 1
    job.refresh_from_db()
    return job


def balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance_micros


@pytest.fixture
def rich(make_user, media_catalog):
    return make_user(credits=1000)


def test_openai_image_job_stores_outputs_and_charges_n(rich):
    job = drive(submit(rich, "gpt-image-2", job_type="image", quantity=2, prompt="a fox"))
    assert job.status == "completed" and job.provider_slug == "sim-openai-images"
    outputs = list(job.outputs.all())
    assert [o.extension for o in outputs] == ["png", "png"]
    with default_storage.open(outputs[0].file.name) as f:
        assert sniff_extension(f.read()) == "png"
    assert job.cost_micros == 6_000_000 and balance(rich) == 994_000_000


def test_video_job_polls_through_upstream_429s(rich):
    route_upstream_set("kling-2-6", "kling-2-6::duration_ms=200,poll_429=2")
    job = drive(submit(rich, "kling-2-6", job_type="video", quantity=5, prompt="a cat", duration=5))
    assert job.status == "completed" and job.upstream_id and job.poll_count >= 3
    assert job.outputs.get().extension == "mp4"
    assert job.cost_micros == 50_000_000


def test_failover_to_the_next_route_on_a_retryable_error(rich):
    route_upstream_set("gpt-image-2", "gpt-image-2::status=503")
    model = AiModel.objects.get(slug="gpt-image-2")
    Route.objects.create(
        model=model,
        provider=Provider.objects.get(slug="sim-media"),
        upstream_model="gpt-image-2::duration_ms=50",
        priority=50,
    )
    catalog_snapshot_invalidate()
    job = drive(submit(rich, "gpt-image-2", job_type="image", quantity=1, prompt="a fox"))
    assert job.status == "completed" and job.provider_slug == "sim-media"


def test_fast_mode_uses_the_fast_route_and_surcharge(rich):
    route_upstream_set("nano_banana", "nano_banana::duration_ms=50", variant="fast")
    job = drive(submit(rich, "nano_banana", job_type="image", quantity=2, variant="fast", prompt="x"))
    assert job.status == "completed" and job.provider_slug == "sim-media"
    assert job.cost_micros == 2 * (4_000_000 + 1_000_000)


@pytest.mark.parametrize(
    "fault,code",
    [("fail=1", "upstream_failed"), ("empty=1", "empty_output"), ("status=400", "upstream_error")],
)
def test_failures_refund_in_full(rich, fault, code):
    route_upstream_set("veo3.1-fast", f"veo3.1-fast::duration_ms=50,{fault}")
    job = drive(submit(rich, "veo3.1-fast", job_type="video", quantity=8, prompt="x", duration=8))
    assert job.status == "failed" and job.error_code == code
    assert job.refunded_micros == job.charged_micros == 60_000_000
    assert balance(rich) == 1000_000_000
    assert ledger_audit().clean


def test_all_routes_down_fails_and_refunds(rich):
    route_upstream_set("audio-tts", "audio-tts")
    Provider.objects.filter(slug="sim-fish").update(base_url="http://127.0.0.1:9/fish")
    catalog_snapshot_invalidate()
    job = drive(submit(rich, "audio-tts", job_type="audio", operation="tts", text="hi", format="mp3"))
    assert job.status == "failed" and job.error_code == "upstream_unavailable" and "unreachable" in job.error
    assert balance(rich) == 1000_000_000


def test_duplicated_poll_task_refunds_once(rich):
    route_upstream_set("kling-2-6", "kling-2-6::duration_ms=50,fail=1")
    job = submit(rich, "kling-2-6", job_type="video", quantity=5, prompt="x", duration=5)
    assert runner.job_run(job_id=job.pk) is not None
    time.sleep(0.1)
    # The same message delivered twice (acks_late redelivery): same sequence number.
    assert runner.job_poll(job_id=job.pk, seq=0) is None
    assert runner.job_poll(job_id=job.pk, seq=0) is None
    assert runner.job_run(job_id=job.pk) is None  # and a redelivered start
    job.refresh_from_db()
    assert job.status == "failed"
    assert LedgerEntry.objects.filter(kind="refund", refund_of=job.charge_entry).count() == 1
    assert balance(rich) == 1000_000_000


def test_voice_clone_with_short_reference_fails_naming_the_field(rich, sim_url):
    job = drive(
        submit(
            rich,
            "audio-clone",
            job_type="audio",
            operation="clone",
            text="x",
            reference_audio=f"{sim_url}/files/audio-0000000000000001-5000.mp3",
        )
    )
    assert job.status == "failed" and job.error_code == "invalid_input" and job.error_param == "audio"
    assert balance(rich) == 1000_000_000


def test_sweep_fails_and_refunds_stuck_jobs_and_resends_lost_steps(rich):
    route_upstream_set("kling-2-6", "kling-2-6::duration_ms=600000")
    stuck = submit(rich, "kling-2-6", job_type="video", quantity=5, prompt="x", duration=5)
    assert runner.job_run(job_id=stuck.pk) is not None  # running upstream, polls never finish
    assert runner.job_poll(job_id=stuck.pk, seq=0) is not None
    lost = submit(rich, "kling-2-6", job_type="video", quantity=5, prompt="y", duration=5)
    runner.job_run(job_id=lost.pk)
    MediaJob.objects.filter(pk=lost.pk).update(next_poll_at=timezone.now() - timedelta(minutes=10))
    MediaJob.objects.filter(pk=stuck.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert balance(rich) == 900_000_000

    report = runner.jobs_sweep()
    assert report.timed_out == 1 and report.repolled == 1
    stuck.refresh_from_db()
    assert stuck.status == "failed" and stuck.error_code == "timeout"
    again = runner.jobs_sweep()
    assert again.timed_out == 0 and again.repolled == 0  # nothing twice: no refund, no second resend
    assert balance(rich) == 950_000_000
    # The late poll of the timed-out job does nothing.
    assert runner.job_poll(job_id=stuck.pk, seq=1) is None
    assert balance(rich) == 950_000_000
    assert ledger_audit().clean


def test_sweep_resends_lost_starts_and_webhook_attempts_once_per_grace_period(rich):
    from media_jobs.models import WebhookDelivery

    long_ago = timezone.now() - timedelta(minutes=10)
    queued = submit(rich, "kling-2-6", job_type="video", quantity=5, prompt="x", duration=5)
    MediaJob.objects.filter(pk=queued.pk).update(created_at=long_ago)
    done = submit(rich, "gpt-image-2", job_type="image", prompt="y")
    job_fail(job_id=done.pk, error="x")
    delivery = WebhookDelivery.objects.create(
        job=done, event="failed", url="https://example.com/h", payload={}, next_attempt_at=long_ago
    )
    first = runner.jobs_sweep()
    assert first.restarted == 1 and first.webhooks_resent == 1
    second = runner.jobs_sweep()
    assert second.restarted == 0 and second.webhooks_resent == 0
    delivery.refresh_from_db()
    assert delivery.next_attempt_at > long_ago
