"""Server-sent events: splitting an upstream byte stream into whole events
and writing events.

Upstream streams are forwarded event by event (never a partial event, so a
keep-alive or an injected event can go between any two), and only the
events billing needs are ever decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

_SEPARATORS = (b"\n\n", b"\r\n\r\n", b"\r\r")


class EventSplitter:
    """Feeds network chunks in, gives whole raw events (separator included) out."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        buffer = self._buffer + chunk if self._buffer else chunk
        events: list[bytes] = []
        start = 0
        while True:
            end = -1
            sep_len = 0
            for sep in _SEPARATORS:
                i = buffer.find(sep, start)
                if i != -1 and (end == -1 or i < end):
                    end, sep_len = i, len(sep)
            if end == -1:
                break
            events.append(buffer[start : end + sep_len])
            start = end + sep_len
        self._buffer = buffer[start:]
        return events

    def rest(self) -> bytes:
        """Whatever is left when the stream ends (an unterminated last event)."""
        rest, self._buffer = self._buffer, b""
        return rest


@dataclass(slots=True)
class Event:
    name: str | None
    data: str


def event_parse(raw: bytes) -> Event:
    name = None
    data_lines: list[str] = []
    for line in raw.decode("utf-8", "replace").splitlines():
        if line.startswith("data:"):
            data_lines.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            name = line[6:].strip()
    return Event(name=name, data="\n".join(data_lines))


def event_json(raw: bytes) -> dict | None:
    """The JSON object of an event's data, or None (comments, [DONE], junk)."""
    data = event_parse(raw).data
    if not data or data[0] != "{":
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def sse_data(payload: dict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def sse_event(name: str, payload: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def is_done(raw: bytes) -> bool:
    return raw.startswith(b"data: [DONE]") or raw.startswith(b"data:[DONE]")
