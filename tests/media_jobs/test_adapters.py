"""Each upstream adapter over real HTTP against the simulator."""

import time

import pytest

from catalog.selectors import RouteView
from media_jobs.adapters import fish_audio, gemini_images, openai_images, wavespeed
from media_jobs.adapters.base import InputError, JobSpec, UpstreamError, input_fetch
from media_jobs.storage import sniff_extension
from tests.media_jobs.support import SIM_KEY


def route(sim_url: str, protocol: str, upstream_model: str) -> RouteView:
    base = {
        "openai_images": "/openai/v1",
        "gemini": "/gemini/v1beta",
        "media_jobs": "/wavespeed/api/v3",
        "fish_audio": "/fish",
    }[protocol]
    return RouteView(
        route_id=1,
        provider_id=1,
        provider_slug=f"sim-{protocol}",
        protocol=protocol,
        base_url=sim_url + base,
        api_key=SIM_KEY,
        extra_headers={},
        timeout_seconds=30,
        upstream_model=upstream_model,
        variant="standard",
        priority=10,
        weight=1,
    )


def spec(job_type="image", operation="generate", quantity=1, **data) -> JobSpec:
    return JobSpec(job_id="job_test", type=job_type, operation=operation, model="m", input=data, quantity=quantity)


def kinds(outputs, fetch=None):
    return [sniff_extension(o.data if o.data is not None else fetch(o.url)) for o in outputs]


@pytest.fixture
def fetch():
    import requests

    return lambda url: requests.get(url, timeout=10).content


def poll_until_done(r: RouteView, upstream_id: str, timeout=10.0):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        polled = wavespeed.poll(route=r, upstream_id=upstream_id)
        seen.append(polled.upstream_status)
        if polled.state != "pending":
            return polled, seen
        time.sleep(0.03)
    raise AssertionError(f"upstream job never finished: {seen[-5:]}")


def test_openai_images_generations_and_edits(sim_url, fetch):
    r = route(sim_url, "openai_images", "gpt-image-2")
    done = openai_images.submit(route=r, spec=spec(quantity=2, prompt="a fox", aspect_ratio="16:9"))
    assert done.done and kinds(done.outputs) == ["png", "png"]
    image = f"{sim_url}/files/img-00000000000000aa-64x64.png"
    edited = openai_images.submit(route=r, spec=spec(operation="edit", prompt="make it blue", images=[image]))
    assert kinds(edited.outputs) == ["png"]
    # dall-e style models answer with URLs.
    by_url = openai_images.submit(route=route(sim_url, "openai_images", "dall-e-2"), spec=spec(prompt="x"))
    assert by_url.outputs[0].url.startswith(sim_url) and kinds(by_url.outputs, fetch) == ["png"]


@pytest.mark.parametrize("status,retryable", [(503, True), (429, True), (400, False), (401, False)])
def test_upstream_errors_say_whether_to_fail_over(sim_url, status, retryable):
    r = route(sim_url, "openai_images", f"gpt-image-2::status={status}")
    with pytest.raises(UpstreamError) as exc:
        openai_images.submit(route=r, spec=spec(prompt="x"))
    assert exc.value.status == status and exc.value.retryable is retryable


def test_gemini_image_models_return_inline_png(sim_url):
    r = route(sim_url, "gemini", "nano_banana")
    image = f"{sim_url}/files/img-00000000000000bb-64x64.png"
    done = gemini_images.submit(route=r, spec=spec(quantity=3, prompt="a fox", images=[image], aspect_ratio="16:9"))
    assert kinds(done.outputs) == ["png", "png", "png"]
    empty = gemini_images.submit(route=route(sim_url, "gemini", "nano_banana::empty=1"), spec=spec(prompt="x"))
    assert empty.outputs == []


def test_media_api_video_submit_poll_through_429s(sim_url, fetch):
    r = route(sim_url, "media_jobs", "kling-2-6::duration_ms=150,poll_429=2")
    submitted = wavespeed.submit(
        route=r, spec=spec("video", "image_to_video", 5, prompt="a cat", duration=5, image=f"{sim_url}/files/x.png")
    )
    assert not submitted.done and submitted.upstream_id
    polled, seen = poll_until_done(r, submitted.upstream_id)
    assert seen[:2] == ["rate_limited", "rate_limited"]  # a 429 while polling is not a failure
    assert polled.state == "completed" and kinds(polled.outputs, fetch) == ["mp4"]


def test_media_api_fast_images_3d_failure_and_empty(sim_url, fetch):
    images = route(sim_url, "media_jobs", "flux-2-pro::duration_ms=50")
    polled, _ = poll_until_done(images, wavespeed.submit(route=images, spec=spec(quantity=2, prompt="x")).upstream_id)
    assert kinds(polled.outputs, fetch) == ["png", "png"]
    views = {
        f"{side}_image_url": f"{sim_url}/files/img-000000000000000{i}-64x64.png"
        for i, side in enumerate(["front", "back", "left", "right"])
    }
    mesh = route(sim_url, "media_jobs", "tripo3d-multiview-to-3d::duration_ms=50")
    polled, _ = poll_until_done(
        mesh, wavespeed.submit(route=mesh, spec=spec("3d", "multiview_to_3d", **views)).upstream_id
    )
    assert kinds(polled.outputs, fetch) == ["glb"]
    failing = route(sim_url, "media_jobs", "kling-2-6::duration_ms=50,fail=1")
    polled, _ = poll_until_done(
        failing, wavespeed.submit(route=failing, spec=spec("video", prompt="x", duration=5)).upstream_id
    )
    assert polled.state == "failed" and "failure" in polled.error
    empty = route(sim_url, "media_jobs", "kling-2-6::duration_ms=50,empty=1")
    polled, _ = poll_until_done(
        empty, wavespeed.submit(route=empty, spec=spec("video", prompt="x", duration=5)).upstream_id
    )
    assert polled.state == "completed" and polled.outputs == []


def test_media_api_lost_job_fails_the_poll(sim_url):
    polled = wavespeed.poll(route=route(sim_url, "media_jobs", "kling-2-6"), upstream_id="nope")
    assert polled.state == "failed" and "404" in polled.error


def test_fish_tts_clone_and_asr(sim_url):
    r = route(sim_url, "fish_audio", "audio-tts")
    tts = fish_audio.submit(route=r, spec=spec("audio", "tts", text="(happy) Welcome to Hypereal!", format="wav"))
    assert kinds(tts.outputs) == ["wav"]
    reference = f"{sim_url}/files/audio-00000000000000cc-12000.mp3"
    clone = fish_audio.submit(route=r, spec=spec("audio", "clone", text="My voice", reference_audio=reference))
    assert kinds(clone.outputs) == ["mp3"]
    asr = fish_audio.submit(
        route=r, spec=spec("audio", "asr", audio=f"{sim_url}/files/audio-00000000000000dd-3000.wav")
    )
    assert asr.result["text"] and asr.result["duration"] == pytest.approx(3.0, abs=0.1)
    assert asr.result["segments"][0]["start"] == 0


def test_fish_clone_refuses_a_short_reference(sim_url):
    r = route(sim_url, "fish_audio", "audio-clone")
    short = f"{sim_url}/files/audio-00000000000000cc-4000.mp3"
    with pytest.raises(InputError) as exc:
        fish_audio.submit(route=r, spec=spec("audio", "clone", text="x", reference_audio=short))
    assert exc.value.param == "audio" and "at least 10 s" in exc.value.message


def test_input_fetch_guards_private_addresses(sim_url, settings):
    data, content_type = input_fetch(f"{sim_url}/files/img-0000000000000001-8x8.png", param="image")
    assert sniff_extension(data) == "png" and content_type == "image/png"
    settings.MEDIA_FETCH_ALLOW_PRIVATE_URLS = False
    with pytest.raises(InputError, match="private, loopback or link-local"):
        input_fetch(f"{sim_url}/files/img-0000000000000001-8x8.png", param="image")
    for url in (
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/x",
        "http://[::1]/x",
        "ftp://example.com/x",
    ):
        with pytest.raises(InputError):
            input_fetch(url, param="image")
    png, kind = input_fetch("data:image/png;base64,iVBORw0KGgo=", param="image")
    assert png.startswith(b"\x89PNG") and kind == "image/png"
