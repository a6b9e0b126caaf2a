"""Jobs and money: charge at submit, settle to what was delivered, refund
exactly once (compare-and-swap on the status)."""

import threading

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections

from billing.models import CreditAccount, LedgerEntry
from billing.selectors import ledger_audit
from billing.services import InsufficientCredits
from media_jobs.models import JobOutput, MediaJob
from media_jobs.pricing import job_price
from media_jobs.services import StoredOutput, job_claim_poll, job_claim_start, job_complete, job_fail, job_submit
from media_jobs.webhooks import webhook_secret_get_or_create, webhook_secret_rotate
from tests.media_jobs.support import model_view

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance_micros


def submit(user, slug="gpt-image-2", *, quantity=1, variant="standard", **extra):
    model = model_view(slug)
    job_type = {"image": "image", "image_edit": "image", "video": "video", "audio": "audio", "3d": "3d"}[model.kind]
    return job_submit(
        user_id=user.pk,
        api_key_id=None,
        model=model,
        job_type=job_type,
        endpoint="images_generate",
        operation="generate",
        input={"prompt": "a fox"},
        quantity=quantity,
        variant=variant,
        deadline_seconds=600,
        **extra,
    )


def stored(job, index=0) -> StoredOutput:
    name = default_storage.save(f"media_jobs/{job.user_id}/{job.public_id}/{index}.png", ContentFile(PNG))
    return StoredOutput(name=name, extension="png", content_type="image/png", size_bytes=len(PNG), sha256="x")


@pytest.fixture
def rich(make_user, catalog):
    return make_user(credits=1000)


def test_prices_per_unit_with_fast_surcharge_and_minimum(catalog):
    # gpt-image-2: 3 credits per image, +1 per image in fast mode.
    assert job_price(model=model_view("gpt-image-2"), quantity=4, fast=False).cost_micros() == 12_000_000
    assert job_price(model=model_view("gpt-image-2"), quantity=4, fast=True).cost_micros() == 16_000_000
    assert job_price(model=model_view("gpt-image-2"), quantity=4, fast=True).cost_micros(delivered=3) == 12_000_000
    # kling-2-6: 10 per second, minimum 20, +5 once in fast mode.
    assert job_price(model=model_view("kling-2-6"), quantity=5, fast=False).cost_micros() == 50_000_000
    assert job_price(model=model_view("kling-2-6"), quantity=5, fast=True).cost_micros() == 55_000_000
    assert job_price(model=model_view("wan2.6-flash"), quantity=4, fast=False).cost_micros() == 20_000_000  # minimum
    # Per clip, per request, per 3D model: one unit whatever the duration.
    assert job_price(model=model_view("veo3.1-fast"), quantity=8, fast=False).cost_micros() == 60_000_000
    assert job_price(model=model_view("audio-clone"), quantity=1, fast=False).cost_micros() == 107_000_000
    assert job_price(model=model_view("hunyuan3d-v2-base"), quantity=1, fast=False).cost_micros() == 45_000_000
    assert job_price(model=model_view("kling-2-6"), quantity=5, fast=False).cost_micros(delivered=0) == 0


@pytest.mark.django_db
def test_submit_charges_price_times_n_and_enqueues_after_commit(rich, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = submit(rich, quantity=3)
    assert callbacks, "the worker is told only after the commit"
    assert job.public_id.startswith("job_") and job.status == "queued"
    entry = LedgerEntry.objects.get(reference=job.public_id)
    assert entry.kind == "charge" and entry.amount_micros == -9_000_000
    assert entry.metadata["unit_price_micros"] == 3_000_000 and entry.metadata["quantity"] == 3
    job.refresh_from_db()
    assert job.charge_entry_id == entry.pk and job.charged_micros == 9_000_000
    assert balance(rich) == 991_000_000


@pytest.mark.django_db
def test_submit_refused_when_balance_does_not_cover_it_creates_nothing(make_user, catalog):
    poor = make_user(credits=5)
    with pytest.raises(InsufficientCredits) as exc:
        submit(poor, quantity=2, variant="fast")  # (3 + 1) × 2 = 8 credits
    assert exc.value.required_micros == 8_000_000 and exc.value.available_micros == 5_000_000
    assert MediaJob.objects.count() == 0
    assert balance(poor) == 5_000_000


@pytest.mark.django_db
def test_complete_settles_to_what_was_delivered(rich):
    job = submit(rich, quantity=4)
    assert job_claim_start(job_id=job.pk) is not None
    assert job_complete(job_id=job.pk, outputs=[stored(job, 0), stored(job, 1), stored(job, 2)])
    job.refresh_from_db()
    assert job.status == "completed" and job.progress == 100
    assert job.charged_micros == 12_000_000 and job.refunded_micros == 3_000_000 and job.cost_micros == 9_000_000
    settle = LedgerEntry.objects.get(reference=f"{job.public_id}:settle")
    assert settle.kind == "refund" and settle.amount_micros == 3_000_000 and settle.refund_of_id == job.charge_entry_id
    assert list(JobOutput.objects.filter(job=job).values_list("index", flat=True)) == [0, 1, 2]
    assert balance(rich) == 991_000_000
    # Completing again (a duplicated task) changes nothing and removes its own files.
    extra = stored(job, 9)
    assert not job_complete(job_id=job.pk, outputs=[extra])
    assert not default_storage.exists(extra.name)
    assert balance(rich) == 991_000_000
    assert ledger_audit().clean


@pytest.mark.django_db
def test_complete_with_nothing_delivered_is_a_refunded_failure(rich):
    job = submit(rich, quantity=2)
    assert not job_complete(job_id=job.pk, outputs=[])
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "empty_output"
    assert job.refunded_micros == job.charged_micros == 6_000_000
    assert balance(rich) == 1000_000_000


@pytest.mark.django_db
def test_fail_refunds_in_full_exactly_once(rich):
    job = submit(rich, "kling-2-6", quantity=5)
    assert balance(rich) == 950_000_000
    assert job_fail(job_id=job.pk, error="boom", code="upstream_failed")
    assert not job_fail(job_id=job.pk, error="again", code="timeout")
    assert not job_complete(job_id=job.pk, outputs=[stored(job)])
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "boom" and job.error_code == "upstream_failed"
    assert LedgerEntry.objects.filter(kind="refund", refund_of=job.charge_entry).count() == 1
    assert balance(rich) == 1000_000_000
    assert ledger_audit().clean


@pytest.mark.django_db
def test_claims_are_compare_and_swap(rich):
    job = submit(rich)
    assert job_claim_start(job_id=job.pk) is not None
    assert job_claim_start(job_id=job.pk) is None  # a redelivered start does not submit twice
    assert job_claim_poll(job_id=job.pk, seq=0, next_poll_in=1) is not None
    assert job_claim_poll(job_id=job.pk, seq=0, next_poll_in=1) is None  # a duplicated poll
    assert job_claim_poll(job_id=job.pk, seq=1, next_poll_in=1) is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_fail_and_complete_move_money_once(rich):
    """Eight workers race to finish one job (failures and completions): one
    wins, exactly one money movement follows, the audit stays clean."""
    jobs = [submit(rich, quantity=2) for _ in range(3)]
    for job in jobs:
        job_claim_start(job_id=job.pk)
    results: list = []
    errors: list = []

    def race(job, i):
        try:
            if i % 2:
                results.append(("fail", job.pk, job_fail(job_id=job.pk, error=f"worker {i}", code="timeout")))
            else:
                results.append(("complete", job.pk, job_complete(job_id=job.pk, outputs=[stored(job, i)])))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    for job in jobs:
        barrier = threading.Barrier(8)
        threads = [threading.Thread(target=lambda j=job, i=i: (barrier.wait(), race(j, i))) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    for job in jobs:
        winners = [r for r in results if r[1] == job.pk and r[2]]
        assert len(winners) == 1, winners
        job.refresh_from_db()
        money = LedgerEntry.objects.filter(refund_of=job.charge_entry)
        if winners[0][0] == "fail":
            assert job.status == "failed" and money.count() == 1 and money.get().amount_micros == 6_000_000
        else:
            assert job.status == "completed" and money.count() == 1  # 1 of 2 images: settle refund
            assert JobOutput.objects.filter(job=job).count() == 1
    assert ledger_audit().clean


@pytest.mark.django_db
def test_webhook_secret_is_per_user_and_rotatable(rich, make_user):
    first = webhook_secret_get_or_create(user=rich).secret
    assert first.startswith("whsec_") and len(first) > 40
    assert webhook_secret_get_or_create(user=rich).secret == first
    assert webhook_secret_get_or_create(user=make_user()).secret != first
    rotated = webhook_secret_rotate(user=rich)
    assert rotated.secret != first and rotated.rotated_at is not None
    assert webhook_secret_get_or_create(user=rich).secret == rotated.secret


@pytest.mark.django_db
def test_webhook_payload_reports_the_settled_cost(rich):
    from media_jobs.models import WebhookDelivery

    job = submit(rich, quantity=4, webhook_url="https://hooks.example.com/x")
    job_complete(job_id=job.pk, outputs=[stored(job, 0), stored(job, 1), stored(job, 2)])
    payload = WebhookDelivery.objects.get(job=job).payload
    assert payload["status"] == "completed" and payload["creditsUsed"] == 9 and payload["jobId"] == job.public_id
    assert payload["outputUrl"].startswith("http://testserver/api/v1/jobs/") and "sig=" in payload["outputUrl"]
