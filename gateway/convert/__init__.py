"""Conversions between wire formats, all in one place.

When a client's wire format has no native upstream for the route serving
it (a Gemini model on /chat/completions routed to a native Gemini provider,
a Responses request for a model served over Chat Completions, a native
Gemini request served by an OpenAI-compatible route), the request, the
answer and the stream are converted through one hub format, OpenAI Chat
Completions: every other format converts to and from it, so n formats need
2(n-1) converters rather than n(n-1). Native pairs never come here: they
pass through untouched.

Only what has a meaning on both sides is carried over (text, images, tool
calls and results, JSON output, the common sampling knobs, reasoning effort
and usage); provider-only features of one side are dropped, not faked.
"""

from __future__ import annotations

import orjson

from gateway.convert import gemini, responses
from gateway.convert.chat import ChunkMaker, UpstreamStreamError, chat_text
from gateway.convert.gemini import schema_from_gemini
from gateway.sse import DONE, event_json, is_done, sse_data

CHAT = "openai_chat"
RESPONSES = "openai_responses"
GEMINI = "gemini"
CONVERTIBLE = frozenset({CHAT, RESPONSES, GEMINI})

_REQUEST_TO_CHAT = {RESPONSES: responses.responses_request_to_chat, GEMINI: gemini.gemini_request_to_chat}
_REQUEST_FROM_CHAT = {RESPONSES: responses.chat_request_to_responses, GEMINI: gemini.chat_request_to_gemini}


def request_convert(body: dict, *, source: str, target: str) -> dict:
    if source == target:
        return body
    chat = _REQUEST_TO_CHAT[source](body) if source != CHAT else body
    return _REQUEST_FROM_CHAT[target](chat) if target != CHAT else chat


def response_convert(body: dict, *, source: str, target: str, model: str, request: dict) -> dict:
    if source == target:
        return body
    if source == RESPONSES:
        chat = responses.responses_response_to_chat(body, model=model)
    elif source == GEMINI:
        chat = gemini.gemini_response_to_chat(body, model=model)
    else:
        chat = body
    if target == RESPONSES:
        return responses.chat_response_to_responses(chat, model=model, request=request)
    if target == GEMINI:
        return gemini.chat_response_to_gemini(chat, model=model)
    return chat


class StreamTranslator:
    """Raw upstream events of one protocol in, client events of another out.

    `feed` takes one whole raw SSE event and returns the bytes to send;
    `finish` is called once at the upstream's clean end. `fallback_usage`
    (Chat Completions shape) fills in usage when the upstream sent none, so
    a client always gets usage in the final chunk.
    """

    def __init__(self, *, source: str, target: str, model: str, request: dict, gemini_array: bool = False) -> None:
        self.source = source
        self.target = target
        self.decoder = (
            responses.ResponsesToChat(model=model)
            if source == RESPONSES
            else gemini.GeminiToChat(model=model)
            if source == GEMINI
            else None
        )
        self.encoder = (
            responses.ChatToResponses(model=model, request=request)
            if target == RESPONSES
            else gemini.ChatToGemini(model=model)
            if target == GEMINI
            else None
        )
        self.gemini_array = gemini_array
        self.array_started = False
        self.saw_usage = False
        self.upstream_done = False

    def _decode(self, raw: bytes) -> list[dict]:
        if self.source == CHAT:
            if is_done(raw):
                self.upstream_done = True
                return []
            data = event_json(raw)
            if data and isinstance(data.get("error"), dict):
                raise UpstreamStreamError(str(data["error"].get("message") or "upstream stream failed"))
            return [data] if data else []
        data = event_json(raw)
        return self.decoder.feed(data) if data else []

    def _encode(self, chunks: list[dict]) -> bytes:
        out = []
        for chunk in chunks:
            if isinstance(chunk.get("usage"), dict):
                self.saw_usage = True
            if self.encoder is None:
                out.append(sse_data(chunk))
            elif self.target == RESPONSES:
                out.extend(self.encoder.feed(chunk))
            else:
                out.extend(self._gemini_frame(c) for c in self.encoder.feed(chunk))
        return b"".join(out)

    def _gemini_frame(self, chunk: dict) -> bytes:
        if not self.gemini_array:
            return sse_data(chunk)
        prefix = b"," if self.array_started else b"["
        self.array_started = True
        return prefix + orjson.dumps(chunk) + b"\r\n"

    def feed(self, raw: bytes) -> bytes:
        return self._encode(self._decode(raw))

    def finish(self, *, fallback_usage: dict | None = None) -> bytes:
        chunks = self.decoder.finish() if self.decoder is not None else []
        out = self._encode(chunks)
        if not self.saw_usage and fallback_usage is not None:
            maker = getattr(self.decoder, "make", None) or ChunkMaker(model=getattr(self.encoder, "model", ""))
            out += self._encode([maker.usage_chunk(fallback_usage)])
        if self.encoder is None:
            return out + DONE
        if self.target == RESPONSES:
            return out + b"".join(self.encoder.finish())
        tail = b"".join(self._gemini_frame(c) for c in self.encoder.finish())
        if self.gemini_array:
            tail += b"]" if self.array_started else b"[]"
        return out + tail


__all__ = [
    "CONVERTIBLE",
    "StreamTranslator",
    "UpstreamStreamError",
    "chat_text",
    "request_convert",
    "response_convert",
    "schema_from_gemini",
]
