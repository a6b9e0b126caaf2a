"""Anthropic Messages, as clients (the Anthropic SDK, Claude Code) send it to
POST /v1/messages."""

from __future__ import annotations

from catalog.models import Endpoint
from gateway.errors import ApiError, WireFormat
from gateway.sse import sse_event
from gateway.wire import Inbound, positive_int, require_model

PROTOCOL = "anthropic_messages"
WIRE = WireFormat.ANTHROPIC
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def inbound(body: dict, *, headers: dict) -> Inbound:
    model = require_model(body)
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise ApiError(400, "messages: at least one message is required", code="invalid_messages")
    max_tokens = positive_int(body.get("max_tokens"))
    if max_tokens is None:
        raise ApiError(400, "max_tokens: Field required", code="missing_max_tokens")
    return Inbound(
        endpoint=Endpoint.MESSAGES,
        protocol=PROTOCOL,
        wire=WIRE,
        body=body,
        model_id=model,
        stream=body.get("stream") is True,
        max_output_tokens=max_tokens,
        client_headers={k: headers[k] for k in FORWARDED_HEADERS if headers.get(k)},
    )


def stream_error(error: ApiError) -> bytes:
    return sse_event("error", error.body(WireFormat.ANTHROPIC))
