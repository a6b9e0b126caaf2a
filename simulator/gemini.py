"""Google Gemini native API under /gemini/{v1beta,v1}/models/{model}:{action}.

(The OpenAI-compatible path /gemini/v1beta/openai/... lives in openai_chat.py.)
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
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

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(status: int, message: str) -> dict:
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"),
        }
    }


async def gemini_error(req: Request, status: int, message: str) -> None:
    await req.respond_json(status, error_body(status, message), retry_headers(status, req.fault))


async def unauthorized(req: Request) -> None:
    await gemini_error(req, 401, "API key not valid. Please pass a valid API key.")


# --------------------------------------------------------------------------
# Request interpretation
# --------------------------------------------------------------------------


def g(d: Any, camel: str, snake: str | None = None, default: Any = None) -> Any:
    if not isinstance(d, dict):
        return default
    if camel in d:
        return d[camel]
    if snake and snake in d:
        return d[snake]
    return default


def _parts_text(parts: Any, texts: list[str]) -> tuple[int, bool]:
    """Returns (#media parts, has functionResponse)."""
    media = 0
    fresp = False
    if isinstance(parts, str):
        texts.append(parts)
        return 0, False
    for p in parts or ():
        if isinstance(p, str):
            texts.append(p)
            continue
        if not isinstance(p, dict):
            continue
        if isinstance(p.get("text"), str):
            texts.append(p["text"])
        if g(p, "inlineData", "inline_data") or g(p, "fileData", "file_data"):
            media += 1
        fc = g(p, "functionCall", "function_call")
        if isinstance(fc, dict):
            texts.append(str(fc.get("name", "")))
            texts.append(orjson.dumps(fc.get("args", {})).decode())
        fr = g(p, "functionResponse", "function_response")
        if isinstance(fr, dict):
            fresp = True
            texts.append(str(fr.get("name", "")))
            texts.append(orjson.dumps(fr.get("response", {})).decode())
    return media, fresp


class GemInput:
    __slots__ = ("last_user", "media", "texts", "tool_result_last")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.media = 0
        self.last_user = ""
        self.tool_result_last = False


def parse_request(body: dict) -> GemInput:
    gi = GemInput()
    sysi = g(body, "systemInstruction", "system_instruction")
    if sysi is not None:
        media, _ = _parts_text(sysi.get("parts") if isinstance(sysi, dict) else sysi, gi.texts)
        gi.media += media
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise HTTPError(400, "* GenerateContentRequest.contents: contents is not specified")
    fresp = False
    for c in contents:
        if not isinstance(c, dict):
            raise HTTPError(400, "* GenerateContentRequest.contents: each content must be an object")
        before = len(gi.texts)
        media, fresp = _parts_text(c.get("parts"), gi.texts)
        gi.media += media
        if c.get("role", "user") == "user":
            gi.last_user = "\n".join(gi.texts[before:])
    gi.tool_result_last = fresp
    return gi


def parse_tools(body: dict) -> tuple[list[T.Tool], Any]:
    tools: list[T.Tool] = []
    for t in body.get("tools") or ():
        for fd in g(t, "functionDeclarations", "function_declarations", ()) or ():
            if isinstance(fd, dict) and fd.get("name"):
                params = g(fd, "parameters") or g(fd, "parametersJsonSchema", "parameters_json_schema")
                tools.append(T.Tool(fd["name"], fd.get("description", ""), params))
    cfg = g(
        g(body, "toolConfig", "tool_config", {}),
        "functionCallingConfig",
        "function_calling_config",
        {},
    )
    mode = str(g(cfg, "mode", default="AUTO")).upper()
    allowed = g(cfg, "allowedFunctionNames", "allowed_function_names") or []
    if mode == "NONE":
        return tools, "none"
    if mode == "ANY":
        if len(allowed) == 1:
            return tools, {"name": allowed[0]}
        return tools, "required"
    return tools, "auto"


def reasoning_tokens(model: str, gen_cfg: dict) -> tuple[int, bool]:
    """Returns (thinking tokens, include_thoughts)."""
    tc = g(gen_cfg, "thinkingConfig", "thinking_config", {}) or {}
    include = bool(g(tc, "includeThoughts", "include_thoughts", False))
    budget = g(tc, "thinkingBudget", "thinking_budget")
    level = g(tc, "thinkingLevel", "thinking_level")
    if budget == 0:
        return 0, False
    if isinstance(level, str) and level:
        r = T.REASONING_BY_EFFORT.get(level.lower(), T.REASONING_BY_EFFORT["medium"])
    elif isinstance(budget, int) and (budget > 0 or budget == -1):
        r = T.REASONING_BY_EFFORT["medium"]
    else:
        r = T.reasoning_tokens_for(model, None)
    if isinstance(budget, int) and budget > 0:
        r = min(r, budget)
    return r, include and r > 0


def is_image_model(model: str) -> bool:
    m = model.lower()
    return "image" in m or "banana" in m


def prompt_tokens(gi: GemInput, body: dict) -> int:
    tools_json = orjson.dumps(body["tools"]) if body.get("tools") else b""
    chars = sum(len(t) for t in gi.texts) + max(0, len(gi.texts) - 1) + len(tools_json)
    return max(1, (chars + 3) // 4 + gi.media * T.IMAGE_PART_TOKENS)


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

IMAGE_OUTPUT_TOKENS = 1290


class Built:
    def __init__(
        self,
        model: str,
        plan: T.Plan,
        include_thoughts: bool,
        image: bool,
        no_usage: bool,
    ):
        self.model = model
        self.plan = plan
        self.include_thoughts = include_thoughts
        self.image = image
        self.no_usage = no_usage
        self.response_id = new_id("", 11)
        self.finish = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}[plan.finish]
        self.signature = (
            base64.b64encode(hashlib.blake2b(str(plan.seed).encode(), digest_size=32).digest()).decode()
            if plan.reasoning_tokens
            else None
        )
        self.image_b64 = None
        if image and not plan.tool_calls:
            png = files.make_png(plan.seed, 64, 64)
            self.image_b64 = base64.b64encode(png).decode()

    @property
    def candidate_tokens(self) -> int:
        p = self.plan
        return len(p.pieces) + p.tool_tokens + (IMAGE_OUTPUT_TOKENS if self.image_b64 else 0)

    def usage(self, final: bool = True) -> dict:
        p = self.plan
        u: dict[str, Any] = {"promptTokenCount": p.prompt_tokens}
        if final:
            u["candidatesTokenCount"] = self.candidate_tokens
            u["totalTokenCount"] = p.prompt_tokens + self.candidate_tokens + p.reasoning_tokens
        else:
            u["totalTokenCount"] = p.prompt_tokens
        if p.cached_tokens:
            u["cachedContentTokenCount"] = p.cached_tokens
        u["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": p.prompt_tokens}]
        if final:
            if self.image_b64:
                u["candidatesTokensDetails"] = [
                    {"modality": "TEXT", "tokenCount": len(p.pieces)},
                    {"modality": "IMAGE", "tokenCount": IMAGE_OUTPUT_TOKENS},
                ]
            if p.reasoning_tokens:
                u["thoughtsTokenCount"] = p.reasoning_tokens
        return u

    def _fc_parts(self) -> list[dict]:
        parts = []
        for i, tc in enumerate(self.plan.tool_calls):
            part: dict[str, Any] = {"functionCall": {"name": tc.name, "args": orjson.loads(tc.arguments)}}
            if i == 0 and self.signature:
                part["thoughtSignature"] = self.signature
            parts.append(part)
        return parts

    def parts(self) -> list[dict]:
        p = self.plan
        parts: list[dict] = []
        if self.include_thoughts and p.reasoning_pieces:
            parts.append({"text": p.reasoning_text, "thought": True})
        if p.tool_calls:
            parts.extend(self._fc_parts())
            return parts
        if p.pieces or not self.image_b64:
            part: dict[str, Any] = {"text": p.text}
            if self.signature:
                part["thoughtSignature"] = self.signature
            parts.append(part)
        if self.image_b64:
            parts.append({"inlineData": {"mimeType": "image/png", "data": self.image_b64}})
        return parts

    def _wrap(self, parts: list[dict], finish: bool, usage: dict | None) -> dict:
        cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish:
            cand["finishReason"] = self.finish
        cand["index"] = 0
        out: dict[str, Any] = {"candidates": [cand]}
        if usage is not None and not self.no_usage:
            out["usageMetadata"] = usage
        out["modelVersion"] = self.model
        out["responseId"] = self.response_id
        return out

    def response(self) -> dict:
        return self._wrap(self.parts(), True, self.usage(True))

    def chunks(self) -> Iterator[tuple[dict, bool]]:
        """(chunk, is_content)"""
        p = self.plan
        partial = self.usage(False)
        if self.include_thoughts and p.reasoning_pieces:
            for piece in p.reasoning_pieces:
                yield (
                    self._wrap([{"text": piece, "thought": True}], False, partial),
                    True,
                )
        if p.tool_calls:
            yield self._wrap(self._fc_parts(), True, self.usage(True)), True
            return
        pieces = p.pieces
        n = len(pieces)
        if self.image_b64:
            for piece in pieces:
                yield self._wrap([{"text": piece}], False, partial), True
            img = {"inlineData": {"mimeType": "image/png", "data": self.image_b64}}
            yield self._wrap([img], True, self.usage(True)), True
            return
        if n == 0:
            yield self._wrap([{"text": ""}], True, self.usage(True)), False
            return
        for i, piece in enumerate(pieces):
            part: dict[str, Any] = {"text": piece}
            if i == 0 and self.signature:
                part["thoughtSignature"] = self.signature
            last = i == n - 1
            yield self._wrap([part], last, self.usage(True) if last else partial), True

    def sse_frames(self) -> Iterator[tuple[bytes, bool]]:
        for chunk, content in self.chunks():
            yield b"data: " + orjson.dumps(chunk) + b"\r\n\r\n", content

    def array_frames(self) -> Iterator[tuple[bytes, bool]]:
        first = True
        for chunk, content in self.chunks():
            yield (b"[" if first else b",\r\n") + orjson.dumps(chunk), content
            first = False
        yield b"]", False


MALFORMED = b'data: {"candidates": [{"content": {"parts": [{"text": "unterminated\r\n\r\n'


def stream_error_frame() -> bytes:
    return b"data: " + orjson.dumps(error_body(503, "The model is overloaded. Please try again later.")) + b"\r\n\r\n"


# --------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------


def _build(body: dict, model: str, f) -> Built:
    gi = parse_request(body)
    tools, tool_choice = parse_tools(body)
    gen_cfg = g(body, "generationConfig", "generation_config", {}) or {}
    r_tokens, include = reasoning_tokens(model, gen_cfg)
    mime = g(gen_cfg, "responseMimeType", "response_mime_type")
    schema = g(gen_cfg, "responseJsonSchema", "response_json_schema") or g(gen_cfg, "responseSchema", "response_schema")
    json_mode = mime == "application/json" or bool(schema)
    image = is_image_model(model)
    modalities = g(gen_cfg, "responseModalities", "response_modalities")
    if isinstance(modalities, list) and modalities and "IMAGE" not in [str(m).upper() for m in modalities]:
        image = False
    plan = T.make_plan(
        model=model,
        prompt_text="\n".join(gi.texts),
        prompt_tokens=prompt_tokens(gi, body),
        last_user=gi.last_user,
        max_tokens=g(gen_cfg, "maxOutputTokens", "max_output_tokens"),
        faults=f,
        tools=tools,
        tool_choice=tool_choice,
        tool_result_last=gi.tool_result_last,
        json_schema=schema if isinstance(schema, dict) else None,
        json_mode=json_mode,
        reasoning_tokens=r_tokens,
        reasoning_visible=include,
    )
    if image and not plan.tool_calls and not f.empty:
        plan.pieces = T.pieces(plan.seed, min(len(plan.pieces), 12))
    return Built(model, plan, include, image and not f.empty, f.no_usage)


async def generate(req: Request, model: str, f, *, stream: bool, sse_mode: bool) -> None:
    try:
        body = req.json_object()
        if await pre_faults(req, f, gemini_error, streaming=stream):
            return
        built = _build(body, model, f)
    except HTTPError as exc:
        await gemini_error(req, exc.status, exc.message)
        return
    if stream:
        if sse_mode:
            await send_stream(
                req,
                built.sse_frames(),
                f,
                malformed=MALFORMED,
                error_frame=stream_error_frame,
            )
        else:
            await send_stream(
                req,
                built.array_frames(),
                f,
                content_type=b"application/json; charset=UTF-8",
                malformed=b'{"broken": ',
            )
        return
    await pace_nonstream(f, built.candidate_tokens)
    await send_body(
        req,
        200,
        orjson.dumps(built.response()),
        f,
        content_type=b"application/json; charset=UTF-8",
    )


async def count_tokens(req: Request, model: str, f) -> None:
    try:
        body = req.json_object()
        if await pre_faults(req, f, gemini_error):
            return
        inner = g(body, "generateContentRequest", "generate_content_request")
        gi = parse_request(inner if isinstance(inner, dict) else body)
        n = prompt_tokens(gi, inner if isinstance(inner, dict) else body)
    except HTTPError as exc:
        await gemini_error(req, exc.status, exc.message)
        return
    await req.respond_json(
        200,
        {
            "totalTokens": n,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}],
        },
    )


MODELS = (
    ("gemini-2.5-pro", "Gemini 2.5 Pro"),
    ("gemini-2.5-flash", "Gemini 2.5 Flash"),
    ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite"),
    ("gemini-2.5-flash-image", "Nano Banana"),
    ("gemini-3-pro-preview", "Gemini 3 Pro Preview"),
)


def _model_info(mid: str, name: str) -> dict:
    return {
        "name": f"models/{mid}",
        "version": "001",
        "displayName": name,
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    }


async def models_route(req: Request) -> None:
    if not authorized(req, "google"):
        await unauthorized(req)
        return
    path = req.path
    for prefix in ("/gemini/v1beta/models", "/gemini/v1/models"):
        if path.startswith(prefix):
            rest = path[len(prefix) :].lstrip("/")
            break
    else:  # pragma: no cover - router guarantees a prefix
        rest = ""
    if req.method in ("GET", "HEAD"):
        if not rest:
            await req.respond_json(200, {"models": [_model_info(m, n) for m, n in MODELS]})
        else:
            await req.respond_json(200, _model_info(rest, rest))
        return
    if ":" not in rest:
        await gemini_error(req, 404, f"Method not found for path {path}")
        return
    raw_model, action = rest.rsplit(":", 1)
    model, opts = split_model(raw_model)
    f = req.faults(opts)
    if action == "generateContent":
        await generate(req, model, f, stream=f.sse_always, sse_mode=f.sse_always)
    elif action == "streamGenerateContent":
        await generate(req, model, f, stream=True, sse_mode=req.query.get("alt") == "sse")
    elif action == "countTokens":
        await count_tokens(req, model, f)
    else:
        await gemini_error(req, 404, f"Unsupported action '{action}'")


def register(r: Router) -> None:
    for v in ("v1beta", "v1"):
        r.add("GET", f"/gemini/{v}/models", models_route)
        r.add_prefix("POST", f"/gemini/{v}/models/", models_route)
        r.add_prefix("GET", f"/gemini/{v}/models/", models_route)
