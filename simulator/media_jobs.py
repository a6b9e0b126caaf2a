"""WaveSpeed-style asynchronous media jobs under /wavespeed/api/v3/...

  POST /wavespeed/api/v3/{model_path}                 submit a job
  GET  /wavespeed/api/v3/predictions/{id}/result      poll
  GET  /wavespeed/api/v3/predictions/{id}             poll (alias)

Jobs live in memory.  Status is computed lazily from the elapsed time: the job
is ``created`` for the first 10 % of its processing time, ``processing`` until
``duration_ms`` (default 1000) has elapsed, then ``completed`` (or ``failed``).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from . import files
from . import text as T
from .app import (
    HTTPError,
    Request,
    Router,
    authorized,
    new_id,
    pre_faults,
    retry_headers,
)
from .faults import Faults, split_model

PREFIX = "/wavespeed/api/v3/"
DEFAULT_DURATION_MS = 1000
MAX_JOBS = 100_000
MAX_OUTPUTS = 8

_VIDEO_HINTS = (
    "video",
    "t2v",
    "i2v",
    "v2v",
    "kling",
    "veo",
    "wan-",
    "wan2",
    "seedance",
    "hailuo",
    "sora",
    "pixverse",
    "vidu",
    "runway",
    "lipsync",
    "avatar",
    "animate",
)
_AUDIO_HINTS = ("tts", "speech", "audio", "music", "voice", "song")


def output_kind(model_path: str) -> str:
    m = model_path.lower()
    if "3d" in m:
        return "glb"
    if any(h in m for h in _VIDEO_HINTS):
        return "mp4"
    if any(h in m for h in _AUDIO_HINTS):
        return "mp3"
    return "png"


class Job:
    __slots__ = (
        "created_at",
        "duration_s",
        "faults",
        "id",
        "input",
        "model",
        "outputs",
        "polls_429_left",
        "started",
    )

    def __init__(self, jid: str, model: str, body: dict, f: Faults, outputs: list[str]):
        self.id = jid
        self.model = model
        self.started = time.monotonic()
        dt = datetime.now(UTC)
        self.created_at = f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"
        dur = f.duration_ms if f.duration_ms is not None else DEFAULT_DURATION_MS
        self.duration_s = max(0, dur) / 1000
        self.faults = f
        self.polls_429_left = max(0, f.poll_429)
        self.outputs = outputs
        self.input = body

    def status(self) -> str:
        elapsed = time.monotonic() - self.started
        if self.faults.stall:
            return "created" if elapsed < 0.1 * max(self.duration_s, 0.001) else "processing"
        if elapsed < 0.1 * self.duration_s:
            return "created"
        if elapsed < self.duration_s:
            return "processing"
        return "failed" if self.faults.fail else "completed"

    def data(self, base: str) -> dict:
        status = self.status()
        outputs = self.outputs if status == "completed" and not self.faults.empty else []
        inference_ms = int(self.duration_s * 1000) if status in ("completed", "failed") else 0
        return {
            "id": self.id,
            "model": self.model,
            "outputs": outputs,
            "urls": {"get": f"{base}{PREFIX}predictions/{self.id}/result"},
            "has_nsfw_contents": [False] * len(outputs),
            "status": status,
            "created_at": self.created_at,
            "error": "Simulated generation failure: the model could not produce an output."
            if status == "failed"
            else "",
            "executionTime": inference_ms,
            "timings": {"inference": inference_ms},
        }


_JOBS: dict[str, Job] = {}


def envelope(data: Any, code: int = 200, message: str = "success") -> dict:
    return {"code": code, "message": message, "data": data}


async def ws_error(req: Request, status: int, message: str) -> None:
    await req.respond_json(status, envelope(None, status, message), retry_headers(status, req.fault))


async def unauthorized(req: Request) -> None:
    await ws_error(req, 401, "Unauthorized: invalid or missing API key")


def _count(body: dict) -> int:
    for key in ("num_images", "n", "num_outputs"):
        v = body.get(key)
        if isinstance(v, int) and v > 0:
            return min(v, MAX_OUTPUTS)
    return 1


def _dims(body: dict) -> tuple[int, int]:
    size = body.get("size")
    if isinstance(size, str):
        return files.scaled_image_dims(size.replace("*", "x"))
    w, h = body.get("width"), body.get("height")
    if isinstance(w, int) and isinstance(h, int):
        return files.scaled_image_dims(f"{w}x{h}")
    return 64, 64


def build_outputs(base: str, jid: str, model: str, body: dict) -> list[str]:
    kind = output_kind(model)
    n = _count(body)
    prompt = str(body.get("prompt", ""))
    out = []
    for i in range(n):
        seed = T.seed_of(model, prompt, str(i))
        if kind == "png":
            w, h = _dims(body)
            name = files.image_name(seed, w, h)
        elif kind == "mp4":
            name = files.video_name(f"{jid}-{i}")
        elif kind == "glb":
            name = files.mesh_name(seed)
        else:
            secs = body.get("duration")
            ms = int(float(secs) * 1000) if isinstance(secs, (int, float)) and secs > 0 else 5000
            name = files.audio_name(seed, min(ms, 600_000), "mp3")
        out.append(f"{base}/files/{name}")
    return out


async def submit(req: Request, model_path: str) -> None:
    try:
        model, opts = split_model(model_path)
        f = req.faults(opts)
        if await pre_faults(req, f, ws_error, streaming=True):  # stall=1 stalls the job, not the request
            return
        body = req.json_object() if req.body else {}
        if not model or model.endswith("/"):
            raise HTTPError(400, "model path is required")
        if not any(
            k in body
            for k in (
                "prompt",
                "image",
                "images",
                "video",
                "audio",
                "text",
                "image_url",
            )
        ):
            raise HTTPError(400, "prompt is required")
    except HTTPError as exc:
        await ws_error(req, exc.status, exc.message)
        return
    base = req.base_url()
    jid = new_id("", 16)
    job = Job(jid, model, body, f, build_outputs(base, jid, model, body))
    _JOBS[jid] = job
    if len(_JOBS) > MAX_JOBS:
        _JOBS.pop(next(iter(_JOBS)))
    if body.get("enable_sync_mode") is True:
        if f.stall:
            await req.wait_disconnect()
            return
        while job.status() not in ("completed", "failed"):
            remaining = job.duration_s - (time.monotonic() - job.started)
            await asyncio.sleep(max(0.002, remaining))
    await req.respond_json(200, envelope(job.data(base)))


async def poll(req: Request, jid: str) -> None:
    f = req.faults()
    if await pre_faults(req, f, ws_error, streaming=True):
        return
    job = _JOBS.get(jid)
    if job is None:
        await ws_error(req, 404, f"prediction {jid} not found")
        return
    if job.polls_429_left > 0:
        job.polls_429_left -= 1
        await req.respond_json(
            429,
            envelope(None, 429, "Too many requests, please slow down"),
            [(b"retry-after", b"1")],
        )
        return
    await req.respond_json(200, envelope(job.data(req.base_url())))


async def route(req: Request) -> None:
    if not authorized(req, "bearer"):
        await unauthorized(req)
        return
    rest = req.path[len(PREFIX) :]
    if rest.startswith("predictions/"):
        parts = rest.split("/")
        if req.method in ("GET", "HEAD") and (len(parts) == 2 or (len(parts) == 3 and parts[2] == "result")):
            await poll(req, parts[1])
            return
        await ws_error(req, 404, "not found")
        return
    if req.method != "POST":
        await ws_error(req, 405, "method not allowed")
        return
    await submit(req, rest)


def register(r: Router) -> None:
    r.add_prefix("POST", PREFIX, route)
    r.add_prefix("GET", PREFIX, route)
