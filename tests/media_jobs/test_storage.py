"""Outputs are copied into our storage, checked by their bytes, and served
from our URLs to their owner (API key or dashboard session) or a signed URL."""

import time

import pytest
from asgiref.sync import async_to_sync
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import AsyncClient

from media_jobs.adapters.base import UpstreamError, UpstreamOutput
from media_jobs.presenters import job_output_url, output_signature
from media_jobs.services import StoredOutput, job_complete, job_submit
from media_jobs.storage import output_store, sniff_extension
from tests.media_jobs.support import model_view

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


@pytest.mark.parametrize(
    "head,ext",
    [
        (PNG, "png"),
        (b"\xff\xd8\xff\xe0", "jpg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
        (b"\x00\x00\x00\x18ftypisom", "mp4"),
        (b"glTF\x02\x00\x00\x00", "glb"),
        (b"ID3\x04\x00", "mp3"),
        (b"\xff\xfb\x90\x00", "mp3"),
        (b"OggS\x00", "ogg"),
        (b"<!doctype html><p>error</p>", None),
    ],
)
def test_file_types_come_from_the_bytes(head, ext):
    assert sniff_extension(head) == ext


def test_outputs_are_copied_from_the_upstream_and_checked(sim_url, settings):
    stored = output_store(
        user_id=1,
        job_public_id="job_x",
        index=0,
        job_type="video",
        output=UpstreamOutput(url=f"{sim_url}/files/video-abc.mp4"),
    )
    assert stored.extension == "mp4" and stored.content_type == "video/mp4" and stored.upstream_url.startswith(sim_url)
    with default_storage.open(stored.name) as f:
        assert f.read()[4:8] == b"ftyp"
    with pytest.raises(UpstreamError, match="not a image"):
        output_store(user_id=1, job_public_id="job_x", index=1, job_type="image", output=UpstreamOutput(data=b"<html>"))
    with pytest.raises(UpstreamError, match="HTTP 404"):
        output_store(
            user_id=1,
            job_public_id="job_x",
            index=1,
            job_type="image",
            output=UpstreamOutput(url=f"{sim_url}/files/nope"),
        )
    settings.MEDIA_OUTPUT_MAX_BYTES = 100
    with pytest.raises(UpstreamError, match="larger than"):
        output_store(
            user_id=1,
            job_public_id="job_x",
            index=1,
            job_type="video",
            output=UpstreamOutput(url=f"{sim_url}/files/video-abc.mp4"),
        )


@pytest.mark.django_db(transaction=True)
def test_owner_session_key_and_signed_url_can_fetch_nobody_else(client, make_user, catalog):
    from accounts.services import api_key_mint

    owner = make_user(credits=100)
    stranger = make_user(credits=100)
    job = job_submit(
        user_id=owner.pk,
        api_key_id=None,
        model=model_view("gpt-image-2"),
        job_type="image",
        endpoint="images_generate",
        operation="generate",
        input={"prompt": "x"},
        quantity=1,
        deadline_seconds=600,
    )
    name = default_storage.save(f"media_jobs/{owner.pk}/{job.public_id}/0.png", ContentFile(PNG))
    job_complete(
        job_id=job.pk,
        outputs=[StoredOutput(name=name, extension="png", content_type="image/png", size_bytes=len(PNG), sha256="x")],
    )
    output = job.outputs.get()
    signed = job_output_url(output)
    path = job_output_url(output, signed=False).removeprefix("http://testserver")
    signed_path = signed.removeprefix("http://testserver")

    def get(url, *, user=None, key=None):
        async_client = AsyncClient()
        if user is not None:
            async_client.force_login(user)
        headers = {"Authorization": f"Bearer {key}"} if key else {}

        async def fetch():
            response = await async_client.get(url, headers=headers)
            body = b"".join([chunk async for chunk in response]) if response.status_code == 200 else b""
            return response, body

        return async_to_sync(fetch)()

    response, body = get(path, user=owner)
    assert response.status_code == 200 and body == PNG and response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(PNG)) and response["Cache-Control"].startswith("private")
    assert get(path, user=stranger)[0].status_code == 404
    assert get(path, key=api_key_mint(user=owner).raw_key)[0].status_code == 200
    assert get(path, key=api_key_mint(user=stranger).raw_key)[0].status_code == 404
    assert get(path)[0].status_code == 404
    assert get(signed_path)[1] == PNG
    assert get(signed_path.replace("sig=", "sig=x"))[0].status_code == 404
    assert get(path.replace(".png", ".mp4"))[0].status_code == 404
    expired = output_signature(job_public_id=job.public_id, index=0, expires=int(time.time()) - 1)
    assert get(f"{path}?expires={int(time.time()) - 1}&sig={expired}")[0].status_code == 404
