"""The hub format, OpenAI Chat Completions: helpers every conversion shares."""

from __future__ import annotations

import secrets
import time

import orjson


class UpstreamStreamError(Exception):
    """The upstream reported an error inside a stream."""


def get(d, camel: str, snake: str | None = None, default=None):
    if not isinstance(d, dict):
        return default
    if camel in d:
        return d[camel]
    if snake and snake in d:
        return d[snake]
    return default


def dumps(value) -> str:
    return orjson.dumps(value).decode()


def loads_object(text) -> dict:
    if isinstance(text, dict):
        return text
    try:
        value = orjson.loads(text or "{}")
    except (orjson.JSONDecodeError, TypeError):
        return {"value": text}
    return value if isinstance(value, dict) else {"value": value}


def chat_text(content) -> str:
    """The text of a Chat Completions content (a string or parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    out = []
    for part in content if isinstance(content, list) else ():
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            out.append(part["text"])
        elif isinstance(part, dict) and isinstance(part.get("refusal"), str):
            out.append(part["refusal"])
    return "".join(out)


def copy(src: dict, dst: dict, mapping: dict[str, str]) -> None:
    for a, b in mapping.items():
        if src.get(a) is not None:
            dst[b] = src[a]


def data_url(url: str) -> tuple[str, str] | None:
    """(mime type, base64 data) of a data: URL."""
    if not url.startswith("data:") or ";base64," not in url:
        return None
    head, data = url[5:].split(";base64,", 1)
    return head or "application/octet-stream", data


MIME_BY_EXT = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


def chat_usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def completion(*, cid: str, model: str, created: int, choices: list[dict], usage: dict | None) -> dict:
    out = {"id": cid, "object": "chat.completion", "created": created, "model": model, "choices": choices}
    if usage is not None:
        out["usage"] = usage
    return out


class ChunkMaker:
    def __init__(self, *, model: str, cid: str | None = None) -> None:
        self.cid = cid or f"chatcmpl-{secrets.token_hex(12)}"
        self.model = model
        self.created = int(time.time())
        self.role_sent = False

    def chunk(self, delta: dict | None = None, finish: str | None = None) -> dict:
        if delta is not None and not self.role_sent:
            delta = {"role": "assistant", **delta}
            self.role_sent = True
        return {
            "id": self.cid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}],
        }

    def usage_chunk(self, usage: dict) -> dict:
        return {
            "id": self.cid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }
