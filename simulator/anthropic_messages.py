"""Anthropic Messages API: /anthropic/v1/messages, /messages/count_tokens, /models."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import orjson

from . import text as T
from .app import (
    HTTPError,
    Request,
    Router,
    authorized,
    new_id,
    pace_nonstream,
    pre_faults,
    retry_headers,
    send_body,
    send_stream,
)
from .faults import split_model

# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

_ERR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict:
    etype = _ERR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {
        "type": "error",
        "error": {"type": etype, "message": message},
        "request_id": new_id("req_", 12),
    }


async def anthropic_error(req: Request, status: int, message: str) -> None:
    headers = [(b"request-id", new_id("req_", 12).encode()), *retry_headers(status, req.fault)]
    if status in (503, 529):
        headers.append((b"x-should-retry", b"true"))
    await req.respond_json(status, error_body(status, message), headers)


async def unauthorized(req: Request) -> None:
    await anthropic_error(req, 401, "invalid x-api-key")


# --------------------------------------------------------------------------
# Request interpretation
# --------------------------------------------------------------------------


def _blocks_text(content: Any, texts: list[str]) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        texts.append(content)
        return 0
    media = 0
    if not isinstance(content, list):
        raise HTTPError(400, "messages: content must be a string or an array of content blocks")
    for b in content:
        if not isinstance(b, dict):
            continue
        bt = b.get("type")
        if bt == "text":
            texts.append(str(b.get("text", "")))
        elif bt in ("image", "document", "search_result", "container_upload"):
            media += 1
        elif bt == "tool_use":
            texts.append(str(b.get("name", "")))
            texts.append(orjson.dumps(b.get("input", {})).decode())
        elif bt == "tool_result":
            media += _blocks_text(b.get("content"), texts)
        elif bt == "thinking":
            texts.append(str(b.get("thinking", "")))
    return media


class MsgInput:
    __slots__ = ("cache_control", "last_user", "media", "texts", "tool_result_last")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.media = 0
        self.last_user = ""
        self.tool_result_last = False
        self.cache_control = False


def parse_request(body: dict, req: Request, *, for_count: bool = False) -> MsgInput:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise HTTPError(
            400,
            "messages: Field required" if messages is None else "messages: at least one message is required",
        )
    if not for_count:
        mt = body.get("max_tokens")
        if mt is None:
            raise HTTPError(400, "max_tokens: Field required")
        if not isinstance(mt, int) or mt < 1:
            raise HTTPError(
                400,
                "max_tokens: Input should be a valid integer greater than or equal to 1",
            )
    mi = MsgInput()
    system = body.get("system")
    if system is not None:
        mi.media += _blocks_text(system, mi.texts)
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise HTTPError(400, "messages: each message needs role 'user' or 'assistant'")
        before = len(mi.texts)
        mi.media += _blocks_text(m.get("content"), mi.texts)
        if m["role"] == "user":
            mi.last_user = "\n".join(mi.texts[before:])
    last = messages[-1]
    lc = last.get("content")
    mi.tool_result_last = (
        last.get("role") == "user"
        and isinstance(lc, list)
        and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in lc)
    )
    mi.cache_control = b'"cache_control"' in req.body
    return mi


def parse_tools(body: dict) -> tuple[list[T.Tool], Any]:
    tools = []
    for t in body.get("tools") or ():
        if isinstance(t, dict) and t.get("name") and t.get("type") in (None, "custom"):
            tools.append(T.Tool(t["name"], t.get("description", ""), t.get("input_schema")))
    tc = body.get("tool_choice") or {"type": "auto"}
    kind = tc.get("type") if isinstance(tc, dict) else "auto"
    if kind == "any":
        norm: Any = "required"
    elif kind == "tool" and tc.get("name"):
        norm = {"name": tc["name"]}
    elif kind == "none":
        norm = "none"
    else:
        norm = "auto"
    return tools, norm


def thinking_budget(body: dict) -> int:
    th = body.get("thinking")
    if not isinstance(th, dict):
        return 0
    kind = th.get("type")
    if kind == "enabled":
        budget = th.get("budget_tokens")
        if not isinstance(budget, int):
            raise HTTPError(400, "thinking.enabled.budget_tokens: Field required")
        if budget < 1024:
            raise HTTPError(
                400,
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
            )
        if isinstance(body.get("max_tokens"), int) and body["max_tokens"] <= budget:
            raise HTTPError(400, "`max_tokens` must be greater than `thinking.budget_tokens`.")
        return budget
    if kind == "adaptive":
        return 4096
    return 0


def prompt_tokens(mi: MsgInput, body: dict) -> int:
    tools_json = orjson.dumps(body["tools"]) if body.get("tools") else b""
    chars = sum(len(t) for t in mi.texts) + max(0, len(mi.texts) - 1) + len(tools_json)
    return max(1, (chars + 3) // 4 + mi.media * T.IMAGE_PART_TOKENS)


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

THINKING_TOKENS_MAX = 128


class Built:
    def __init__(self, model: str, plan: T.Plan, thinking: bool, no_usage: bool):
        self.model = model
        self.plan = plan
        self.thinking = thinking
        self.no_usage = no_usage
        self.id = new_id("msg_01", 12)
        seed = plan.seed & 0xFFFFFFFFFFFF
        self.tool_ids = [f"toolu_01{(seed + i):012x}sim" for i in range(len(plan.tool_calls))]
        self.signature = (
            base64.b64encode(hashlib.blake2b(plan.reasoning_text.encode(), digest_size=48).digest()).decode()
            if thinking
            else ""
        )
        self.stop_reason = {
            "stop": "end_turn",
            "length": "max_tokens",
            "tool_calls": "tool_use",
        }[plan.finish]

    def usage(self, start: bool = False) -> dict:
        p = self.plan
        return {
            "input_tokens": p.prompt_tokens - p.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": p.cached_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 0,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": 1 if start else p.output_tokens,
            "service_tier": "standard",
        }

    def content(self) -> list[dict]:
        p = self.plan
        out: list[dict] = []
        if self.thinking and p.reasoning_tokens:
            out.append(
                {
                    "type": "thinking",
                    "thinking": p.reasoning_text,
                    "signature": self.signature,
                }
            )
        if p.pieces:
            out.append({"type": "text", "text": p.text})
        for i, tc in enumerate(p.tool_calls):
            out.append(
                {
                    "type": "tool_use",
                    "id": self.tool_ids[i],
                    "name": tc.name,
                    "input": orjson.loads(tc.arguments),
                }
            )
        return out

    def message(self) -> dict:
        msg: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.content(),
            "stop_reason": self.stop_reason,
            "stop_sequence": None,
        }
        if not self.no_usage:
            msg["usage"] = self.usage()
        return msg

    def frames(self) -> Iterator[tuple[bytes, bool]]:
        def ev(name: str, d: dict, content: bool = False) -> tuple[bytes, bool]:
            return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(d) + b"\n\n", content

        start: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
        }
        if not self.no_usage:
            start["usage"] = self.usage(start=True)
        yield ev("message_start", {"type": "message_start", "message": start})
        p = self.plan
        idx = 0
        pinged = False

        def ping() -> Iterator[tuple[bytes, bool]]:
            nonlocal pinged
            if not pinged:
                pinged = True
                yield b'event: ping\ndata: {"type": "ping"}\n\n', False

        if self.thinking and p.reasoning_tokens:
            yield ev(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": idx,
                    "content_block": {
                        "type": "thinking",
                        "thinking": "",
                        "signature": "",
                    },
                },
            )
            yield from ping()
            for piece in p.reasoning_pieces:
                yield ev(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": idx,
                        "delta": {"type": "thinking_delta", "thinking": piece},
                    },
                    True,
                )
            yield ev(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": idx,
                    "delta": {"type": "signature_delta", "signature": self.signature},
                },
            )
            yield ev("content_block_stop", {"type": "content_block_stop", "index": idx})
            idx += 1
        if p.pieces:
            yield ev(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": idx,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            yield from ping()
            for piece in p.pieces:
                yield ev(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": idx,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                    True,
                )
            yield ev("content_block_stop", {"type": "content_block_stop", "index": idx})
            idx += 1
        for i, tc in enumerate(p.tool_calls):
            yield ev(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": idx,
                    "content_block": {
                        "type": "tool_use",
                        "id": self.tool_ids[i],
                        "name": tc.name,
                        "input": {},
                    },
                },
            )
            yield from ping()
            yield ev(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": idx,
                    "delta": {"type": "input_json_delta", "partial_json": ""},
                },
            )
            for piece in tc.pieces:
                yield ev(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": idx,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                    True,
                )
            yield ev("content_block_stop", {"type": "content_block_stop", "index": idx})
            idx += 1
        yield from ping()
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
        }
        if not self.no_usage:
            u = self.usage()
            delta["usage"] = {
                "input_tokens": u["input_tokens"],
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": u["cache_read_input_tokens"],
                "output_tokens": u["output_tokens"],
            }
        yield ev("message_delta", delta)
        yield ev("message_stop", {"type": "message_stop"})


MALFORMED = (
    b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
    b'"delta": {"type": "text_delta", "text": "unterminated\n\n'
)


def stream_error_frame() -> bytes:
    d = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    return b"event: error\ndata: " + orjson.dumps(d) + b"\n\n"


# --------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------


def _model(body: dict) -> tuple[str, dict[str, str]]:
    raw = body.get("model")
    if not isinstance(raw, str) or not raw:
        raise HTTPError(400, "model: Field required")
    return split_model(raw)


async def messages(req: Request) -> None:
    if not authorized(req, "anthropic"):
        await unauthorized(req)
        return
    try:
        body = req.json_object()
        model, opts = _model(body)
        f = req.faults(opts)
        stream = body.get("stream") is True or f.sse_always
        if await pre_faults(req, f, anthropic_error, streaming=stream):
            return
        mi = parse_request(body, req)
        tools, tool_choice = parse_tools(body)
        budget = thinking_budget(body)
        thinking = budget > 0
        plan = T.make_plan(
            model=model,
            prompt_text="\n".join(mi.texts),
            prompt_tokens=prompt_tokens(mi, body),
            last_user=mi.last_user,
            max_tokens=body.get("max_tokens"),
            faults=f,
            tools=tools,
            tool_choice=tool_choice,
            tool_result_last=mi.tool_result_last,
            reasoning_tokens=min(budget, THINKING_TOKENS_MAX) if thinking else 0,
            reasoning_visible=thinking,
        )
        if f.cached is None and not mi.cache_control:
            plan.cached_tokens = 0
        if plan.tool_calls:
            # Claude usually says a few words before calling a tool.
            plan.pieces = [
                "I'll",
                " use",
                " the",
                f" {plan.tool_calls[0].name}",
                " tool",
                ".",
            ]
    except HTTPError as exc:
        await anthropic_error(req, exc.status, exc.message)
        return
    built = Built(model, plan, thinking, f.no_usage)
    headers = [(b"request-id", new_id("req_", 12).encode())]
    if stream:
        await send_stream(
            req,
            built.frames(),
            f,
            headers=headers,
            malformed=MALFORMED,
            error_frame=stream_error_frame,
        )
        return
    await pace_nonstream(f, plan.output_tokens - plan.reasoning_tokens)
    await send_body(req, 200, orjson.dumps(built.message()), f, headers=headers)


async def count_tokens(req: Request) -> None:
    if not authorized(req, "anthropic"):
        await unauthorized(req)
        return
    try:
        body = req.json_object()
        _, opts = _model(body)
        f = req.faults(opts)
        if await pre_faults(req, f, anthropic_error):
            return
        mi = parse_request(body, req, for_count=True)
    except HTTPError as exc:
        await anthropic_error(req, exc.status, exc.message)
        return
    await req.respond_json(200, {"input_tokens": prompt_tokens(mi, body)})


MODELS = (
    ("claude-opus-4-6", "Claude Opus 4.6"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("claude-haiku-4-5", "Claude Haiku 4.5"),
    ("claude-sonnet-4-5", "Claude Sonnet 4.5"),
    ("claude-opus-4-1", "Claude Opus 4.1"),
)


async def list_models(req: Request) -> None:
    if not authorized(req, "anthropic"):
        await unauthorized(req)
        return
    data = [
        {
            "type": "model",
            "id": mid,
            "display_name": name,
            "created_at": "2025-09-29T00:00:00Z",
        }
        for mid, name in MODELS
    ]
    await req.respond_json(
        200,
        {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"],
            "last_id": data[-1]["id"],
        },
    )


def register(r: Router) -> None:
    r.add("POST", "/anthropic/v1/messages", messages)
    r.add("POST", "/anthropic/v1/messages/count_tokens", count_tokens)
    r.add("GET", "/anthropic/v1/models", list_models)
