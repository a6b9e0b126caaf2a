"""POST /v1/gemini and the Google SDK path form
/v1/gemini/v1beta/models/{model}:generateContent|:streamGenerateContent.

One endpoint, two shapes: a Gemini-native body (`contents`,
`generationConfig`, `systemInstruction`) is answered in Gemini's shape; an
OpenAI-shaped body (`messages`) is answered in OpenAI's. Both are converted
through OpenAI Chat Completions when the route serving the model speaks the
other protocol.
"""

from __future__ import annotations

import orjson

from catalog.models import Endpoint
from gateway.errors import ApiError, WireFormat
from gateway.sse import sse_data
from gateway.wire import Inbound, openai_chat, positive_int, require_model

PROTOCOL = "gemini"
WIRE = WireFormat.GEMINI


def is_native(body: dict) -> bool:
    return "contents" in body or "messages" not in body


def inbound(body: dict, *, model_id: str | None = None, stream: bool | None = None, array: bool = False) -> Inbound:
    if not is_native(body):
        parsed = openai_chat.inbound(body, endpoint=Endpoint.GEMINI, model_id=model_id)
        if stream is not None:
            parsed.stream = stream
        return parsed
    model = (model_id or require_model(body)).removeprefix("models/")
    if not body.get("contents"):
        raise ApiError(400, "* GenerateContentRequest.contents: contents is not specified", code="missing_contents")
    config = body.get("generationConfig") or body.get("generation_config") or {}
    max_tokens = positive_int(config.get("maxOutputTokens") or config.get("max_output_tokens"))
    thinking = config.get("thinkingConfig") or config.get("thinking_config") or {}
    budget = positive_int(thinking.get("thinkingBudget") or thinking.get("thinking_budget"))
    if max_tokens and budget:
        max_tokens += budget
    return Inbound(
        endpoint=Endpoint.GEMINI,
        protocol=PROTOCOL,
        wire=WIRE,
        body=body,
        model_id=model,
        stream=stream if stream is not None else body.get("stream") is True,
        max_output_tokens=max_tokens,
        choices=positive_int(config.get("candidateCount") or config.get("candidate_count")) or 1,
        gemini_array=array,
    )


def stream_error(error: ApiError, *, array: bool = False) -> bytes:
    body = error.body(WireFormat.GEMINI)
    if array:
        return b"," + orjson.dumps(body) + b"]"
    return sse_data(body)


class ArrayFramer:
    """Gemini's SSE events re-framed as the JSON array Google streams when
    a client leaves out `alt=sse`: `[{chunk},\\r\\n{chunk}]`."""

    def __init__(self) -> None:
        self.started = False

    def feed(self, raw: bytes) -> bytes:
        payload = b"".join(line[5:].strip() for line in raw.splitlines() if line.startswith(b"data:"))
        if not payload.startswith(b"{"):
            return b""
        prefix = b",\r\n" if self.started else b"["
        self.started = True
        return prefix + payload

    def finish(self) -> bytes:
        return b"]" if self.started else b"[]"
