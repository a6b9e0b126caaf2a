"""Fish Audio TTS / ASR / voice cloning over real HTTP."""

from __future__ import annotations

import base64
import struct

import msgpack
import pytest
import requests

from simulator import files


@pytest.fixture
def fish(sim, http):
    def post(path, **kw):
        return http.post(f"{sim}/fish{path}", **kw)

    return post


def test_tts_mp3_default(fish):
    r = fish(
        "/v1/tts",
        json={"text": "Hello from the simulator.", "reference_id": "802e3bc2b27e49c2995d23ef70e6ac89"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/mpeg"
    info = files.parse_mp3(r.content)
    assert info is not None
    # every frame header is a valid MPEG-1 Layer III sync word
    body = r.content[r.content.index(b"\xff\xfb") :]
    assert body[:4] == b"\xff\xfb\x90\xc4"
    assert len(body) % 417 == 0
    expected = 65 * len("Hello from the simulator.") / 1000
    assert abs(info["duration_s"] - expected) < 0.05


def test_tts_wav_length_proportional(fish):
    short = fish("/v1/tts", json={"text": "Hi there, friend.", "format": "wav"})
    long = fish("/v1/tts", json={"text": "Hi there, friend. " * 10, "format": "wav"})
    assert short.headers["content-type"] == "audio/wav"
    for r in (short, long):
        assert r.content[:4] == b"RIFF" and r.content[8:12] == b"WAVE"
        assert struct.unpack("<I", r.content[4:8])[0] == len(r.content) - 8
    ds = files.parse_wav(short.content)["duration_s"]
    dl = files.parse_wav(long.content)["duration_s"]
    assert dl > 8 * ds


def test_tts_pcm_and_opus(fish):
    pcm = fish("/v1/tts", json={"text": "abcdefghij" * 2, "format": "pcm", "sample_rate": 16000})
    assert pcm.headers["content-type"] == "audio/pcm"
    assert len(pcm.content) == int(16000 * 1.3) * 2
    opus = fish("/v1/tts", json={"text": "abcdefghij" * 2, "format": "opus"})
    assert opus.content[:4] == b"OggS" and b"OpusHead" in opus.content[:64]


def test_tts_zero_shot_references(fish):
    ref = files.make_wav(3000)
    r = fish(
        "/v1/tts",
        json={
            "text": "Clone me.",
            "format": "wav",
            "references": [{"audio": base64.b64encode(ref).decode(), "text": "ref"}],
        },
    )
    assert r.status_code == 200 and files.parse_wav(r.content)
    # msgpack body with raw bytes, as the official SDK sends it
    r2 = fish(
        "/v1/tts",
        data=msgpack.packb({"text": "Clone me.", "format": "wav", "references": [{"audio": ref, "text": "ref"}]}),
        headers={"Content-Type": "application/msgpack", "model": "s1"},
    )
    assert r2.status_code == 200 and r2.content == r.content


def test_tts_errors(fish):
    r = fish("/v1/tts", json={"text": ""})
    assert r.status_code == 400 and r.json() == {"message": "'text' is required", "status": 400}
    r = fish("/v1/tts", json={"text": "x", "format": "flac"})
    assert r.status_code == 400
    r = fish("/v1/tts", json={"text": "x", "reference_id": "no-such-voice"})
    assert r.status_code == 400 and "Reference not found" in r.json()["message"]


def test_asr_roundtrip_json(fish):
    tts = fish("/v1/tts", json={"text": "The quick brown fox. It jumps over the dog.", "format": "wav"})
    r = fish(
        "/v1/asr",
        json={"audio": base64.b64encode(tts.content).decode(), "language": "en", "ignore_timestamps": False},
    )
    assert r.status_code == 200
    out = r.json()
    assert out["text"] == "The quick brown fox. It jumps over the dog."
    assert out["duration"] == pytest.approx(65 * 43 / 1000, abs=0.01)
    assert [s["text"] for s in out["segments"]] == ["The quick brown fox.", "It jumps over the dog."]
    assert out["segments"][0]["start"] == 0
    assert out["segments"][-1]["end"] == pytest.approx(out["duration"], abs=0.01)


def test_asr_multipart_and_msgpack_deterministic(fish):
    audio = files.make_wav(4000)  # 4 s tone, no embedded transcript
    r1 = fish("/v1/asr", files={"audio": ("a.wav", audio, "audio/wav")}, data={"language": "en"})
    r2 = fish(
        "/v1/asr",
        data=msgpack.packb({"audio": audio, "ignore_timestamps": True}),
        headers={"Content-Type": "application/msgpack"},
    )
    assert r1.status_code == r2.status_code == 200
    a, b = r1.json(), r2.json()
    assert a == b
    assert a["duration"] == 4.0
    assert 6 <= len(a["text"].split()) <= 16  # ~2.5 words per second, whole sentences
    mp3 = files.make_mp3(2000)
    r3 = fish("/v1/asr", files={"audio": ("a.mp3", mp3, "audio/mpeg")})
    assert r3.json()["duration"] == pytest.approx(2.0, abs=0.03)


def test_asr_missing_audio(fish):
    r = fish("/v1/asr", json={"language": "en"})
    assert r.status_code == 400
    assert r.json()["status"] == 400


def test_clone_voice_ok_and_usable(fish):
    voice = files.make_wav(12_000)
    r = fish(
        "/model",
        files=[("voices", ("v.wav", voice, "audio/wav"))],
        data={
            "title": "My Voice",
            "visibility": "private",
            "type": "tts",
            "train_mode": "fast",
            "texts": "hello",
        },
    )
    assert r.status_code == 201
    model = r.json()
    assert len(model["_id"]) == 32
    assert model["state"] == "trained" and model["title"] == "My Voice"
    assert model["samples"][0]["text"] == "hello"
    tts = fish("/v1/tts", json={"text": "now in my voice", "reference_id": model["_id"]})
    assert tts.status_code == 200


def test_clone_refuses_short_audio(fish):
    short_wav = files.make_wav(9_500)
    r = fish("/model", files=[("voices", ("v.wav", short_wav, "audio/wav"))], data={"title": "Too short"})
    assert r.status_code == 400
    assert "too short" in r.json()["message"]
    short_mp3 = files.make_mp3(5_000)
    r = fish("/model", files=[("voices", ("v.mp3", short_mp3, "audio/mpeg"))], data={"title": "Too short"})
    assert r.status_code == 400
    long_mp3 = files.make_mp3(10_500)
    r = fish("/model", files=[("voices", ("v.mp3", long_mp3, "audio/mpeg"))], data={"title": "Long enough"})
    assert r.status_code == 201


def test_fish_faults(fish):
    r = fish("/v1/tts", json={"text": "x"}, headers={"X-Sim-Fault": "status=402"})
    assert r.status_code == 402 and r.json()["status"] == 402
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        fish(
            "/v1/tts",
            json={"text": "long text " * 200, "format": "wav"},
            headers={"X-Sim-Fault": "reset_after=1"},
        )


def test_fish_auth_header_required(sim):
    r = requests.post(f"{sim}/fish/v1/tts", json={"text": "x"})
    assert r.status_code == 401
    assert r.json() == {"message": "Invalid Token", "status": 401}
