"""POST /v1/chat, the simple chat endpoint of the media API docs: OpenAI
messages, a default model when none is named, `creditsUsed` in the answer,
and errors in the media API's flat shape."""

from __future__ import annotations

from functools import lru_cache

from catalog.models import Endpoint
from catalog.services import catalog_file_read
from gateway.errors import ApiError, WireFormat
from gateway.wire import Inbound, openai_chat

PROTOCOL = "openai_chat"
WIRE = WireFormat.MEDIA


@lru_cache(maxsize=1)
def default_model() -> str:
    return catalog_file_read().get("defaults", {}).get("chat_model", "")


def inbound(body: dict) -> Inbound:
    if not isinstance(body.get("model"), str) or not body["model"].strip():
        body = {**body, "model": default_model()}
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise ApiError(400, "Messages are required", code="invalid_messages")
    parsed = openai_chat.inbound(body, endpoint=Endpoint.CHAT)
    parsed.wire = WIRE
    parsed.simple_chat = True
    return parsed


def stream_error(error: ApiError) -> bytes:
    return openai_chat.stream_error(error)
