"""Real, small, valid media files (PNG, WAV, MP3, Ogg Opus, MP4, GLB).

Generated files are addressed by deterministic names so ``GET /files/{name}``
can regenerate them on demand (the simulator keeps no file store):

  img-{seed16hex}-{w}x{h}.png     RGB gradient PNG of w x h pixels
  audio-{seed16hex}-{ms}.wav      16-bit mono 44.1 kHz sine tone of ms milliseconds
  audio-{seed16hex}-{ms}.mp3      MPEG-1 Layer III silent frames, 128 kbps mono
  video-{anything}.mp4            the bundled 1 s H.264/AAC clip (assets/clip.mp4)
  mesh-{seed16hex}.glb            glTF 2.0 binary with one triangle
"""

from __future__ import annotations

import math
import os
import re
import struct
import zlib
from collections import OrderedDict

import orjson

ASSET_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")

CONTENT_TYPES = {
    "png": "image/png",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "ogg": "audio/ogg",
    "pcm": "audio/pcm",
    "mp4": "video/mp4",
    "glb": "model/gltf-binary",
}

# --------------------------------------------------------------------------
# PNG
# --------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def make_png(seed: int, width: int = 64, height: int = 64) -> bytes:
    """8-bit RGB gradient, colours derived from ``seed``."""
    width = max(1, min(int(width), 2048))
    height = max(1, min(int(height), 2048))
    s1, s2, s3 = seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF
    red = bytes(((x * 255) // max(1, width - 1) + s1) & 0xFF for x in range(width))
    diag = bytes((s3 + i * 2) & 0xFF for i in range(width + height))
    rows = bytearray()
    row = bytearray(width * 3)
    row[0::3] = red
    for y in range(height):
        row[1::3] = bytes((((y * 255) // max(1, height - 1) + s2) & 0xFF,)) * width
        row[2::3] = diag[y : y + width]
        rows.append(0)  # filter type: None
        rows += row
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + _png_chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


# --------------------------------------------------------------------------
# WAV
# --------------------------------------------------------------------------

_PERIOD_CACHE: dict[int, bytes] = {}


def _sine_period(sample_rate: int) -> bytes:
    """One period of a ~441 Hz sine at ``sample_rate`` as int16 LE bytes."""
    cached = _PERIOD_CACHE.get(sample_rate)
    if cached is None:
        period = max(2, round(sample_rate / 441))
        cached = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * i / period))) for i in range(period))
        _PERIOD_CACHE[sample_rate] = cached
    return cached


def pcm_samples(duration_ms: int, sample_rate: int = 44100) -> bytes:
    n = int(sample_rate * duration_ms / 1000)
    if n <= 0:
        return b""
    period = _sine_period(sample_rate)
    reps = (n * 2) // len(period) + 1
    return (period * reps)[: n * 2]


def make_wav(duration_ms: int, sample_rate: int = 44100, comment: str | None = None) -> bytes:
    """PCM 16-bit mono WAV.  ``comment`` is stored in a LIST/INFO/ICMT chunk."""
    data = pcm_samples(duration_ms, sample_rate)
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if comment:
        txt = comment.encode("utf-8") + b"\x00"
        if len(txt) % 2:
            txt += b"\x00"
        info = b"INFO" + b"ICMT" + struct.pack("<I", len(txt)) + txt
        chunks += b"LIST" + struct.pack("<I", len(info)) + info
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def parse_wav(data: bytes) -> dict | None:
    """Return {sample_rate, channels, bits, duration_s, comment} or None."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    info: dict = {"comment": None}
    data_len = None
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt " and len(body) >= 16:
            _fmt, ch, sr, _br, _align, bits = struct.unpack("<HHIIHH", body[:16])
            info.update(channels=ch, sample_rate=sr, bits=bits)
        elif cid == b"LIST" and body[:4] == b"INFO":
            p = 4
            while p + 8 <= len(body):
                sid = body[p : p + 4]
                (ssz,) = struct.unpack("<I", body[p + 4 : p + 8])
                if sid == b"ICMT":
                    info["comment"] = body[p + 8 : p + 8 + ssz].rstrip(b"\x00").decode("utf-8", "replace")
                p += 8 + ssz + (ssz % 2)
        elif cid == b"data":
            # Streaming writers put 0 or 0xFFFFFFFF here; fall back to what we have.
            data_len = size if 0 < size <= len(data) - pos - 8 else len(data) - pos - 8
            break
        pos += 8 + size + (size % 2)
    if "sample_rate" not in info or data_len is None:
        return None
    bytes_per_s = info["sample_rate"] * info["channels"] * max(1, info["bits"] // 8)
    info["duration_s"] = data_len / bytes_per_s if bytes_per_s else 0.0
    return info


# --------------------------------------------------------------------------
# MP3 (MPEG-1 Layer III, 128 kbps, 44.1 kHz, mono, silent frames)
# --------------------------------------------------------------------------

MP3_FRAME_HEADER = b"\xff\xfb\x90\xc4"  # sync, MPEG-1 L3 no CRC, 128k, 44.1k, mono
MP3_FRAME_BYTES = 417  # floor(144 * 128000 / 44100), no padding
MP3_FRAME_SAMPLES = 1152
MP3_FRAME = MP3_FRAME_HEADER + bytes(MP3_FRAME_BYTES - 4)


def _syncsafe(n: int) -> bytes:
    return bytes(((n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F))


def _unsyncsafe(b: bytes) -> int:
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]


def make_mp3(duration_ms: int, comment: str | None = None) -> bytes:
    """Silent CBR MP3.  ``comment`` goes into an ID3v2.4 TXXX frame."""
    frames = max(1, math.ceil(duration_ms / 1000 * 44100 / MP3_FRAME_SAMPLES))
    tag = b""
    if comment:
        body = b"\x03" + b"sim-text\x00" + comment.encode("utf-8")
        frame = b"TXXX" + _syncsafe(len(body)) + b"\x00\x00" + body
        tag = b"ID3\x04\x00\x00" + _syncsafe(len(frame)) + frame
    return tag + MP3_FRAME * frames


_MP3_BITRATES = {
    # (version_bits, layer_bits) -> table ; version 3 = MPEG1, 2 = MPEG2, 0 = MPEG2.5
    (3, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0),  # L3
    (3, 2): (
        0,
        32,
        48,
        56,
        64,
        80,
        96,
        112,
        128,
        160,
        192,
        224,
        256,
        320,
        384,
        0,
    ),  # L2
    (3, 3): (
        0,
        32,
        64,
        96,
        128,
        160,
        192,
        224,
        256,
        288,
        320,
        352,
        384,
        416,
        448,
        0,
    ),  # L1
    (2, 1): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0),
    (2, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0),
}
_MP3_RATES = {
    3: (44100, 48000, 32000),
    2: (22050, 24000, 16000),
    0: (11025, 12000, 8000),
}


def parse_mp3(data: bytes) -> dict | None:
    """Count MPEG audio frames.  Returns {frames, duration_s, comment} or None."""
    pos = 0
    comment = None
    if data[:3] == b"ID3" and len(data) >= 10:
        size = _unsyncsafe(data[6:10])
        tag = data[10 : 10 + size]
        i = tag.find(b"TXXX")
        if i != -1 and len(tag) >= i + 10:
            fsize = _unsyncsafe(tag[i + 4 : i + 8])
            body = tag[i + 10 : i + 10 + fsize]
            if body[:1] == b"\x03" and b"\x00" in body[1:]:
                desc, _, val = body[1:].partition(b"\x00")
                if desc == b"sim-text":
                    comment = val.decode("utf-8", "replace")
        pos = 10 + size
    frames = 0
    seconds = 0.0
    n = len(data)
    misses = 0
    while pos + 4 <= n:
        b1 = data[pos + 1]
        if data[pos] != 0xFF or (b1 & 0xE0) != 0xE0:
            pos += 1
            misses += 1
            if misses > 65536:
                break
            continue
        version = (b1 >> 3) & 0x3
        layer = (b1 >> 1) & 0x3
        b2 = data[pos + 2]
        br_idx = b2 >> 4
        sr_idx = (b2 >> 2) & 0x3
        padding = (b2 >> 1) & 0x1
        if version == 1 or layer == 0 or br_idx in (0, 15) or sr_idx == 3:
            pos += 1
            continue
        table = _MP3_BITRATES[(3 if version == 3 else 2, layer)]
        bitrate = table[br_idx] * 1000
        sr = _MP3_RATES[version][sr_idx]
        if layer == 3:  # Layer I
            length = (12 * bitrate // sr + padding) * 4
            samples = 384
        elif layer == 2:  # Layer II
            length = 144 * bitrate // sr + padding
            samples = 1152
        else:  # Layer III
            if version == 3:
                length = 144 * bitrate // sr + padding
                samples = 1152
            else:
                length = 72 * bitrate // sr + padding
                samples = 576
        if length < 4:
            pos += 1
            continue
        frames += 1
        seconds += samples / sr
        pos += length
    if frames == 0:
        return None
    return {"frames": frames, "duration_s": seconds, "comment": comment}


# --------------------------------------------------------------------------
# Ogg Opus (silent 20 ms CELT frames)
# --------------------------------------------------------------------------


def _ogg_crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_OGG_TABLE = _ogg_crc_table()


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_TABLE[((crc >> 24) & 0xFF) ^ b]
    return crc


def _ogg_page(packets: list[bytes], granule: int, serial: int, seq: int, flags: int) -> bytes:
    lacing = bytearray()
    for p in packets:
        n = len(p)
        while n >= 255:
            lacing.append(255)
            n -= 255
        lacing.append(n)
    header = (
        b"OggS"
        + bytes((0, flags))
        + struct.pack("<qIII", granule, serial, seq, 0)
        + bytes((len(lacing),))
        + bytes(lacing)
    )
    page = header + b"".join(packets)
    crc = _ogg_crc(page)
    return page[:22] + struct.pack("<I", crc) + page[26:]


def make_ogg_opus(duration_ms: int) -> bytes:
    serial = 0x51A11E
    head = b"OpusHead" + bytes((1, 1)) + struct.pack("<HIhB", 312, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 9) + b"simulator" + struct.pack("<I", 0)
    out = [_ogg_page([head], 0, serial, 0, 0x02), _ogg_page([tags], 0, serial, 1, 0)]
    silent = b"\xf8\xff\xfe"  # TOC: CELT FB 20 ms mono, one frame
    n_packets = max(1, math.ceil(duration_ms / 20))
    seq = 2
    granule = 312
    done = 0
    while done < n_packets:
        batch = min(50, n_packets - done)
        done += batch
        granule += batch * 960
        flags = 0x04 if done == n_packets else 0
        out.append(_ogg_page([silent] * batch, granule, serial, seq, flags))
        seq += 1
    return b"".join(out)


def parse_ogg(data: bytes) -> dict | None:
    if data[:4] != b"OggS":
        return None
    last = data.rfind(b"OggS")
    if last < 0 or last + 14 > len(data):
        return None
    (granule,) = struct.unpack("<q", data[last + 6 : last + 14])
    rate = 48000 if b"OpusHead" in data[:200] else 44100
    pre = 312 if rate == 48000 else 0
    return {"duration_s": max(0, granule - pre) / rate, "comment": None}


# --------------------------------------------------------------------------
# Audio sniffing
# --------------------------------------------------------------------------


def audio_info(data: bytes) -> dict:
    """Best-effort {format, duration_s, comment} for uploaded audio bytes."""
    wav = parse_wav(data)
    if wav:
        return {
            "format": "wav",
            "duration_s": wav["duration_s"],
            "comment": wav["comment"],
        }
    if data[:4] == b"OggS":
        ogg = parse_ogg(data)
        if ogg:
            return {"format": "ogg", "duration_s": ogg["duration_s"], "comment": None}
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0):
        mp3 = parse_mp3(data)
        if mp3:
            return {
                "format": "mp3",
                "duration_s": mp3["duration_s"],
                "comment": mp3["comment"],
            }
    # Unknown container: assume 128 kbps.
    return {"format": "unknown", "duration_s": len(data) / 16000, "comment": None}


# --------------------------------------------------------------------------
# GLB (glTF 2.0 binary, one triangle)
# --------------------------------------------------------------------------


def make_glb(seed: int) -> bytes:
    s = (seed % 1000) / 1000.0
    positions = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.5 + s / 2, 1.0, 0.0)
    bin_data = struct.pack("<9f", *positions) + struct.pack("<3H", 0, 1, 2)
    bin_data += b"\x00" * (-len(bin_data) % 4)
    color = [
        ((seed >> 8) & 0xFF) / 255,
        ((seed >> 16) & 0xFF) / 255,
        ((seed >> 24) & 0xFF) / 255,
        1.0,
    ]
    gltf = {
        "asset": {"version": "2.0", "generator": "hypereal-simulator"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "materials": [{"pbrMetallicRoughness": {"baseColorFactor": color}}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "material": 0}]}],
        "buffers": [{"byteLength": len(bin_data)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": 36, "target": 34962},
            {"buffer": 0, "byteOffset": 36, "byteLength": 6, "target": 34963},
        ],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": 3,
                "type": "VEC3",
                "min": [0.0, 0.0, 0.0],
                "max": [1.0, 1.0, 0.0],
            },
            {"bufferView": 1, "componentType": 5123, "count": 3, "type": "SCALAR"},
        ],
    }
    json_data = orjson.dumps(gltf)
    json_data += b" " * (-len(json_data) % 4)
    total = 12 + 8 + len(json_data) + 8 + len(bin_data)
    return (
        b"glTF"
        + struct.pack("<II", 2, total)
        + struct.pack("<I", len(json_data))
        + b"JSON"
        + json_data
        + struct.pack("<I", len(bin_data))
        + b"BIN\x00"
        + bin_data
    )


# --------------------------------------------------------------------------
# MP4 asset
# --------------------------------------------------------------------------

_MP4: bytes | None = None


def mp4_clip() -> bytes:
    global _MP4
    if _MP4 is None:
        with open(os.path.join(ASSET_DIR, "clip.mp4"), "rb") as fh:
            _MP4 = fh.read()
    return _MP4


# --------------------------------------------------------------------------
# /files/{name} registry
# --------------------------------------------------------------------------

_NAME_RE = re.compile(
    r"^(?:img-(?P<iseed>[0-9a-f]{1,16})-(?P<w>\d{1,4})x(?P<h>\d{1,4})\.png"
    r"|audio-(?P<aseed>[0-9a-f]{1,16})-(?P<ms>\d{1,7})\.(?P<aext>wav|mp3|opus)"
    r"|video-[A-Za-z0-9_.-]{1,80}\.mp4"
    r"|mesh-(?P<mseed>[0-9a-f]{1,16})\.glb)$"
)

_CACHE: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
_CACHE_MAX = 512


def image_name(seed: int, width: int, height: int) -> str:
    return f"img-{seed & 0xFFFFFFFFFFFFFFFF:016x}-{width}x{height}.png"


def audio_name(seed: int, ms: int, ext: str) -> str:
    return f"audio-{seed & 0xFFFFFFFFFFFFFFFF:016x}-{ms}.{ext}"


def video_name(tag: str) -> str:
    return f"video-{tag}.mp4"


def mesh_name(seed: int) -> str:
    return f"mesh-{seed & 0xFFFFFFFFFFFFFFFF:016x}.glb"


def get_file(name: str) -> tuple[bytes, str] | None:
    hit = _CACHE.get(name)
    if hit is not None:
        _CACHE.move_to_end(name)
        return hit
    m = _NAME_RE.match(name)
    if not m:
        return None
    if m.group("iseed") is not None:
        w, h = int(m.group("w")), int(m.group("h"))
        if not (1 <= w <= 2048 and 1 <= h <= 2048):
            return None
        result = (make_png(int(m.group("iseed"), 16), w, h), CONTENT_TYPES["png"])
    elif m.group("aseed") is not None:
        ms = min(int(m.group("ms")), 600_000)
        ext = m.group("aext")
        if ext == "wav":
            body = make_wav(ms)
        elif ext == "mp3":
            body = make_mp3(ms)
        else:
            body = make_ogg_opus(ms)
        result = (body, CONTENT_TYPES[ext])
    elif m.group("mseed") is not None:
        result = (make_glb(int(m.group("mseed"), 16)), CONTENT_TYPES["glb"])
    else:
        result = (mp4_clip(), CONTENT_TYPES["mp4"])
    _CACHE[name] = result
    if len(_CACHE) > _CACHE_MAX:
        _CACHE.popitem(last=False)
    return result


def scaled_image_dims(size: str | None, default: int = 64) -> tuple[int, int]:
    """Map a requested 'WxH' to the generated PNG size (1/16 scale, 16..256 px)."""
    if isinstance(size, str) and "x" in size:
        try:
            w, h = (int(v) for v in size.lower().split("x", 1))
            return max(16, min(256, w // 16)), max(16, min(256, h // 16))
        except ValueError:
            pass
    return default, default
