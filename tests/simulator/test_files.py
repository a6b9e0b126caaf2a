"""Generated media files are real, valid files, served with the right Content-Type."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
import requests

from simulator import files


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        out.append((kind, body))
        pos += 12 + length
    return out


def test_png_valid(sim):
    r = requests.get(f"{sim}/files/{files.image_name(1234, 40, 24)}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    chunks = png_chunks(r.content)
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    w, h, depth, ctype, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (w, h, depth, ctype) == (40, 24, 8, 2)
    raw = zlib.decompress(chunks[1][1])
    assert len(raw) == h * (1 + 3 * w)
    assert all(raw[y * (1 + 3 * w)] == 0 for y in range(h))  # filter bytes


def test_wav_valid(sim):
    r = requests.get(f"{sim}/files/{files.audio_name(9, 1500, 'wav')}")
    assert r.headers["content-type"] == "audio/wav"
    d = r.content
    assert d[:4] == b"RIFF" and d[8:12] == b"WAVE" and d[12:16] == b"fmt "
    assert struct.unpack("<I", d[4:8])[0] == len(d) - 8
    fmt, ch, sr, byte_rate, align, bits = struct.unpack("<HHIIHH", d[20:36])
    assert (fmt, ch, sr, bits) == (1, 1, 44100, 16)
    assert byte_rate == sr * align
    info = files.parse_wav(d)
    assert info["duration_s"] == pytest.approx(1.5)


def test_mp3_frames_valid(sim):
    r = requests.get(f"{sim}/files/{files.audio_name(9, 3000, 'mp3')}")
    assert r.headers["content-type"] == "audio/mpeg"
    d = r.content
    n = len(d) // 417
    assert len(d) == n * 417
    for i in range(n):  # every frame starts with the MPEG-1 Layer III 128k/44.1k sync header
        assert d[i * 417 : i * 417 + 4] == b"\xff\xfb\x90\xc4"
    assert files.parse_mp3(d)["duration_s"] == pytest.approx(3.0, abs=0.03)


def test_mp4_boxes_valid(sim):
    r = requests.get(f"{sim}/files/video-abc-0.mp4")
    assert r.headers["content-type"] == "video/mp4"
    d = r.content
    assert len(d) < 30_000
    pos, boxes = 0, []
    while pos < len(d):
        size, kind = struct.unpack(">I4s", d[pos : pos + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", d[pos + 8 : pos + 16])
        assert size >= 8
        boxes.append(kind)
        pos += size
    assert pos == len(d)
    assert boxes[0] == b"ftyp"
    assert b"moov" in boxes and b"mdat" in boxes
    assert d[8:12] in (b"isom", b"mp42", b"iso5")


def test_glb_valid(sim):
    r = requests.get(f"{sim}/files/{files.mesh_name(77)}")
    assert r.headers["content-type"] == "model/gltf-binary"
    d = r.content
    magic, version, length = struct.unpack("<4sII", d[:12])
    assert (magic, version, length) == (b"glTF", 2, len(d))
    jlen, jtype = struct.unpack("<II", d[12:20])
    assert jtype == 0x4E4F534A and jlen % 4 == 0
    gltf = json.loads(d[20 : 20 + jlen])
    blen, btype = struct.unpack("<II", d[20 + jlen : 28 + jlen])
    assert btype == 0x004E4942 and blen % 4 == 0
    assert 28 + jlen + blen == len(d)
    assert gltf["asset"]["version"] == "2.0"
    assert gltf["buffers"][0]["byteLength"] <= blen
    for bv in gltf["bufferViews"]:
        assert bv["byteOffset"] + bv["byteLength"] <= gltf["buffers"][0]["byteLength"]
    pos_acc = gltf["accessors"][0]
    assert pos_acc["count"] == 3 and pos_acc["type"] == "VEC3"
    bin_chunk = d[28 + jlen :]
    verts = struct.unpack("<9f", bin_chunk[:36])
    assert len(verts) == 9
    assert struct.unpack("<3H", bin_chunk[36:42]) == (0, 1, 2)


def test_ogg_opus_crc_valid():
    data = files.make_ogg_opus(500)
    pos = 0
    pages = 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS"
        nseg = data[pos + 26]
        seg = data[pos + 27 : pos + 27 + nseg]
        size = 27 + nseg + sum(seg)
        page = bytearray(data[pos : pos + size])
        (crc,) = struct.unpack("<I", page[22:26])
        page[22:26] = b"\x00\x00\x00\x00"
        assert files._ogg_crc(bytes(page)) == crc
        pos += size
        pages += 1
    assert pages >= 3


def test_unknown_file_404(sim):
    assert requests.get(f"{sim}/files/../../etc/passwd").status_code == 404
    assert requests.get(f"{sim}/files/img-zz-1x1.png").status_code == 404
