"""Raw ASGI application: routing, request parsing, auth, response and SSE helpers.

Provider modules register nothing themselves; the route table is built lazily
by :func:`router` (so importing any module in any order works).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import orjson

from . import faults as faults_mod
from .faults import Faults

Handler = Callable[["Request"], Awaitable[None]]

JSON_CT = b"application/json"
SSE_CT = b"text/event-stream; charset=utf-8"

# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


class Settings:
    api_key: str | None = os.environ.get("SIM_API_KEY") or None

    @classmethod
    def reload(cls) -> None:
        cls.api_key = os.environ.get("SIM_API_KEY") or None


# --------------------------------------------------------------------------
# Request
# --------------------------------------------------------------------------


class HTTPError(Exception):
    """Raised by parsing helpers; handlers turn it into a provider error."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    __slots__ = (
        "_query",
        "_send",
        "body",
        "fault",
        "finished",
        "headers",
        "method",
        "path",
        "query_string",
        "receive",
        "scope",
        "started",
    )

    def __init__(self, scope: dict, receive, send) -> None:
        self.scope = scope
        self.receive = receive
        self._send = send
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: bytes = scope.get("query_string", b"")
        self.headers: dict[str, str] = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        self.body: bytes = b""
        self._query: dict[str, str] | None = None
        self.started = False
        self.finished = False
        self.fault: Faults | None = None

    async def read_body(self) -> bytes:
        chunks = []
        while True:
            msg = await self.receive()
            if msg["type"] != "http.request":
                break
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body", False):
                break
        self.body = b"".join(chunks)
        return self.body

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def query(self) -> dict[str, str]:
        if self._query is None:
            self._query = dict(parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True))
        return self._query

    def json(self) -> Any:
        if not self.body:
            raise HTTPError(400, "Request body is empty; expected JSON.")
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise HTTPError(400, f"Request body is not valid JSON: {exc}") from None

    def json_object(self) -> dict:
        data = self.json()
        if not isinstance(data, dict):
            raise HTTPError(400, "Request body must be a JSON object.")
        return data

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def base_url(self) -> str:
        host = self.headers.get("host")
        if not host:
            server = self.scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{self.scope.get('scheme', 'http')}://{host}"

    def faults(self, model_opts: dict[str, str] | None = None) -> Faults:
        self.fault = faults_mod.collect(self.headers.get(faults_mod.HEADER), model_opts)
        return self.fault

    # ---- sending -----------------------------------------------------

    async def start(
        self,
        status: int,
        content_type: bytes,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        hdrs = [(b"content-type", content_type)]
        hdrs.extend(headers)
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": hdrs})

    async def write(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self, data: bytes = b"") -> None:
        self.finished = True
        await self._send({"type": "http.response.body", "body": data, "more_body": False})

    async def respond(
        self,
        status: int,
        body: bytes,
        content_type: bytes = JSON_CT,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        hdrs = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ]
        hdrs.extend(headers)
        self.started = True
        self.finished = True
        await self._send({"type": "http.response.start", "status": status, "headers": hdrs})
        await self._send(
            {
                "type": "http.response.body",
                "body": body if self.method != "HEAD" else b"",
            }
        )

    async def respond_json(self, status: int, obj: Any, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        await self.respond(status, orjson.dumps(obj), JSON_CT, headers)

    async def wait_disconnect(self) -> None:
        while True:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                return


# --------------------------------------------------------------------------
# Auth
# --------------------------------------------------------------------------


def _bearer(req: Request) -> str | None:
    auth = req.headers.get("authorization")
    if not auth:
        return None
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def presented_key(req: Request, style: str) -> str | None:
    if style == "anthropic":
        return req.headers.get("x-api-key") or _bearer(req)
    if style == "google":
        return req.headers.get("x-goog-api-key") or req.query.get("key") or _bearer(req)
    return _bearer(req)


def authorized(req: Request, style: str) -> bool:
    key = presented_key(req, style)
    if not key:
        return False
    expected = Settings.api_key
    return expected is None or key == expected


# --------------------------------------------------------------------------
# Fault helpers shared by all providers
# --------------------------------------------------------------------------

ErrorFn = Callable[[Request, int, str], Awaitable[None]]


def retry_headers(status: int, f: Faults | None) -> list[tuple[bytes, bytes]]:
    if f is not None and f.retry_after is not None:
        return [(b"retry-after", str(f.retry_after).encode())]
    if status == 429:
        return [(b"retry-after", b"1")]
    return []


FAULT_MESSAGES = {
    400: "Simulated bad request.",
    401: "Simulated authentication failure.",
    403: "Simulated permission denied.",
    404: "Simulated not found.",
    408: "Simulated request timeout.",
    409: "Simulated conflict.",
    413: "Simulated request too large.",
    422: "Simulated unprocessable request.",
    429: "Simulated rate limit: too many requests, please retry later.",
    500: "Simulated internal server error.",
    502: "Simulated bad gateway.",
    503: "Simulated service unavailable: the upstream is overloaded.",
    504: "Simulated gateway timeout.",
    529: "Simulated overload.",
}


def fault_message(status: int) -> str:
    return FAULT_MESSAGES.get(status, f"Simulated upstream error (HTTP {status}).")


_FAULT_COUNTS: dict[tuple[str, str], int] = {}


def _count_fault(req: Request, f: Faults) -> bool:
    """``times=K``: only the first K requests with the same path and fault spec fail."""
    if f.times is None:
        return True
    key = (req.path, f.spec)
    n = _FAULT_COUNTS.get(key, 0)
    if n >= f.times:
        return False
    if len(_FAULT_COUNTS) > 100_000:
        _FAULT_COUNTS.clear()
    _FAULT_COUNTS[key] = n + 1
    return True


async def pre_faults(req: Request, f: Faults, error: ErrorFn, *, streaming: bool = False) -> bool:
    """Apply delay/status/stall faults that act before the first byte.

    ``streaming=True`` leaves ``stall`` to the stream writer (or, for media
    jobs, to the job itself).  Returns True when the request has been fully
    handled (error sent or the client went away while stalled)."""
    if f.delay_ms > 0:
        await asyncio.sleep(f.delay_ms / 1000)
    if f.status is not None and f.status >= 400 and _count_fault(req, f):
        await error(req, f.status, fault_message(f.status))
        return True
    if f.stall and not streaming:
        await req.wait_disconnect()
        return True
    return False


async def pace_nonstream(f: Faults, tokens: int) -> None:
    """Non-streaming answers take tokens / tokens_per_s seconds when paced."""
    if f.tokens_per_s > 0 and tokens > 0:
        await asyncio.sleep(tokens / f.tokens_per_s)


async def send_body(
    req: Request,
    status: int,
    body: bytes,
    f: Faults,
    content_type: bytes = JSON_CT,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send a complete (non-streamed) body honouring malformed/reset_after."""
    if f.reset_after is not None:
        # Chunked body, first half only, then drop the connection.
        await req.start(status, content_type, headers)
        if f.reset_after > 0:
            await req.write(body[: max(1, len(body) // 2)])
        return  # returning without completing => uvicorn closes the socket
    if f.malformed:
        body = body[: max(1, len(body) // 2)]
    await req.respond(status, body, content_type, headers)


MALFORMED_DATA = b'data: {"id": "malformed", "choices": [{"delta": {"content": "unterminated\n\n'


async def send_stream(
    req: Request,
    frames: Iterable[tuple[bytes, bool]],
    f: Faults,
    *,
    headers: Iterable[tuple[bytes, bytes]] = (),
    content_type: bytes = SSE_CT,
    malformed: bytes = MALFORMED_DATA,
    error_frame: Callable[[], bytes] | None = None,
) -> None:
    """Stream ``frames`` (bytes, is_content) applying stream faults.

    * tokens_per_s: sleep 1/rate before every content frame;
    * reset_after=K: close the socket after K content frames (chunked body
      left unterminated);
    * malformed: insert one invalid SSE data line after the 2nd content frame
      (after the 1st if there is only one);
    * error_after=K: after K content frames emit the provider's in-stream
      error event (``error_frame()``) and finish the stream;
    * stall: send headers and the frames preceding the first content frame,
      then hang until the client disconnects.
    """
    hdrs = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
    hdrs.extend(headers)
    await req.start(200, content_type, hdrs)
    paced = f.tokens_per_s > 0
    interval = 1.0 / f.tokens_per_s if paced else 0.0
    reset_after = f.reset_after
    error_after = f.error_after if error_frame is not None else None
    watcher: asyncio.Future | None = None
    if paced or f.stall:
        watcher = asyncio.ensure_future(req.wait_disconnect())
    buf: list[bytes] = []
    count = 0
    malformed_sent = not f.malformed
    try:
        if reset_after == 0:
            if buf:
                await req.write(b"".join(buf))
            return
        for data, is_content in frames:
            if is_content:
                if f.stall:
                    if buf:
                        await req.write(b"".join(buf))
                    await watcher  # type: ignore[misc]
                    return
                if paced:
                    if buf:
                        await req.write(b"".join(buf))
                        buf.clear()
                    await asyncio.sleep(interval)
                    if watcher is not None and watcher.done():
                        return  # client went away
                buf.append(data)
                count += 1
                if not malformed_sent and count >= 2:
                    buf.append(malformed)
                    malformed_sent = True
                if reset_after is not None and count >= reset_after:
                    await req.write(b"".join(buf))
                    return  # abort: connection closed without final chunk
                if error_after is not None and count >= error_after:
                    buf.append(error_frame())  # type: ignore[misc]
                    await req.end(b"".join(buf))
                    return
            else:
                if not malformed_sent and count >= 1:
                    buf.append(malformed)
                    malformed_sent = True
                buf.append(data)
        if f.stall and watcher is not None:
            if buf:
                await req.write(b"".join(buf))
            await watcher
            return
        await req.end(b"".join(buf))
    finally:
        if watcher is not None and not watcher.done():
            watcher.cancel()


def sse(data: Any, event: str | None = None) -> bytes:
    payload = orjson.dumps(data)
    if event:
        return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"
    return b"data: " + payload + b"\n\n"


DONE = b"data: [DONE]\n\n"


def now() -> int:
    return int(time.time())


def new_id(prefix: str, nbytes: int = 12) -> str:
    return prefix + os.urandom(nbytes).hex()


# --------------------------------------------------------------------------
# Multipart parsing (for image edits, Fish ASR/model uploads)
# --------------------------------------------------------------------------


class Part:
    __slots__ = ("content_type", "data", "filename", "name")

    def __init__(self, name: str, filename: str | None, content_type: str | None, data: bytes):
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.data = data

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    parts = value.split(";")
    params: dict[str, str] = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] == '"':
                v = v[1:-1]
            params[k.strip().lower()] = v
    return parts[0].strip().lower(), params


def parse_multipart(req: Request) -> list[Part]:
    ctype = req.headers.get("content-type", "")
    main, params = _header_params(ctype)
    if main != "multipart/form-data" or "boundary" not in params:
        raise HTTPError(400, "Expected multipart/form-data with a boundary.")
    boundary = b"--" + params["boundary"].encode("latin-1")
    body = req.body
    out: list[Part] = []
    for section in body.split(boundary)[1:]:
        if section.startswith(b"--"):
            break
        if section.startswith(b"\r\n"):
            section = section[2:]
        head, sep, data = section.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        name = ""
        filename = None
        pctype = None
        for line in head.split(b"\r\n"):
            hname, _, hval = line.decode("utf-8", "replace").partition(":")
            hname = hname.strip().lower()
            if hname == "content-disposition":
                _, dparams = _header_params(hval)
                name = dparams.get("name", "")
                filename = dparams.get("filename")
            elif hname == "content-type":
                pctype = hval.strip()
        out.append(Part(name, filename, pctype, data))
    return out


# --------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------


class Router:
    def __init__(self) -> None:
        self.exact: dict[tuple[str, str], Handler] = {}
        self.prefixes: list[tuple[str, str, Handler]] = []

    def add(self, method: str, path: str, handler: Handler) -> None:
        self.exact[(method, path)] = handler

    def add_prefix(self, method: str, prefix: str, handler: Handler) -> None:
        self.prefixes.append((method, prefix, handler))

    def match(self, method: str, path: str) -> tuple[Handler | None, bool]:
        """Returns (handler, path_known)."""
        h = self.exact.get((method, path))
        if h is not None:
            return h, True
        if method == "HEAD":
            h = self.exact.get(("GET", path))
            if h is not None:
                return h, True
        known = any(p == path for (_, p) in self.exact)
        for m, prefix, handler in self.prefixes:
            if path.startswith(prefix):
                if m == method or (method == "HEAD" and m == "GET"):
                    return handler, True
                known = True
        return None, known


_ROUTER: Router | None = None


def router() -> Router:
    global _ROUTER
    if _ROUTER is None:
        from . import (
            anthropic_messages,
            fish_audio,
            gemini,
            media_jobs,
            openai_chat,
            openai_images,
            openai_responses,
        )

        r = Router()
        r.add("GET", "/healthz", healthz)
        r.add_prefix("GET", "/files/", serve_file)
        for mod in (
            openai_chat,
            openai_responses,
            openai_images,
            anthropic_messages,
            gemini,
            fish_audio,
            media_jobs,
        ):
            mod.register(r)
        _ROUTER = r
    return _ROUTER


async def healthz(req: Request) -> None:
    await req.respond(200, b'{"ok":true}')


async def serve_file(req: Request) -> None:
    from . import files

    name = req.path[len("/files/") :]
    hit = files.get_file(name)
    if hit is None:
        await req.respond_json(404, {"error": {"message": f"No such file: {name}", "type": "not_found"}})
        return
    data, ctype = hit
    await req.respond(200, data, ctype.encode(), [(b"cache-control", b"public, max-age=86400")])


# --------------------------------------------------------------------------
# ASGI entry point
# --------------------------------------------------------------------------

log = logging.getLogger("simulator")


async def app(scope: dict, receive, send) -> None:
    stype = scope["type"]
    if stype == "http":
        await _http(scope, receive, send)
    elif stype == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                Settings.reload()
                router()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _http(scope: dict, receive, send) -> None:
    req = Request(scope, receive, send)
    handler, known = router().match(req.method, req.path)
    if handler is None:
        await req.read_body()
        if known:
            await req.respond_json(
                405,
                {
                    "error": {
                        "message": f"Method {req.method} not allowed",
                        "type": "invalid_request_error",
                    }
                },
            )
        else:
            await req.respond_json(
                404,
                {
                    "error": {
                        "message": f"Unknown route {req.method} {req.path}",
                        "type": "invalid_request_error",
                    }
                },
            )
        return
    await req.read_body()
    try:
        await handler(req)
    except HTTPError as exc:
        if not req.started:
            await req.respond_json(
                exc.status,
                {"error": {"message": exc.message, "type": "invalid_request_error"}},
            )
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("handler error on %s %s", req.method, req.path)
        if not req.started:
            await req.respond_json(
                500,
                {
                    "error": {
                        "message": "simulator internal error",
                        "type": "server_error",
                    }
                },
            )
