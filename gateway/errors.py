"""API errors and their wire shapes.

One exception, rendered in the shape the client speaks so its SDK raises the
right exception class:

- OpenAI:    {"error": {"message", "type", "code", "param"}}
- Anthropic: {"type": "error", "error": {"type", "message"}}
- Gemini:    {"error": {"code", "message", "status"}}
- Media API (the 001 docs family): {"error": "<message>", ...extra}
"""

from dataclasses import dataclass, field
from enum import StrEnum

import orjson
from django.http import HttpResponse


class WireFormat(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    MEDIA = "media"


# status -> (OpenAI type, Anthropic type, Google status)
_KINDS: dict[int, tuple[str, str, str]] = {
    400: ("invalid_request_error", "invalid_request_error", "INVALID_ARGUMENT"),
    401: ("authentication_error", "authentication_error", "UNAUTHENTICATED"),
    402: ("insufficient_quota", "billing_error", "FAILED_PRECONDITION"),
    403: ("permission_error", "permission_error", "PERMISSION_DENIED"),
    404: ("not_found_error", "not_found_error", "NOT_FOUND"),
    405: ("invalid_request_error", "invalid_request_error", "INVALID_ARGUMENT"),
    408: ("timeout_error", "timeout_error", "DEADLINE_EXCEEDED"),
    413: ("invalid_request_error", "request_too_large", "INVALID_ARGUMENT"),
    429: ("rate_limit_error", "rate_limit_error", "RESOURCE_EXHAUSTED"),
    500: ("api_error", "api_error", "INTERNAL"),
    502: ("upstream_error", "api_error", "UNAVAILABLE"),
    503: ("service_unavailable", "overloaded_error", "UNAVAILABLE"),
    504: ("timeout_error", "timeout_error", "DEADLINE_EXCEEDED"),
}


@dataclass
class ApiError(Exception):
    status: int
    message: str
    code: str = ""
    param: str | None = None
    # Extra top-level fields, e.g. required/available on 402 or available_models.
    extra: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def body(self, wire: WireFormat) -> dict:
        openai_type, anthropic_type, google_status = _KINDS.get(self.status, _KINDS[500])
        if wire == WireFormat.ANTHROPIC:
            return {"type": "error", "error": {"type": anthropic_type, "message": self.message, **self.extra}}
        if wire == WireFormat.GEMINI:
            return {"error": {"code": self.status, "message": self.message, "status": google_status, **self.extra}}
        if wire == WireFormat.MEDIA:
            return {"error": self.message, **self.extra}
        return {
            "error": {
                "message": self.message,
                "type": openai_type,
                "code": self.code or openai_type,
                "param": self.param,
                **self.extra,
            }
        }

    def response(self, wire: WireFormat, *, request_id: str | None = None) -> HttpResponse:
        response = HttpResponse(orjson.dumps(self.body(wire)), status=self.status, content_type="application/json")
        for name, value in self.headers.items():
            response[name] = value
        if request_id:
            response["X-Request-Id"] = request_id
        return response


def error_missing_key() -> ApiError:
    return ApiError(
        401,
        "Missing API key. Send it as 'Authorization: Bearer ck_...', 'x-api-key', 'x-goog-api-key' or '?key='.",
        code="missing_api_key",
    )


def error_invalid_key() -> ApiError:
    return ApiError(401, "Invalid, expired or revoked API key.", code="invalid_api_key")


def error_insufficient_credits(*, required_micros: int, available_micros: int, wire: WireFormat) -> ApiError:
    """402 with the amounts in credits, plus how to fix it."""
    required = _credits(required_micros)
    available = _credits(available_micros)
    if wire == WireFormat.MEDIA:
        return ApiError(
            402,
            "Insufficient credits",
            code="insufficient_credits",
            extra={"required": required, "available": available},
        )
    return ApiError(
        402,
        f"Insufficient credits: this request needs {required} credits and {available} are available. "
        "Top up at /dashboard/topup/ (minimum 200 credits = $2). A request reserves its worst-case cost "
        "(max_tokens at the model's output rate) until it finishes, so a lower max_tokens needs fewer credits.",
        code="insufficient_credits",
        extra={"required": required, "available": available},
    )


def _credits(micros: int) -> int | float:
    value = micros / 1_000_000
    return int(value) if value == int(value) else round(value, 6)
