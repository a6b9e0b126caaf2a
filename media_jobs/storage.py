"""Copying upstream outputs into our own storage (Django's default storage:
local files, or S3-compatible when configured), so results outlive the
upstream's short-lived links and are served from our URLs.

The file type is taken from the bytes, not from what the upstream claims:
an HTML error page where a PNG was expected is a failed output, not a file.
"""

import hashlib
import secrets

import requests
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from media_jobs.adapters.base import UpstreamError, UpstreamOutput, session
from media_jobs.services import StoredOutput

# kind -> extensions a job of that type may deliver
ACCEPTED = {
    "image": {"png", "jpg", "webp", "gif"},
    "video": {"mp4", "webm", "mov"},
    "audio": {"mp3", "wav", "ogg", "flac", "m4a", "pcm"},
    "3d": {"glb"},
}
CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "mov": "video/quicktime",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "m4a": "audio/mp4",
    "pcm": "audio/pcm",
    "glb": "model/gltf-binary",
}


def sniff_extension(data: bytes) -> str | None:
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "m4a"
        return "mov" if brand == b"qt  " else "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head.startswith(b"glTF"):
        return "glb"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def _download(url: str) -> bytes:
    limit = settings.MEDIA_OUTPUT_MAX_BYTES
    try:
        with session().get(url, stream=True, timeout=(10, 300)) as response:
            if response.status_code != 200:
                raise UpstreamError(f"output download failed: HTTP {response.status_code}", retryable=True)
            chunks, size = [], 0
            for chunk in response.iter_content(256 * 1024):
                size += len(chunk)
                if size > limit:
                    raise UpstreamError(f"output larger than {limit} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.RequestException as exc:
        raise UpstreamError(f"output download failed: {type(exc).__name__}", retryable=True) from None


def output_store(
    *, user_id: int, job_public_id: str, index: int, job_type: str, output: UpstreamOutput
) -> StoredOutput:
    """Fetch (if needed), check and save one output. Raises UpstreamError
    when it is missing, too large or not a file of the job's kind."""
    data = output.data if output.data is not None else _download(output.url)
    if not data:
        raise UpstreamError("the upstream returned an empty file")
    ext = sniff_extension(data)
    if ext is None and job_type == "audio" and output.content_type == "audio/pcm":
        ext = "pcm"
    if ext not in ACCEPTED.get(job_type, set()):
        raise UpstreamError(f"the upstream returned a file that is not a {job_type} ({ext or 'unknown type'})")
    # A random component keeps two racing workers from overwriting each other's file.
    name = f"media_jobs/{user_id}/{job_public_id}/{index}-{secrets.token_hex(4)}.{ext}"
    saved = default_storage.save(name, ContentFile(data))
    return StoredOutput(
        name=saved,
        extension=ext,
        content_type=CONTENT_TYPES[ext],
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        upstream_url=output.url,
    )
