"""OpenAI Chat Completions, as clients send it to POST /v1/chat/completions."""

from __future__ import annotations

from catalog.models import Endpoint
from gateway.errors import ApiError, WireFormat
from gateway.sse import sse_data
from gateway.wire import Inbound, positive_int, require_model

PROTOCOL = "openai_chat"
WIRE = WireFormat.OPENAI


def inbound(body: dict, *, endpoint: str = Endpoint.CHAT_COMPLETIONS, model_id: str | None = None) -> Inbound:
    model = model_id or require_model(body)
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise ApiError(400, "'messages' must be a non-empty array.", code="invalid_messages", param="messages")
    return Inbound(
        endpoint=endpoint,
        protocol=PROTOCOL,
        wire=WIRE,
        body=body,
        model_id=model,
        stream=body.get("stream") is True,
        max_output_tokens=positive_int(body.get("max_completion_tokens")) or positive_int(body.get("max_tokens")),
        choices=positive_int(body.get("n")) or 1,
    )


def stream_error(error: ApiError) -> bytes:
    body = error.body(WireFormat.OPENAI)
    return sse_data(body)
