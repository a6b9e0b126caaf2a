"""Finding the API key a client sent, in any of the forms SDKs use."""

from django.http import HttpRequest


def api_key_from_request(request: HttpRequest) -> str | None:
    """`Authorization: Bearer ck_…` (OpenAI SDK, Codex CLI), `x-api-key`
    (Anthropic SDK, Claude Code), `x-goog-api-key` (Google GenAI SDK) or
    `?key=` (Gemini REST)."""
    meta = request.META
    authorization = meta.get("HTTP_AUTHORIZATION", "")
    if authorization[:7].lower() == "bearer ":
        token = authorization[7:].strip()
        if token:
            return token
    for header in ("HTTP_X_API_KEY", "HTTP_X_GOOG_API_KEY"):
        value = meta.get(header, "").strip()
        if value:
            return value
    return request.GET.get("key") or None
