"""WaveSpeed-style media jobs: lifecycle, outputs and faults."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def ws(sim, http):
    base = f"{sim}/wavespeed/api/v3"

    def submit(model, body=None, fault=None):
        headers = {"X-Sim-Fault": fault} if fault else {}
        return http.post(f"{base}/{model}", json=body or {"prompt": "a fox"}, headers=headers)

    def poll(url_or_id):
        url = url_or_id if url_or_id.startswith("http") else f"{base}/predictions/{url_or_id}/result"
        return http.get(url)

    return submit, poll


def wait_done(poll, url, timeout=5.0):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        r = poll(url)
        if r.status_code == 200:
            st = r.json()["data"]["status"]
            if not seen or seen[-1] != st:
                seen.append(st)
            if st in ("completed", "failed"):
                return r.json()["data"], seen
        time.sleep(0.02)
    return None, seen


def test_image_job_lifecycle(ws, http):
    submit, poll = ws
    r = submit("wavespeed-ai/flux-dev", {"prompt": "a fox", "num_images": 2})
    assert r.status_code == 200
    env = r.json()
    assert env["code"] == 200 and env["message"] == "success"
    d = env["data"]
    assert d["status"] == "created" and d["outputs"] == []
    assert d["model"] == "wavespeed-ai/flux-dev"
    assert d["urls"]["get"].endswith(f"/wavespeed/api/v3/predictions/{d['id']}/result")
    data, seen = wait_done(poll, d["urls"]["get"])
    assert seen[0] in ("created", "processing") and seen[-1] == "completed"
    assert "processing" in seen
    assert len(data["outputs"]) == 2
    assert data["has_nsfw_contents"] == [False, False]
    assert data["error"] == ""
    assert data["timings"]["inference"] == 1000
    img = http.get(data["outputs"][0])
    assert img.headers["content-type"] == "image/png" and img.content[:8] == b"\x89PNG\r\n\x1a\n"
    # alias without /result
    assert poll(f"{d['urls']['get'][: -len('/result')]}").json()["data"]["status"] == "completed"


@pytest.mark.parametrize(
    ("model", "ctype", "magic"),
    [
        ("kwaivgi/kling-v2.1-i2v-pro", "video/mp4", b"ftyp"),
        ("bytedance/seedance-v1-pro-t2v-480p", "video/mp4", b"ftyp"),
        ("wavespeed-ai/hunyuan3d-v2-multi-view", "model/gltf-binary", b"glTF"),
        ("minimax/speech-02-hd", "audio/mpeg", b"\xff\xfb"),
    ],
)
def test_output_kinds(ws, http, model, ctype, magic):
    submit, poll = ws
    d = submit(model, fault="duration_ms=50").json()["data"]
    data, _ = wait_done(poll, d["id"])
    (url,) = data["outputs"]
    f = http.get(url)
    assert f.headers["content-type"] == ctype
    assert magic in f.content[:16]


def test_sync_mode(ws):
    submit, _ = ws
    t0 = time.monotonic()
    d = submit("wavespeed-ai/flux-dev", {"prompt": "x", "enable_sync_mode": True}, fault="duration_ms=200").json()[
        "data"
    ]
    assert time.monotonic() - t0 >= 0.2
    assert d["status"] == "completed" and len(d["outputs"]) == 1


def test_fail_fault(ws):
    submit, poll = ws
    d = submit("wavespeed-ai/flux-dev::fail=1,duration_ms=50").json()["data"]
    assert d["model"] == "wavespeed-ai/flux-dev"
    data, _ = wait_done(poll, d["id"])
    assert data["status"] == "failed"
    assert data["error"] and data["outputs"] == []


def test_empty_fault(ws):
    submit, poll = ws
    d = submit("wavespeed-ai/flux-dev", fault="empty=1;duration_ms=50").json()["data"]
    data, _ = wait_done(poll, d["id"])
    assert data["status"] == "completed" and data["outputs"] == []


def test_stall_fault(ws):
    submit, poll = ws
    d = submit("wavespeed-ai/flux-dev", fault="stall=1;duration_ms=50").json()["data"]
    time.sleep(0.3)
    assert poll(d["id"]).json()["data"]["status"] == "processing"


def test_poll_429_fault(ws):
    submit, poll = ws
    d = submit("wavespeed-ai/flux-dev", fault="poll_429=2;duration_ms=0").json()["data"]
    r1, r2, r3 = poll(d["id"]), poll(d["id"]), poll(d["id"])
    assert r1.status_code == r2.status_code == 429
    assert r1.headers["retry-after"] == "1"
    assert r1.json() == {"code": 429, "message": "Too many requests, please slow down", "data": None}
    assert r3.status_code == 200 and r3.json()["data"]["status"] == "completed"


def test_submit_errors(ws, sim):
    import requests

    submit, poll = ws
    r = submit("wavespeed-ai/flux-dev::status=503")
    assert r.status_code == 503 and r.json()["code"] == 503 and r.json()["data"] is None
    r = submit("wavespeed-ai/flux-dev", {"seed": 1})
    assert r.status_code == 400
    assert poll("nope").status_code == 404
    r = requests.post(f"{sim}/wavespeed/api/v3/wavespeed-ai/flux-dev", json={"prompt": "x"})
    assert r.status_code == 401
