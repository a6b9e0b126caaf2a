"""OpenAI Images over real HTTP, using the official openai SDK."""

from __future__ import annotations

import base64
import struct

import openai
import pytest
import requests

from simulator import files


@pytest.fixture
def client(sim):
    return openai.OpenAI(base_url=f"{sim}/openai/v1", api_key="sk-test", max_retries=0)


def assert_png(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82"
    return w, h


def test_dalle_returns_urls_to_real_pngs(client):
    r = client.images.generate(model="dall-e-3", prompt="a lighthouse", n=1, size="1024x1024")
    (img,) = r.data
    assert img.url.startswith("http://127.0.0.1:")
    assert "/files/img-" in img.url
    assert img.revised_prompt == "a lighthouse"
    got = requests.get(img.url)
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    assert assert_png(got.content) == (64, 64)


def test_gpt_image_defaults_to_b64_with_usage(client):
    r = client.images.generate(model="gpt-image-1", prompt="a cat", n=2, size="1536x1024", quality="low")
    assert len(r.data) == 2
    pngs = [base64.b64decode(d.b64_json) for d in r.data]
    assert [assert_png(p) for p in pngs] == [(96, 64), (96, 64)]
    assert pngs[0] != pngs[1]
    assert r.usage.output_tokens == 2 * 272
    assert r.usage.input_tokens == r.usage.input_tokens_details.text_tokens == 2
    # explicit response_format=url is honoured
    r2 = client.images.generate(model="gpt-image-1", prompt="a cat", response_format="url")
    assert r2.data[0].url and r2.data[0].b64_json is None


def test_deterministic_per_prompt(client):
    a = client.images.generate(model="dall-e-2", prompt="same")
    b = client.images.generate(model="dall-e-2", prompt="same")
    c = client.images.generate(model="dall-e-2", prompt="different")
    assert a.data[0].url == b.data[0].url != c.data[0].url


def test_edits_multipart(client):
    src = files.make_png(7, 32, 32)
    r = client.images.edit(model="gpt-image-1", image=("in.png", src, "image/png"), prompt="add a hat", n=1)
    assert assert_png(base64.b64decode(r.data[0].b64_json)) == (64, 64)
    assert r.usage.input_tokens_details.image_tokens == 323


def test_edits_requires_image(sim):
    r = requests.post(
        f"{sim}/openai/v1/images/edits",
        headers={"Authorization": "Bearer k"},
        files={"prompt": (None, "x"), "model": (None, "gpt-image-1")},
    )
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_image_faults(client):
    with pytest.raises(openai.InternalServerError):
        client.images.generate(model="gpt-image-1::status=500", prompt="x")
    r = client.images.generate(model="gpt-image-1::empty=1", prompt="x")
    assert r.data == []
    with pytest.raises(openai.BadRequestError):
        client.images.generate(model="dall-e-3", prompt="x", n=11)
