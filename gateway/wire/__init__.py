"""Client-facing wire formats, one module each: how a request in that
format names its model, whether it streams, how much output it may ask for,
and how an error is written into a stream that already started.

Every module exposes ``PROTOCOL`` (the upstream protocol that speaks the
same format natively), ``WIRE`` (the error shape), ``inbound(body, ...)`` and
``stream_error(error)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.errors import ApiError, WireFormat


@dataclass
class Inbound:
    """A parsed client request, whatever its format."""

    endpoint: str
    protocol: str
    wire: WireFormat
    body: dict
    model_id: str | None
    stream: bool
    max_output_tokens: int | None = None
    choices: int = 1
    simple_chat: bool = False
    gemini_array: bool = False
    client_headers: dict = field(default_factory=dict)


def positive_int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def require_model(body: dict) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ApiError(
            400,
            "The request needs a 'model' (a model id; GET /v1/models lists them).",
            code="missing_model",
            param="model",
        )
    return model.strip()
