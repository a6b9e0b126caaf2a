"""Every media endpoint over real HTTP: our ASGI app served by uvicorn, a
real Celery worker, the simulator as upstream, the official OpenAI SDK where
the endpoint is OpenAI-shaped."""

import base64
import time

import openai
import pytest
import requests

from billing.models import CreditAccount, LedgerEntry
from billing.selectors import ledger_audit
from media_jobs.models import MediaJob
from media_jobs.storage import sniff_extension
from tests.media_jobs.support import route_upstream_set

pytestmark = pytest.mark.django_db(transaction=True)


def credits(user) -> float:
    return CreditAccount.objects.get(user=user).balance_micros / 1_000_000


def post(base, path, key, body, **kwargs):
    return requests.post(
        f"{base}/api/v1/{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60, **kwargs
    )


def fetch_kind(url: str) -> str | None:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, (url, response.status_code, response.text[:200])
    return sniff_extension(response.content)


@pytest.fixture
def client(live, customer):
    return openai.OpenAI(api_key=customer[1], base_url=f"{live}/api/v1", max_retries=0, timeout=60)


@pytest.fixture(autouse=True)
def _audit_clean_after(request):
    yield
    if "live" in request.fixturenames:
        assert ledger_audit().clean


# --- images/generations (000 docs, OpenAI Images shape) ---------------------------


def test_images_generations_with_the_openai_sdk(client, customer):
    user, _ = customer
    result = client.images.generate(model="gpt-image-2", prompt="a chrome teapot", n=2, size="1024x1024")
    assert len(result.data) == 2 and result.created
    assert all(fetch_kind(item.url) == "png" for item in result.data)
    assert credits(user) == 1000 - 2 * 3
    b64 = client.images.generate(model="nano_banana", prompt="a fox", response_format="b64_json")
    assert sniff_extension(base64.b64decode(b64.data[0].b64_json)) == "png"
    assert credits(user) == 1000 - 6 - 4


def test_images_generations_clamps_n(client, customer):
    user, _ = customer
    assert len(client.images.generate(model="gemini-2.5-flash-image-preview", prompt="x", n=15).data) == 10
    assert len(client.images.generate(model="gpt-image-2", prompt="x", n=0).data) == 1
    assert credits(user) == 1000 - 10 * 4 - 3


def test_images_generations_402_when_balance_below_price_times_n(live, make_user):
    from accounts.services import api_key_mint

    poor = make_user(credits=10)
    client = openai.OpenAI(api_key=api_key_mint(user=poor).raw_key, base_url=f"{live}/api/v1", max_retries=0)
    with pytest.raises(openai.APIStatusError) as exc:
        client.images.generate(model="nano_banana_pro", prompt="x", n=1)  # 15 credits
    assert exc.value.status_code == 402
    error = exc.value.body
    assert error["code"] == "insufficient_credits" and error["required"] == 15 and error["available"] == 10
    assert credits(poor) == 10 and MediaJob.objects.count() == 0


def test_image_editing_models_take_input_images(live, customer, sim_url):
    _, key = customer
    route_upstream_set("flux-kontext-pro", "flux-kontext-pro::duration_ms=50")
    missing = post(live, "images/generations", key, {"model": "flux-kontext-pro", "prompt": "make it blue"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "image"
    image = f"{sim_url}/files/img-0000000000000042-64x64.png"
    edited = post(live, "images/generations", key, {"model": "flux-kontext-pro", "prompt": "blue", "image": image})
    assert edited.status_code == 200, edited.text
    assert fetch_kind(edited.json()["data"][0]["url"]) == "png"
    job = MediaJob.objects.get(status="completed")
    assert job.operation == "edit" and job.input["images"] == [image]


def test_sync_failure_is_refunded_and_reported_in_openai_shape(client, customer):
    user, _ = customer
    route_upstream_set("gpt-image-2", "gpt-image-2::status=400")
    with pytest.raises(openai.APIStatusError) as exc:
        client.images.generate(model="gpt-image-2", prompt="x", n=3)
    assert exc.value.status_code == 502 and "refunded" in exc.value.message
    assert credits(user) == 1000
    assert LedgerEntry.objects.filter(kind="refund").count() == 1


# --- video/generations (000 docs, synchronous long-poll) ------------------------------


def test_video_generations_long_poll_returns_the_clip(live, customer):
    user, key = customer
    route_upstream_set("kling-v3", "kling-v3::duration_ms=300,poll_429=1")
    response = post(
        live,
        "video/generations",
        key,
        {"model": "kling-v3", "prompt": "a cat on the moon", "duration": 5, "aspect_ratio": "16:9"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed" and body["duration"] == 5 and body["id"].startswith("job_")
    assert fetch_kind(body["data"][0]["url"]) == "mp4"
    assert credits(user) == 1000 - 12 * 5 and body["credits_used"] == 60


def test_video_generations_rejects_a_bad_duration(live, customer):
    response = post(live, "video/generations", customer[1], {"model": "veo3.1-fast", "prompt": "x", "duration": 5})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "duration" and "8" in response.json()["error"]["message"]


# --- audio/generations (000 docs) ----------------------------------------------------------


def test_audio_generations_tts_clone_and_asr(live, customer, sim_url):
    user, key = customer
    tts = post(live, "audio/generations", key, {"model": "audio-tts", "text": "Welcome to Hypereal."})
    assert tts.status_code == 200, tts.text and fetch_kind(tts.json()["data"][0]["url"]) == "mp3"
    clone = post(
        live,
        "audio/generations",
        key,
        {
            "model": "audio-clone",
            "text": "My cloned voice.",
            "audio": f"{sim_url}/files/audio-0000000000000007-15000.mp3",
        },
    )
    assert clone.status_code == 200, clone.text
    assert fetch_kind(clone.json()["data"][0]["url"]) == "mp3"
    asr = post(
        live,
        "audio/generations",
        key,
        {"model": "audio-asr", "audio": f"{sim_url}/files/audio-0000000000000008-2500.wav"},
    )
    assert asr.status_code == 200, asr.text
    body = asr.json()
    assert body["text"] and body["duration"] == pytest.approx(2.5, abs=0.1) and body["segments"][0]["start"] == 0
    assert credits(user) == 1000 - 2 - 107 - 2


def test_audio_clone_reference_shorter_than_10s_is_a_400_and_refunded(live, customer, sim_url):
    user, key = customer
    short = f"{sim_url}/files/audio-0000000000000009-6000.mp3"
    response = post(live, "audio/generations", key, {"model": "audio-clone", "text": "x", "audio": short})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "audio" and "at least 10 s" in response.json()["error"]["message"]
    assert credits(user) == 1000


# --- images/generate, videos/generate, audio/generate, 3d/generate (001 docs) --------------


def test_images_generate_fast_mode_and_result_id(live, customer):
    user, key = customer
    route_upstream_set("gpt-image-2", "gpt-image-2::duration_ms=50", variant="fast")
    response = post(
        live,
        "images/generate",
        key,
        {"prompt": "a city", "model": "gpt-image-2", "mode": "fast", "aspect_ratio": "16:9"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"created", "data", "resultId", "creditsUsed"}
    assert body["creditsUsed"] == 4 and body["resultId"].startswith("res_")
    assert body["data"][0]["model"] == "gpt-image-2" and fetch_kind(body["data"][0]["url"]) == "png"
    job = MediaJob.objects.get()
    assert job.variant == "fast" and job.provider_slug == "sim-media" and job.input["aspect_ratio"] == "16:9"
    assert credits(user) == 996
    # The resultId polls like a job.
    polled = requests.get(
        f"{live}/api/v1/jobs/{body['resultId']}?type=image", headers={"Authorization": f"Bearer {key}"}
    )
    assert polled.json()["status"] == "completed"


def test_videos_generate_is_asynchronous_and_pollable(live, customer):
    user, key = customer
    route_upstream_set("veo-3-1-i2v", "veo-3-1-i2v::duration_ms=400")
    response = post(
        live,
        "videos/generate",
        key,
        {
            "model": "veo-3-1-i2v",
            "input": {"prompt": "pan across", "image": "https://example.com/girl.webp", "duration": 8},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "processing" and body["jobId"].startswith("job_") and body["creditsUsed"] == 64
    assert body["pollUrl"] == f"{live}/api/v1/jobs/{body['jobId']}?model=veo-3-1-i2v&type=video"
    deadline = time.monotonic() + 20
    while True:
        polled = requests.get(body["pollUrl"], headers={"Authorization": f"Bearer {key}"}).json()
        if polled["status"] in ("completed", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert polled["status"] == "completed" and polled["jobId"] == body["jobId"]
    assert fetch_kind(polled["outputUrl"]) == "mp4"
    assert credits(user) == 1000 - 64


def test_videos_generate_requires_input_and_names_fields(live, customer):
    _, key = customer
    cases = [
        ({"input": {"prompt": "x"}}, "model", "Model is required"),
        ({"model": "kling-v3"}, "input", "input is required"),
        ({"model": "kling-v3", "input": {}}, "input.prompt", "input.prompt is required"),
        ({"model": "kling-v3", "input": {"prompt": "x", "duration": 7}}, "input.duration", "input.duration must be"),
        ({"model": "kling-v3", "mode": "turbo", "input": {"prompt": "x"}}, "mode", "mode must be"),
        ({"model": "kling-v3", "input": {"prompt": "x"}, "webhook_url": "ftp://x"}, "webhook_url", "webhook_url must"),
    ]
    for body, field, message in cases:
        response = post(live, "videos/generate", key, body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"].startswith(message) and response.json()["field"] == field
    assert MediaJob.objects.count() == 0


def test_audio_generate_emotion_text_format_and_asr(live, customer, sim_url):
    user, key = customer
    tts = post(
        live,
        "audio/generate",
        key,
        {"model": "audio-tts", "input": {"text": "(happy) Welcome to Hypereal!", "format": "wav"}},
    )
    assert tts.status_code == 200, tts.text
    body = tts.json()
    assert body["success"] is True and body["format"] == "wav" and body["creditsUsed"] == 2
    assert fetch_kind(body["outputUrl"]) == "wav"
    assert MediaJob.objects.get(operation="tts").input["text"] == "(happy) Welcome to Hypereal!"
    asr = post(
        live,
        "audio/generate",
        key,
        {"model": "audio-asr", "input": {"audio": f"{sim_url}/files/audio-000000000000000a-3000.mp3"}},
    )
    body = asr.json()
    assert (
        asr.status_code == 200
        and body["success"] is True
        and body["text"]
        and body["duration"] == pytest.approx(3, abs=0.1)
    )
    assert isinstance(body["segments"], list)
    bad = post(live, "audio/generate", key, {"model": "audio-tts", "input": {"text": "x", "format": "flac"}})
    assert bad.status_code == 400 and bad.json()["field"] == "input.format"
    assert credits(user) == 1000 - 2 - 2


def test_3d_generate_single_image_and_four_views(live, customer, sim_url):
    user, key = customer
    route_upstream_set("hunyuan3d-v2-base", "hunyuan3d-v2-base::duration_ms=50")
    route_upstream_set("tripo3d-multiview-to-3d", "tripo3d-multiview-to-3d::duration_ms=50")
    single = post(
        live,
        "3d/generate",
        key,
        {"model": "hunyuan3d-v2-base", "input": {"image": f"{sim_url}/files/img-0000000000000001-8x8.png"}},
    )
    assert single.status_code == 200, single.text
    assert single.json()["success"] is True and single.json()["creditsUsed"] == 45
    assert fetch_kind(single.json()["outputUrl"]) == "glb"
    views = {
        f"{side}_image_url": f"{sim_url}/files/img-000000000000000{i}-8x8.png"
        for i, side in enumerate(["front", "back", "left", "right"])
    }
    multi = post(live, "3d/generate", key, {"model": "tripo3d-multiview-to-3d", "input": views})
    assert multi.status_code == 200 and fetch_kind(multi.json()["outputUrl"]) == "glb"
    del views["back_image_url"]
    missing = post(live, "3d/generate", key, {"model": "tripo3d-multiview-to-3d", "input": views})
    assert missing.status_code == 400 and missing.json()["field"] == "input.back_image_url"
    assert credits(user) == 1000 - 90


def test_001_insufficient_credits_shape(live, make_user):
    from accounts.services import api_key_mint

    poor = make_user(credits=10)
    response = post(
        live, "videos/generate", api_key_mint(user=poor).raw_key, {"model": "veo-3-1-i2v", "input": {"prompt": "x"}}
    )
    assert response.status_code == 402
    assert response.json() == {"error": "Insufficient credits", "required": 64, "available": 10}


# --- jobs/{id}, outputs, auth, allowlist, rate limit -------------------------------------------


def test_another_users_job_and_files_are_hidden(live, customer, make_user):
    from accounts.services import api_key_mint

    _, key = customer
    other_key = api_key_mint(user=make_user(credits=5)).raw_key
    body = post(live, "images/generate", key, {"prompt": "x", "model": "nano_banana"}).json()
    job = MediaJob.objects.get()
    for headers in ({"Authorization": f"Bearer {other_key}"},):
        response = requests.get(f"{live}/api/v1/jobs/{job.public_id}", headers=headers)
        assert response.status_code == 404 and response.json() == {"error": "Job not found"}
    own = requests.get(
        f"{live}/v1/jobs/{job.public_id}?type=image&model=nano_banana", headers={"Authorization": f"Bearer {key}"}
    )
    assert own.status_code == 200 and own.json()["status"] == "completed"
    wrong_type = requests.get(f"{live}/v1/jobs/{job.public_id}?type=video", headers={"Authorization": f"Bearer {key}"})
    assert wrong_type.status_code == 404
    assert (
        requests.get(
            f"{live}/v1/jobs/{job.public_id}?type=movie", headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 400
    )

    signed = body["data"][0]["url"]
    plain = signed.split("?")[0]
    assert requests.get(signed).status_code == 200  # a signed URL works without the key
    assert requests.get(plain).status_code == 404  # unsigned: owner only
    assert requests.get(plain, headers={"Authorization": f"Bearer {other_key}"}).status_code == 404
    owner_fetch = requests.get(plain, headers={"Authorization": f"Bearer {key}"})
    assert owner_fetch.status_code == 200 and owner_fetch.headers["content-type"] == "image/png"
    tampered = signed.replace("expires=", "expires=9")
    assert requests.get(tampered).status_code == 404
    assert requests.get(signed.replace(job.public_id, "job_doesnotexist")).status_code == 404


def test_auth_errors_allowlist_and_unknown_models(live, customer):
    from accounts.models import ApiKey

    user, key = customer
    body = {"model": "gpt-image-2", "prompt": "x"}
    assert requests.post(f"{live}/api/v1/images/generations", json=body).status_code == 401
    bad_key = post(live, "images/generations", "ck_nope", body)
    assert bad_key.status_code == 401 and bad_key.json()["error"]["type"] == "authentication_error"
    media_401 = post(live, "images/generate", "ck_nope", body)
    assert media_401.status_code == 401 and isinstance(media_401.json()["error"], str)
    unknown = post(live, "images/generations", key, {"model": "no-such-model", "prompt": "x"})
    assert unknown.status_code == 400 and "gpt-image-2" in unknown.json()["error"]["available_models"]
    wrong_endpoint = post(live, "images/generations", key, {"model": "kling-v3", "prompt": "x"})
    assert wrong_endpoint.status_code == 400 and wrong_endpoint.json()["error"]["param"] == "model"
    no_prompt = post(live, "images/generations", key, {"model": "gpt-image-2"})
    assert no_prompt.status_code == 400 and no_prompt.json()["error"]["param"] == "prompt"
    not_json = requests.post(f"{live}/api/v1/images/generate", data="{", headers={"Authorization": f"Bearer {key}"})
    assert not_json.status_code == 400 and isinstance(not_json.json()["error"], str)

    from accounts.services import api_key_mint

    limited = api_key_mint(user=user, allowed_models=["nano_banana"]).raw_key
    refused = post(live, "images/generations", limited, body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "model_not_allowed"
    assert ApiKey.objects.count() == 2 and MediaJob.objects.count() == 0


def test_rate_limit_per_key(live, customer):
    from accounts.services import api_key_mint
    from gateway.ratelimit import rate_limit_reset_local

    rate_limit_reset_local()
    user, _ = customer
    key = api_key_mint(user=user, rate_limit_per_hour=1).raw_key
    first = requests.get(f"{live}/api/v1/jobs/job_x", headers={"Authorization": f"Bearer {key}"})
    assert first.status_code == 404 and first.headers["X-RateLimit-Limit"] == "1"
    second = post(live, "videos/generate", key, {"model": "kling-v3", "input": {"prompt": "x"}})
    assert second.status_code == 429 and second.headers["X-RateLimit-Remaining"] == "0"
    assert int(second.headers["Retry-After"]) > 0 and isinstance(second.json()["error"], str)
    assert MediaJob.objects.count() == 0


def test_key_spend_limit(live, customer):
    from accounts.services import api_key_mint

    user, _ = customer
    key = api_key_mint(user=user, spend_limit_micros=10_000_000, spend_limit_period="day").raw_key
    first = post(live, "images/generate", key, {"prompt": "x", "model": "gpt-image-2", "n": 3})  # 9 credits
    assert first.status_code == 200, first.text
    second = post(live, "images/generations", key, {"prompt": "x", "model": "gpt-image-2"})  # 3 more
    assert second.status_code == 402 and second.json()["error"]["code"] == "spend_limit_reached"
    assert "daily spend limit" in second.json()["error"]["message"]
    assert credits(user) == 1000 - 9 and MediaJob.objects.count() == 1


def test_sync_wait_runs_out_the_job_fails_and_is_refunded(live, customer, settings):
    user, key = customer
    settings.MEDIA_SYNC_WAIT_SECONDS = 1
    route_upstream_set("kling-v3", "kling-v3::duration_ms=600000")
    response = post(live, "video/generations", key, {"model": "kling-v3", "prompt": "x", "duration": 5})
    assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"
    job = MediaJob.objects.get()
    assert job.status == "failed" and job.error_code == "timeout" and job.refunded_micros == job.charged_micros
    assert credits(user) == 1000
