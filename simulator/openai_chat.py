"""OpenAI Chat Completions (+ /models) and Google's OpenAI-compatible path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from . import text as T
from .app import (
    DONE,
    HTTPError,
    Request,
    Router,
    authorized,
    new_id,
    now,
    pace_nonstream,
    pre_faults,
    retry_headers,
    send_body,
    send_stream,
    sse,
)
from .faults import split_model

SYSTEM_FINGERPRINT = "fp_sim0001"

# --------------------------------------------------------------------------
# Errors (OpenAI shape)
# --------------------------------------------------------------------------

_ERR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_denied", None),
    404: ("invalid_request_error", "model_not_found"),
    409: ("invalid_request_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
    504: ("server_error", None),
}


def openai_error_body(status: int, message: str, param: str | None = None) -> dict:
    etype, code = _ERR_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


async def openai_error(req: Request, status: int, message: str, param: str | None = None) -> None:
    headers = [(b"x-request-id", new_id("req_", 8).encode()), *retry_headers(status, req.fault)]
    await req.respond_json(status, openai_error_body(status, message, param), headers)


async def openai_unauthorized(req: Request) -> None:
    await openai_error(
        req,
        401,
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    )


# --------------------------------------------------------------------------
# Request interpretation
# --------------------------------------------------------------------------


def _content_texts(content: Any, texts: list[str]) -> int:
    """Collect text of an OpenAI content (string or parts); return #media parts."""
    if content is None:
        return 0
    if isinstance(content, str):
        texts.append(content)
        return 0
    media = 0
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, dict):
                continue
            ptype = part.get("type")
            if ptype in ("text", "input_text", "output_text", "refusal"):
                t = part.get("text") if ptype != "refusal" else part.get("refusal")
                if isinstance(t, str):
                    texts.append(t)
            elif ptype in (
                "image_url",
                "input_image",
                "input_audio",
                "file",
                "input_file",
                "image",
            ):
                media += 1
    return media


class ChatInput:
    __slots__ = ("last_user", "media", "n_messages", "texts", "tool_result_last")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.media = 0
        self.last_user = ""
        self.tool_result_last = False
        self.n_messages = 0

    @property
    def prompt_text(self) -> str:
        return "\n".join(self.texts)


def parse_messages(messages: Any) -> ChatInput:
    if not isinstance(messages, list) or not messages:
        raise HTTPError(400, "'messages' must be a non-empty array.")
    ci = ChatInput()
    for m in messages:
        if not isinstance(m, dict) or "role" not in m:
            raise HTTPError(400, "Each message must be an object with a 'role'.")
        role = m["role"]
        if role not in ("system", "developer", "user", "assistant", "tool", "function"):
            raise HTTPError(400, f"Invalid role '{role}' in messages.")
        before = len(ci.texts)
        ci.media += _content_texts(m.get("content"), ci.texts)
        for tc in m.get("tool_calls") or ():
            fn = (tc or {}).get("function") or {}
            ci.texts.append(str(fn.get("name", "")))
            ci.texts.append(str(fn.get("arguments", "")))
        if role == "user":
            ci.last_user = "\n".join(ci.texts[before:])
    ci.n_messages = len(messages)
    ci.tool_result_last = messages[-1].get("role") in ("tool", "function")
    return ci


def chat_tools(body: dict) -> tuple[list[T.Tool], Any]:
    tools: list[T.Tool] = []
    for t in body.get("tools") or ():
        if not isinstance(t, dict):
            continue
        fn = t.get("function") if t.get("type", "function") == "function" else None
        if isinstance(fn, dict) and fn.get("name"):
            tools.append(T.Tool(fn["name"], fn.get("description", ""), fn.get("parameters")))
    for fn in body.get("functions") or ():  # legacy
        if isinstance(fn, dict) and fn.get("name"):
            tools.append(T.Tool(fn["name"], fn.get("description", ""), fn.get("parameters")))
    tc = body.get("tool_choice", "auto")
    if isinstance(tc, dict):
        fn = tc.get("function") or {}
        tc = {"name": fn.get("name") or tc.get("name")} if (fn.get("name") or tc.get("name")) else "auto"
    elif tc not in ("none", "auto", "required"):
        tc = "auto"
    return tools, tc


def prompt_token_count(texts_chars: int, media: int, extra_json_chars: int = 0) -> int:
    return (texts_chars + extra_json_chars + 3) // 4 + media * T.IMAGE_PART_TOKENS


def usage_obj(plan: T.Plan, completion_tokens: int | None = None) -> dict:
    c = plan.output_tokens if completion_tokens is None else completion_tokens
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": c,
        "total_tokens": plan.prompt_tokens + c,
        "prompt_tokens_details": {
            "cached_tokens": plan.cached_tokens,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": plan.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _sum_usage(plans: list[T.Plan]) -> dict:
    u = usage_obj(plans[0])
    if len(plans) > 1:
        c = sum(p.output_tokens for p in plans)
        r = sum(p.reasoning_tokens for p in plans)
        u["completion_tokens"] = c
        u["total_tokens"] = u["prompt_tokens"] + c
        u["completion_tokens_details"]["reasoning_tokens"] = r
    return u


def build_plans(body: dict, model: str, faults) -> list[T.Plan]:
    ci = parse_messages(body.get("messages"))
    tools, tool_choice = chat_tools(body)
    tools_json = orjson.dumps(body["tools"]) if body.get("tools") else b""
    prompt_text = ci.prompt_text
    prompt_tokens = prompt_token_count(len(prompt_text), ci.media, len(tools_json))
    rf = body.get("response_format") or {}
    json_mode = isinstance(rf, dict) and rf.get("type") in (
        "json_object",
        "json_schema",
    )
    schema = None
    if isinstance(rf, dict) and rf.get("type") == "json_schema":
        schema = (rf.get("json_schema") or {}).get("schema")
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    effort = body.get("reasoning_effort")
    if effort is None and isinstance(body.get("reasoning"), dict):
        effort = body["reasoning"].get("effort")
    reasoning = T.reasoning_tokens_for(model, effort)
    n = body.get("n") or 1
    if not isinstance(n, int) or n < 1 or n > 16:
        raise HTTPError(400, "'n' must be an integer between 1 and 16.")
    return [
        T.make_plan(
            model=model,
            prompt_text=prompt_text,
            prompt_tokens=prompt_tokens,
            last_user=ci.last_user,
            max_tokens=max_tokens,
            faults=faults,
            tools=tools,
            tool_choice=tool_choice,
            tool_result_last=ci.tool_result_last,
            json_schema=schema,
            json_mode=json_mode,
            reasoning_tokens=reasoning,
            choice_index=i,
        )
        for i in range(n)
    ]


def _tool_call_id(plan: T.Plan, i: int) -> str:
    return f"call_{(plan.seed + i) & 0xFFFFFFFFFFFF:012x}sim"


# --------------------------------------------------------------------------
# Response building
# --------------------------------------------------------------------------


def completion_json(cid: str, model: str, plans: list[T.Plan], with_usage: bool) -> dict:
    choices = []
    for i, p in enumerate(plans):
        msg: dict[str, Any] = {
            "role": "assistant",
            "content": None if p.tool_calls else p.text,
        }
        msg["refusal"] = None
        msg["annotations"] = []
        if p.tool_calls:
            msg["tool_calls"] = [
                {
                    "id": _tool_call_id(p, j),
                    "type": "function",
                    "function": {"name": tc.name, "arguments": tc.arguments},
                }
                for j, tc in enumerate(p.tool_calls)
            ]
        choices.append({"index": i, "message": msg, "logprobs": None, "finish_reason": p.finish})
    out: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": choices,
    }
    if with_usage:
        out["usage"] = _sum_usage(plans)
    out["service_tier"] = "default"
    out["system_fingerprint"] = SYSTEM_FINGERPRINT
    return out


def chunk_frames(
    cid: str, model: str, plans: list[T.Plan], include_usage: bool, no_usage: bool
) -> Iterator[tuple[bytes, bool]]:
    created = now()
    usage_field = include_usage and not no_usage

    def chunk(choices: list, **extra: Any) -> bytes:
        d: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        }
        if usage_field:
            d["usage"] = None
        d.update(extra)
        return b"data: " + orjson.dumps(d) + b"\n\n"

    for i, p in enumerate(plans):
        if p.tool_calls:
            for j, tc in enumerate(p.tool_calls):
                delta: dict[str, Any] = {
                    "tool_calls": [
                        {
                            "index": j,
                            "id": _tool_call_id(p, j),
                            "type": "function",
                            "function": {"name": tc.name, "arguments": ""},
                        }
                    ]
                }
                if j == 0:
                    delta = {
                        "role": "assistant",
                        "content": None,
                        **delta,
                        "refusal": None,
                    }
                yield (
                    chunk(
                        [
                            {
                                "index": i,
                                "delta": delta,
                                "logprobs": None,
                                "finish_reason": None,
                            }
                        ]
                    ),
                    False,
                )
                for piece in tc.pieces:
                    d2 = {"tool_calls": [{"index": j, "function": {"arguments": piece}}]}
                    yield (
                        chunk(
                            [
                                {
                                    "index": i,
                                    "delta": d2,
                                    "logprobs": None,
                                    "finish_reason": None,
                                }
                            ]
                        ),
                        True,
                    )
        else:
            first = {"role": "assistant", "content": "", "refusal": None}
            yield (
                chunk(
                    [
                        {
                            "index": i,
                            "delta": first,
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    ]
                ),
                False,
            )
            for piece in p.pieces:
                yield (
                    chunk(
                        [
                            {
                                "index": i,
                                "delta": {"content": piece},
                                "logprobs": None,
                                "finish_reason": None,
                            }
                        ]
                    ),
                    True,
                )
        yield (
            chunk([{"index": i, "delta": {}, "logprobs": None, "finish_reason": p.finish}]),
            False,
        )
    if usage_field:
        d = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [],
            "usage": _sum_usage(plans),
        }
        yield b"data: " + orjson.dumps(d) + b"\n\n", False
    yield DONE, False


def openai_stream_error_frame() -> bytes:
    return sse(
        {
            "error": {
                "message": "Simulated mid-stream upstream error.",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
    )


# --------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------


async def chat_completions(req: Request, *, auth_style: str = "bearer") -> None:
    if not authorized(req, auth_style):
        await openai_unauthorized(req)
        return
    try:
        body = req.json_object()
        raw_model = body.get("model")
        if not isinstance(raw_model, str) or not raw_model:
            raise HTTPError(400, "you must provide a model parameter")
        model, model_opts = split_model(raw_model)
        model = model.removeprefix("models/")
        f = req.faults(model_opts)
        stream = body.get("stream") is True
        sse_forced = f.sse_always and not stream
        stream = stream or f.sse_always
        if await pre_faults(req, f, openai_error, streaming=stream):
            return
        plans = build_plans(body, model, f)
    except HTTPError as exc:
        await openai_error(req, exc.status, exc.message)
        return
    cid = new_id("chatcmpl-", 14)
    rid = [
        (b"x-request-id", new_id("req_", 8).encode()),
        (b"openai-model", model.encode()),
    ]
    if stream:
        so = body.get("stream_options") or {}
        include_usage = bool(so.get("include_usage")) if isinstance(so, dict) else False
        if sse_forced:
            include_usage = True
        frames = chunk_frames(cid, model, plans, include_usage, f.no_usage)
        await send_stream(req, frames, f, headers=rid, error_frame=openai_stream_error_frame)
        return
    await pace_nonstream(f, sum(p.output_tokens - p.reasoning_tokens for p in plans))
    out = completion_json(cid, model, plans, with_usage=not f.no_usage)
    await send_body(req, 200, orjson.dumps(out), f, headers=rid)


MODELS = (
    ("gpt-5.5", "openai"),
    ("gpt-5.5-pro", "openai"),
    ("gpt-5", "openai"),
    ("gpt-5-mini", "openai"),
    ("gpt-5-codex", "openai"),
    ("gpt-4.1", "openai"),
    ("gpt-4.1-mini", "openai"),
    ("gpt-4o", "openai"),
    ("gpt-4o-mini", "openai"),
    ("o3", "openai"),
    ("o4-mini", "openai"),
    ("gpt-image-1", "openai"),
    ("gpt-image-1.5", "openai"),
    ("dall-e-3", "openai"),
)


async def list_models(req: Request) -> None:
    if not authorized(req, "bearer"):
        await openai_unauthorized(req)
        return
    data = [{"id": m, "object": "model", "created": 1735689600, "owned_by": o} for m, o in MODELS]
    await req.respond_json(200, {"object": "list", "data": data})


async def retrieve_model(req: Request) -> None:
    if not authorized(req, "bearer"):
        await openai_unauthorized(req)
        return
    mid = req.path.rsplit("/", 1)[-1]
    await req.respond_json(200, {"id": mid, "object": "model", "created": 1735689600, "owned_by": "openai"})


async def gemini_compat_chat(req: Request) -> None:
    await chat_completions(req, auth_style="google")


GEMINI_COMPAT_MODELS = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
)


async def gemini_compat_models(req: Request) -> None:
    if not authorized(req, "google"):
        await openai_unauthorized(req)
        return
    data = [{"id": f"models/{m}", "object": "model", "owned_by": "google"} for m in GEMINI_COMPAT_MODELS]
    await req.respond_json(200, {"object": "list", "data": data})


def register(r: Router) -> None:
    r.add("POST", "/openai/v1/chat/completions", chat_completions)
    r.add("GET", "/openai/v1/models", list_models)
    r.add_prefix("GET", "/openai/v1/models/", retrieve_model)
    r.add("POST", "/gemini/v1beta/openai/chat/completions", gemini_compat_chat)
    r.add("GET", "/gemini/v1beta/openai/models", gemini_compat_models)
