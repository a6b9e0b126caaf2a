"""OpenAI Responses, as clients (Codex CLI, the Agents SDK) send it to
POST /v1/responses and /v1/codex/responses."""

from __future__ import annotations

from catalog.models import Endpoint
from gateway.errors import ApiError, WireFormat
from gateway.sse import sse_event
from gateway.wire import Inbound, positive_int, require_model

PROTOCOL = "openai_responses"
WIRE = WireFormat.OPENAI


def inbound(body: dict, *, endpoint: str = Endpoint.RESPONSES) -> Inbound:
    model = require_model(body)
    if body.get("input") is None and not body.get("previous_response_id"):
        raise ApiError(400, "Missing required parameter: 'input'.", code="missing_input", param="input")
    return Inbound(
        endpoint=endpoint,
        protocol=PROTOCOL,
        wire=WIRE,
        body=body,
        model_id=model,
        stream=body.get("stream") is True,
        max_output_tokens=positive_int(body.get("max_output_tokens")),
    )


def stream_error(error: ApiError) -> bytes:
    openai_type = error.body(WireFormat.OPENAI)["error"]["type"]
    payload = {
        "type": "error",
        "code": error.code or openai_type,
        "message": error.message,
        "param": None,
        "sequence_number": 0,
    }
    return sse_event("error", payload)
