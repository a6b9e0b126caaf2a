"""Small helpers shared by the adapters."""

from __future__ import annotations


def as_int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def json_headers(*, stream: bool, extra: dict) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
        # Forwarded as they come: a compressed stream would be held back.
        "Accept-Encoding": "identity" if stream else "gzip, deflate",
    }
    headers.update({str(k): str(v) for k, v in (extra or {}).items()})
    return headers
