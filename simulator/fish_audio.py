"""Fish Audio: /fish/v1/tts, /fish/v1/asr, /fish/model (voice cloning)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from . import files
from . import text as T
from .app import (
    HTTPError,
    Request,
    Router,
    authorized,
    new_id,
    parse_multipart,
    pre_faults,
    retry_headers,
    send_body,
    send_stream,
)

try:  # msgpack is what the official Fish SDKs send for ASR / TTS-with-references
    import msgpack  # type: ignore
except ImportError:  # pragma: no cover
    msgpack = None

MIN_CLONE_SECONDS = 10.0
MS_PER_CHAR = 65  # ~15 characters of speech per second
AUDIO_CHUNK = 16384  # streamed audio chunk size (one "content chunk" for faults)

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_MODELS: dict[str, dict] = {}  # voice models created via POST /fish/model


async def fish_error(req: Request, status: int, message: str) -> None:
    await req.respond_json(status, {"message": message, "status": status}, retry_headers(status, req.fault))


async def unauthorized(req: Request) -> None:
    await fish_error(req, 401, "Invalid Token")


def _payload(req: Request) -> dict:
    ctype = req.content_type
    if ctype == "application/msgpack":
        if msgpack is None:
            raise HTTPError(415, "msgpack bodies are not supported by this simulator build")
        try:
            data = msgpack.unpackb(req.body, raw=False)
        except Exception as exc:
            raise HTTPError(400, f"Invalid msgpack body: {exc}") from None
        if not isinstance(data, dict):
            raise HTTPError(400, "Body must be a map")
        return data
    if ctype == "multipart/form-data":
        out: dict[str, Any] = {}
        for part in parse_multipart(req):
            value: Any = part.data if part.filename is not None or part.name in ("audio", "voices") else part.text
            if part.name in out:
                prev = out[part.name]
                out[part.name] = (prev if isinstance(prev, list) else [prev]) + [value]
            else:
                out[part.name] = value
        return out
    return req.json_object()


def _audio_bytes(value: Any, field: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise HTTPError(400, f"'{field}' must be base64-encoded audio") from None
    raise HTTPError(400, f"'{field}' is required")


def _bool(v: Any, default: bool) -> bool:
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    return str(v).strip().lower() in ("1", "true", "yes", "on")


# --------------------------------------------------------------------------
# TTS
# --------------------------------------------------------------------------

_TTS_TYPES = {
    "mp3": b"audio/mpeg",
    "wav": b"audio/wav",
    "pcm": b"audio/pcm",
    "opus": b"audio/ogg",
}


async def tts(req: Request) -> None:
    if not authorized(req, "bearer"):
        await unauthorized(req)
        return
    try:
        body = _payload(req)
        f = req.faults()
        if await pre_faults(req, f, fish_error):
            return
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise HTTPError(400, "'text' is required")
        fmt = body.get("format") or "mp3"
        if fmt not in _TTS_TYPES:
            raise HTTPError(400, f"Unsupported format '{fmt}'; use mp3, wav, pcm or opus")
        ref = body.get("reference_id")
        if ref and ref not in _MODELS and not _HEX32.match(str(ref)):
            raise HTTPError(400, f"Reference not found: {ref}")
        for i, r in enumerate(body.get("references") or ()):
            if not isinstance(r, dict):
                raise HTTPError(400, f"references[{i}] must be an object with 'audio' and 'text'")
            _audio_bytes(r.get("audio"), f"references[{i}].audio")
        sample_rate = int(body.get("sample_rate") or 44100)
        if sample_rate not in (8000, 16000, 24000, 32000, 44100, 48000):
            raise HTTPError(400, f"Unsupported sample_rate {sample_rate}")
    except HTTPError as exc:
        await fish_error(req, exc.status, exc.message)
        return
    ms = max(500, MS_PER_CHAR * len(text))
    if f.empty:
        ms = 0
    if fmt == "wav":
        audio = files.make_wav(ms, sample_rate, comment=text if ms else None)
    elif fmt == "mp3":
        audio = files.make_mp3(ms, comment=text) if ms else b""
    elif fmt == "pcm":
        audio = files.pcm_samples(ms, sample_rate) if ms else b""
    else:
        audio = files.make_ogg_opus(ms) if ms else b""
    ctype = _TTS_TYPES[fmt]
    headers = [(b"x-audio-duration-ms", str(ms).encode())]
    if f.paced or f.reset_after is not None or f.stall or f.malformed:
        frames = ((audio[i : i + AUDIO_CHUNK], True) for i in range(0, len(audio), AUDIO_CHUNK))
        await send_stream(
            req,
            frames,
            f,
            content_type=ctype,
            headers=headers,
            malformed=b"\x00garbage\x00",
        )
        return
    await send_body(req, 200, audio, f, content_type=ctype, headers=headers)


# --------------------------------------------------------------------------
# ASR
# --------------------------------------------------------------------------


def transcript_for(audio: bytes) -> tuple[str, float]:
    info = files.audio_info(audio)
    duration = float(info["duration_s"])
    if info.get("comment"):
        return info["comment"], duration
    seed = int.from_bytes(hashlib.blake2b(audio, digest_size=8).digest(), "big")
    n = max(1, round(duration * 2.5))  # ~150 words per minute
    return "".join(T.whole_sentences(seed, n)), duration


def segments_for(text: str, duration: float) -> list[dict]:
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()] or [text]
    total = sum(len(s) for s in sentences) or 1
    out = []
    pos = 0
    for s in sentences:
        start = duration * pos / total
        pos += len(s)
        end = duration * pos / total
        out.append({"text": s, "start": round(start, 3), "end": round(end, 3)})
    return out


async def asr(req: Request) -> None:
    if not authorized(req, "bearer"):
        await unauthorized(req)
        return
    try:
        body = _payload(req)
        f = req.faults()
        if await pre_faults(req, f, fish_error):
            return
        audio = body.get("audio")
        if isinstance(audio, list):
            audio = audio[0] if audio else None
        audio_b = _audio_bytes(audio, "audio")
        if not audio_b:
            raise HTTPError(400, "'audio' is empty")
    except HTTPError as exc:
        await fish_error(req, exc.status, exc.message)
        return
    text, duration = transcript_for(audio_b)
    if f.empty:
        text = ""
    out = {
        "text": text,
        "duration": round(duration, 3),
        "segments": segments_for(text, duration) if text else [],
    }
    await send_body(req, 200, orjson.dumps(out), f)


# --------------------------------------------------------------------------
# Voice model creation (cloning)
# --------------------------------------------------------------------------


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


async def create_model(req: Request) -> None:
    if not authorized(req, "bearer"):
        await unauthorized(req)
        return
    try:
        body = _payload(req)
        f = req.faults()
        if await pre_faults(req, f, fish_error):
            return
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise HTTPError(400, "'title' is required")
        mtype = body.get("type", "tts")
        if mtype != "tts":
            raise HTTPError(400, "Only type 'tts' is supported")
        voices = [_audio_bytes(v, "voices") for v in _as_list(body.get("voices"))]
        if not voices or not any(voices):
            raise HTTPError(400, "At least one voice sample ('voices') is required")
        texts = [t if isinstance(t, str) else t.decode("utf-8", "replace") for t in _as_list(body.get("texts"))]
        if texts and len(texts) != len(voices):
            raise HTTPError(400, "'texts' must have the same length as 'voices'")
        durations = []
        for i, v in enumerate(voices):
            d = float(files.audio_info(v)["duration_s"])
            if d < MIN_CLONE_SECONDS:
                raise HTTPError(
                    400,
                    f"Reference audio #{i + 1} is too short: {d:.2f} s (at least {MIN_CLONE_SECONDS:.0f} s required)",
                )
            durations.append(d)
        visibility = body.get("visibility") or "public"
        if visibility not in ("public", "unlist", "private"):
            raise HTTPError(400, "visibility must be public, unlist or private")
        tags = [t if isinstance(t, str) else t.decode() for t in _as_list(body.get("tags"))]
    except HTTPError as exc:
        await fish_error(req, exc.status, exc.message)
        return
    mid = hashlib.blake2b(b"".join(voices) + title.encode() + str(time.time_ns()).encode(), digest_size=16).hexdigest()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    base = req.base_url()
    samples = []
    for i, (v, d) in enumerate(zip(voices, durations, strict=True)):
        sample_text = texts[i] if texts else transcript_for(v)[0]
        seed = int.from_bytes(hashlib.blake2b(v, digest_size=8).digest(), "big")
        samples.append(
            {
                "title": f"sample {i + 1}",
                "text": sample_text,
                "task_id": new_id("", 16),
                "audio": f"{base}/files/{files.audio_name(seed, int(d * 1000), 'mp3')}",
            }
        )
    model = {
        "_id": mid,
        "type": "tts",
        "title": title,
        "description": body.get("description") or "",
        "cover_image": "",
        "train_mode": body.get("train_mode") or "fast",
        "state": "trained",
        "tags": tags,
        "samples": samples,
        "created_at": stamp,
        "updated_at": stamp,
        "languages": ["en"],
        "visibility": visibility,
        "lock_visibility": False,
        "like_count": 0,
        "mark_count": 0,
        "shared_count": 0,
        "task_count": 0,
        "liked": False,
        "marked": False,
        "author": {"_id": "0" * 32, "nickname": "simulator", "avatar": ""},
    }
    _MODELS[mid] = model
    await req.respond_json(201, model)


async def get_model(req: Request) -> None:
    if not authorized(req, "bearer"):
        await unauthorized(req)
        return
    mid = req.path.rsplit("/", 1)[-1]
    model = _MODELS.get(mid)
    if model is None:
        await fish_error(req, 404, f"Model not found: {mid}")
        return
    await req.respond_json(200, model)


def register(r: Router) -> None:
    r.add("POST", "/fish/v1/tts", tts)
    r.add("POST", "/fish/v1/asr", asr)
    r.add("POST", "/fish/model", create_model)
    r.add_prefix("GET", "/fish/model/", get_model)
