"""One LLM request, end to end.

    auth -> model (aliases, endpoint, allowlist) -> rate limit -> hold
         -> upstream with failover -> answer or stream -> settle

Costs per request on the hot path: a cache read for the key, one Redis
round trip for the rate limit, one thread hop for the hold and one for the
settlement (each a single transaction). Streamed chunks never leave the
event loop: they are split into whole events and forwarded; only the events
billing needs are decoded, at the end.

Failover happens only before the client has received a byte: a non-streamed
answer is read whole inside the failover loop, and a stream's first chunk is
read there before the response starts.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass

import aiohttp
import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from accounts.selectors import KeyPrincipal
from billing.models import micros_to_credits
from catalog.selectors import ModelView, PriceView, RouteView
from gateway import convert
from gateway.auth import api_key_from_request
from gateway.errors import ApiError, WireFormat, error_insufficient_credits, error_invalid_key, error_missing_key
from gateway.http import upstream_session, upstream_timeout
from gateway.metering import Usage, prompt_chars, tokens_from_chars, usage_cost_micros, worst_case_micros
from gateway.models import UsageRecord
from gateway.ratelimit import rate_limit_headers, rate_limit_hit
from gateway.routing import route_failed, route_order, route_succeeded
from gateway.selectors import catalog_current, principal_authenticate
from gateway.services import InsufficientCredits, KeySpendLimitReached, Settlement, call_hold, call_settle
from gateway.sse import DONE, EventSplitter, is_done, sse_data
from gateway.upstreams import ADAPTERS, upstream_error_message
from gateway.wire import Inbound
from gateway.wire import anthropic_messages as anthropic_wire
from gateway.wire import gemini as gemini_wire
from gateway.wire import openai_chat as chat_wire
from gateway.wire import openai_responses as responses_wire

logger = logging.getLogger(__name__)
Outcome = UsageRecord.Outcome

_STREAM_ERRORS = {
    "openai_chat": chat_wire.stream_error,
    "openai_responses": responses_wire.stream_error,
    "anthropic_messages": anthropic_wire.stream_error,
}
_FAMILY_ENDPOINT = {
    "anthropic": "POST /v1/messages",
    "codex": "POST /v1/responses",
}
_FAILOVER_STATUSES = frozenset({401, 403, 408, 409, 425, 429})


def request_id_new() -> str:
    return "req_" + secrets.token_hex(12)


def error_response(error: ApiError, *, wire: WireFormat, request_id: str, headers: dict | None = None) -> HttpResponse:
    response = error.response(wire, request_id=request_id)
    response["request-id"] = request_id
    for name, value in (headers or {}).items():
        if name not in error.headers:
            response[name] = value
    return response


async def read_json_body(request: HttpRequest) -> dict:
    """The request's JSON object, refusing oversized bodies with 413."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.GATEWAY_MAX_BODY_BYTES:
        raise _too_large()
    # read() rather than .body: the gateway's own limit applies, not the web
    # forms' DATA_UPLOAD_MAX_MEMORY_SIZE.
    raw = request.read()
    if len(raw) > settings.GATEWAY_MAX_BODY_BYTES:
        raise _too_large()
    request.gateway_body_bytes = len(raw)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def _too_large() -> ApiError:
    limit_mb = settings.GATEWAY_MAX_BODY_BYTES / (1024 * 1024)
    return ApiError(413, f"Request body too large: the limit is {limit_mb:g} MB.", code="request_too_large")


async def authenticate(request: HttpRequest) -> KeyPrincipal:
    raw_key = api_key_from_request(request)
    if not raw_key:
        raise error_missing_key()
    principal = await principal_authenticate(raw_key=raw_key)
    if principal is None:
        raise error_invalid_key()
    return principal


def model_check(*, snapshot, inbound: Inbound, principal: KeyPrincipal) -> ModelView:
    """The model the request may use on this endpoint, or the reason not."""
    model = snapshot.resolve(inbound.model_id)
    if model is None or model.kind != "chat":
        available = sorted(m.slug for m in snapshot.for_endpoint(inbound.endpoint))
        raise ApiError(
            400,
            f"Unknown model '{inbound.model_id}'. See available_models, or GET /v1/models.",
            code="model_not_found",
            param="model",
            extra={"available_models": available},
        )
    if not model.serves(inbound.endpoint):
        where = _FAMILY_ENDPOINT.get(model.family, "POST /v1/chat/completions")
        raise ApiError(
            400,
            f"Model '{model.slug}' is not served on this endpoint; use {where}.",
            code="wrong_endpoint",
            param="model",
        )
    if not (principal.allows_model(model.slug) or principal.allows_model(inbound.model_id or "")):
        raise ApiError(403, f"This API key is not allowed to use model '{model.slug}'.", code="model_not_allowed")
    return model


@dataclass
class Attempt:
    route: RouteView
    adapter: object
    data: dict | None = None
    resp: aiohttp.ClientResponse | None = None
    first: bytes = b""


@dataclass
class _Failure:
    status: int
    message: str
    retry_after: str | None = None


class Call:
    """A request that passed the checks and holds credits."""

    def __init__(
        self,
        *,
        request_id: str,
        inbound: Inbound,
        principal: KeyPrincipal,
        model: ModelView,
        price: PriceView | None,
        headers: dict,
        started: float,
    ) -> None:
        self.request_id = request_id
        self.inbound = inbound
        self.principal = principal
        self.model = model
        self.price = price
        self.headers = headers
        self.started = started
        self.ttft_ms: int | None = None
        self.route: RouteView | None = None
        self.settled = False
        self._bodies: dict[str, dict] = {}

    # --- upstream, with failover ----------------------------------------------

    def _body_for(self, protocol: str) -> dict:
        if protocol not in self._bodies:
            self._bodies[protocol] = convert.request_convert(
                self.inbound.body, source=self.inbound.protocol, target=protocol
            )
        return self._bodies[protocol]

    def _usable(self, route: RouteView) -> bool:
        if route.protocol not in ADAPTERS:
            return False
        source = self.inbound.protocol
        return route.protocol == source or (source in convert.CONVERTIBLE and route.protocol in convert.CONVERTIBLE)

    async def attempt(self) -> Attempt:
        routes = [r for r in route_order(self.model.routes_for("standard")) if self._usable(r)]
        if not routes:
            raise ApiError(503, f"No upstream is available for model '{self.model.slug}'.", code="no_upstream")
        session = upstream_session()
        failure = _Failure(502, "no upstream answered")
        stream = self.inbound.stream
        for route in routes:
            adapter = ADAPTERS[route.protocol]
            url, headers, payload = adapter.request(
                route, self._body_for(route.protocol), stream=stream, client_headers=self.inbound.client_headers
            )
            resp = None
            self.route = route  # the record names the last route tried
            try:
                resp = await session.post(
                    url, data=payload, headers=headers, timeout=upstream_timeout(route.timeout_seconds)
                )
                if resp.status >= 400:
                    raw = await resp.read()
                    message = upstream_error_message(raw, resp.status)
                    resp.release()
                    if resp.status in _FAILOVER_STATUSES or resp.status >= 500:
                        route_failed(route)
                        failure = _failure_from_status(resp.status, message, resp.headers.get("Retry-After"))
                        logger.info("route %s answered %s; failing over", route.provider_slug, resp.status)
                        continue
                    # The request itself is wrong; another route would refuse it too.
                    raise ApiError(
                        resp.status, f"The upstream refused the request: {message}", code="upstream_rejected"
                    )
                # Not resp.content_type: that parses the header with the email package.
                is_sse = resp.headers.get("Content-Type", "").startswith("text/event-stream")
                if not stream:
                    raw = await resp.read()
                    resp.release()
                    data = adapter.aggregate(_split_all(raw)) if is_sse else orjson.loads(raw)
                    if not isinstance(data, dict):
                        raise ValueError("not a JSON object")
                    route_succeeded(route)
                    return Attempt(route=route, adapter=adapter, data=data)
                if not is_sse:
                    raise ValueError(f"expected an event stream, got {resp.headers.get('Content-Type')}")
                first = await resp.content.readany()
                if not first:
                    raise ValueError("the stream ended before its first event")
                route_succeeded(route)
                return Attempt(route=route, adapter=adapter, resp=resp, first=first)
            except ApiError:
                raise
            except TimeoutError:
                failure = _Failure(504, f"The upstream did not answer within {route.timeout_seconds} s.")
            except aiohttp.ClientError as exc:
                failure = _Failure(502, f"The upstream connection failed ({type(exc).__name__}).")
            except (ValueError, orjson.JSONDecodeError) as exc:
                failure = _Failure(502, f"The upstream sent a malformed answer ({exc}).")
            except asyncio.CancelledError:
                if resp is not None:
                    resp.close()
                raise
            if resp is not None:
                resp.close()
            route_failed(route)
            logger.info("route %s failed (%s); failing over", route.provider_slug, failure.message)
        raise ApiError(
            failure.status,
            f"Upstream failure for model '{self.model.slug}': {failure.message}",
            code="upstream_error" if failure.status != 429 else "upstream_rate_limited",
            headers={"Retry-After": failure.retry_after} if failure.retry_after else {},
        )

    # --- billing ----------------------------------------------------------------

    def _elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    async def settle(self, *, usage: Usage, outcome: str, status: int, error: str = "") -> int:
        """Charge the exact cost and write the record (once). Returns the cost."""
        if self.settled:
            return 0
        self.settled = True
        cost = usage_cost_micros(usage=usage, price=self.price)
        route = self.route
        settlement = Settlement(
            request_id=self.request_id,
            user_id=self.principal.user_id,
            key_id=self.principal.key_id,
            endpoint=self.inbound.endpoint,
            model_requested=self.inbound.model_id or "",
            model_served=self.model.slug,
            provider_id=route.provider_id if route else None,
            upstream_model=route.upstream_model if route else "",
            status_code=status,
            stream=self.inbound.stream,
            usage=usage,
            cost_micros=cost,
            rates=self.price.rates() if self.price else {},
            latency_ms=self._elapsed_ms(),
            ttft_ms=self.ttft_ms,
            outcome=outcome,
            error=error,
        )
        try:
            await asyncio.shield(sync_to_async(call_settle)(s=settlement))
        except Exception:
            # The hold stays and expires; the record is lost. Loud, because
            # a request then goes unbilled.
            logger.exception("settling %s failed", self.request_id)
        return cost

    def _estimate(self, *, output_chars: int) -> Usage:
        if output_chars <= 0:
            return Usage(estimated=True)
        return Usage(
            input_tokens=tokens_from_chars(prompt_chars(self.inbound.body)),
            output_tokens=tokens_from_chars(output_chars),
            estimated=True,
        )

    # --- answers ----------------------------------------------------------------

    def _response_headers(self) -> dict:
        headers = dict(self.headers)
        headers["X-Hypereal-Model"] = self.model.slug
        if self.route:
            headers["X-Hypereal-Provider"] = self.route.provider_slug
        return headers

    async def answer(self, attempt: Attempt) -> HttpResponse:
        """A whole (non-streamed) answer: bill it, then send it."""
        data = attempt.data
        source, target = attempt.route.protocol, self.inbound.protocol
        usage = attempt.adapter.usage_from_body(data)
        client_body = convert.response_convert(
            data, source=source, target=target, model=self.model.slug, request=self.inbound.body
        )
        if usage is None:
            chat = convert.response_convert(
                data, source=source, target="openai_chat", model=self.model.slug, request={}
            )
            usage = self._estimate(output_chars=_chat_answer_chars(chat))
            if target == "openai_chat":
                client_body["usage"] = _chat_usage(usage)
        if source == target and "model" in client_body:
            client_body["model"] = self.model.slug
        cost = await self.settle(usage=usage, outcome=Outcome.DONE, status=200)
        if self.inbound.simple_chat:
            client_body["creditsUsed"] = _credits_number(cost)
        response = HttpResponse(orjson.dumps(client_body), content_type="application/json")
        for name, value in self._response_headers().items():
            response[name] = value
        return response

    def stream_response(self, attempt: Attempt) -> StreamingHttpResponse:
        content_type = "application/json" if self.inbound.gemini_array else "text/event-stream; charset=utf-8"
        response = StreamingHttpResponse(self._stream(attempt), content_type=content_type)
        for name, value in self._response_headers().items():
            response[name] = value
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response

    def _stream_error(self, error: ApiError) -> bytes:
        if self.inbound.protocol == "gemini":
            return gemini_wire.stream_error(error, array=self.inbound.gemini_array)
        return _STREAM_ERRORS[self.inbound.protocol](error)

    async def _stream(self, attempt: Attempt):
        resp = attempt.resp
        adapter = attempt.adapter
        source, target = attempt.route.protocol, self.inbound.protocol
        native = source == target
        translator = (
            gemini_wire.ArrayFramer()
            if native and self.inbound.gemini_array
            else None
            if native
            else convert.StreamTranslator(
                source=source,
                target=target,
                model=self.model.slug,
                request=self.inbound.body,
                gemini_array=self.inbound.gemini_array,
            )
        )
        splitter = EventSplitter()
        events: list[bytes] = []
        ping = target == "anthropic_messages"
        outcome: str | None = None
        status = 200
        error_text = ""
        clean_end = False
        chunk: bytes | None = attempt.first
        try:
            while True:
                if chunk is None:
                    yield anthropic_wire.PING
                elif not chunk:
                    break
                else:
                    raw_events = splitter.feed(chunk)
                    if raw_events:
                        events.extend(raw_events)
                        out = self._forward(raw_events, events, adapter, translator)
                        if out:
                            if self.ttft_ms is None:
                                self.ttft_ms = self._elapsed_ms()
                            yield out
                chunk = await _read(resp, ping)
            rest = splitter.rest()
            if rest.strip():
                events.append(rest)
                out = self._forward([rest], events, adapter, translator)
                if out:
                    yield out
            tail = self._tail(events, adapter, translator)
            if tail:
                yield tail
            clean_end = True
            if any(adapter.is_error_event(e) for e in events[-3:]):
                outcome, status, error_text = (
                    Outcome.UPSTREAM_ERROR,
                    502,
                    "the upstream reported an error in the stream",
                )
            else:
                outcome = Outcome.DONE
        except convert.UpstreamStreamError as exc:
            outcome, status, error_text = Outcome.UPSTREAM_ERROR, 502, str(exc)
            yield self._stream_error(ApiError(502, f"Upstream error: {exc}", code="upstream_error"))
        except TimeoutError:
            outcome, status, error_text = Outcome.TIMEOUT, 504, "the upstream went silent"
            yield self._stream_error(ApiError(504, "The upstream stopped sending.", code="upstream_timeout"))
        except aiohttp.ClientError as exc:
            outcome, status, error_text = Outcome.UPSTREAM_ERROR, 502, f"stream broken: {type(exc).__name__}"
            yield self._stream_error(ApiError(502, "The upstream connection broke mid-stream.", code="upstream_error"))
        except Exception as exc:
            # A bug of ours, not the upstream's: the client still gets a
            # proper end and pays for what it received.
            logger.exception("stream %s failed", self.request_id)
            outcome, status, error_text = Outcome.UPSTREAM_ERROR, 502, f"gateway error: {type(exc).__name__}"
            yield self._stream_error(ApiError(502, "The gateway failed mid-stream.", code="gateway_error"))
        except (asyncio.CancelledError, GeneratorExit):
            if any(adapter.is_final_event(e) for e in events[-3:]):
                # The client had the whole answer and hung up before the end.
                outcome = Outcome.DONE
            else:
                outcome, status, error_text = Outcome.CLIENT_GONE, 499, "the client went away"
            raise
        finally:
            if outcome is None:
                outcome, status, error_text = Outcome.CLIENT_GONE, 499, "the client went away"
            if clean_end:
                resp.release()
            else:
                resp.close()
            await self.settle(
                usage=self._stream_usage(events, adapter), outcome=outcome, status=status, error=error_text
            )

    def _stream_usage(self, events: list[bytes], adapter) -> Usage:
        usage = adapter.usage_from_events(events)
        if usage is not None:
            return usage
        estimate = adapter.estimate_usage(events, prompt_chars(self.inbound.body))
        return estimate if estimate.output_tokens > 0 else Usage(estimated=True)

    def _forward(self, raw_events: list[bytes], events: list[bytes], adapter, translator) -> bytes:
        if translator is not None:
            return b"".join(translator.feed(raw) for raw in raw_events)
        if self.inbound.protocol != "openai_chat":
            return b"".join(raw_events)
        # Chat Completions passthrough: usage always in the final chunk (and,
        # on /v1/chat, creditsUsed), inserted before [DONE] when missing.
        if not is_done(raw_events[-1]):
            return b"".join(raw_events)
        return b"".join(raw_events[:-1]) + self._chat_final(events[:-1], adapter) + DONE

    def _chat_final(self, events: list[bytes], adapter) -> bytes:
        out = b""
        usage = adapter.usage_from_events(events)
        if usage is None:
            usage = self._stream_usage(events, adapter)
            out += sse_data(_usage_chunk(self.model.slug, _chat_usage(usage)))
        if self.inbound.simple_chat:
            cost = usage_cost_micros(usage=usage, price=self.price)
            out += sse_data({**_usage_chunk(self.model.slug, None), "creditsUsed": _credits_number(cost)})
        return out

    def _tail(self, events: list[bytes], adapter, translator) -> bytes:
        if isinstance(translator, gemini_wire.ArrayFramer):
            return translator.finish()
        if translator is not None:
            fallback = None
            if adapter.usage_from_events(events) is None:
                fallback = _chat_usage(self._stream_usage(events, adapter))
            return translator.finish(fallback_usage=fallback)
        if self.inbound.protocol == "openai_chat" and not any(is_done(e) for e in events[-2:]):
            # The upstream ended without [DONE]: finish the stream properly.
            return self._chat_final(events, adapter) + DONE
        return b""


def _failure_from_status(status: int, message: str, retry_after: str | None) -> _Failure:
    if status == 429:
        return _Failure(429, f"rate limited upstream: {message}", retry_after)
    if status in (503, 504):
        return _Failure(status, message)
    return _Failure(502, f"HTTP {status}: {message}")


def _split_all(raw: bytes) -> list[bytes]:
    splitter = EventSplitter()
    events = splitter.feed(raw)
    rest = splitter.rest()
    return [*events, rest] if rest.strip() else events


async def _read(resp: aiohttp.ClientResponse, ping: bool) -> bytes | None:
    """The next chunk from upstream; None when a ping is due instead."""
    if not ping:
        return await resp.content.readany()
    timer = asyncio.timeout(settings.GATEWAY_SSE_PING_SECONDS)
    try:
        async with timer:
            return await resp.content.readany()
    except TimeoutError:
        if timer.expired():
            return None
        raise


def _chat_usage(usage: Usage) -> dict:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _usage_chunk(model: str, usage: dict | None) -> dict:
    return {
        "id": "chatcmpl-usage",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [],
        "usage": usage,
    }


def _chat_answer_chars(chat: dict) -> int:
    chars = 0
    for choice in chat.get("choices") or ():
        message = choice.get("message") or {}
        chars += len(convert.chat_text(message.get("content")))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            chars += len(function.get("name") or "") + len(function.get("arguments") or "")
    return chars


def _credits_number(micros: int) -> int | float:
    value = micros_to_credits(micros)
    return int(value) if value == value.to_integral_value() else float(value)


async def call_run(request: HttpRequest, *, request_id: str, started: float, principal: KeyPrincipal, inbound: Inbound):
    """Everything after authentication and parsing: model, limits, hold,
    upstream and settlement. Errors come back in the client's shape."""
    wire = inbound.wire
    headers = {"X-Request-Id": request_id, "request-id": request_id}
    try:
        snapshot = await catalog_current()
        model = model_check(snapshot=snapshot, inbound=inbound, principal=principal)
        limit = await rate_limit_hit(principal=principal)
        headers.update(rate_limit_headers(limit))
        if not limit.allowed:
            raise ApiError(
                429,
                f"Rate limit reached: {limit.limit} requests per hour. Retry after {limit.retry_after} s.",
                code="rate_limit_exceeded",
                headers={"x-should-retry": "false"} if limit.retry_after > 60 else {},
            )
        price = model.price_at()
        hold = worst_case_micros(
            model=model,
            price=price,
            body_bytes=getattr(request, "gateway_body_bytes", 0) or len(orjson.dumps(inbound.body)),
            max_output_tokens=inbound.max_output_tokens,
            choices=inbound.choices,
        )
        try:
            await sync_to_async(call_hold)(principal=principal, reference=request_id, amount_micros=hold)
        except InsufficientCredits as exc:
            raise error_insufficient_credits(
                required_micros=exc.required_micros, available_micros=exc.available_micros, wire=wire
            ) from None
        except KeySpendLimitReached as exc:
            raise ApiError(
                402,
                f"This API key has reached its spend limit of {micros_to_credits(exc.limit_micros)} credits per "
                f"{exc.period}.",
                code="key_spend_limit_reached",
                extra={"limit": _credits_number(exc.limit_micros), "spent": _credits_number(exc.spent_micros)},
            ) from None
    except ApiError as error:
        return error_response(error, wire=wire, request_id=request_id, headers=headers)

    call = Call(
        request_id=request_id,
        inbound=inbound,
        principal=principal,
        model=model,
        price=price,
        headers=headers,
        started=started,
    )
    try:
        attempt = await call.attempt()
    except ApiError as error:
        outcome = Outcome.TIMEOUT if error.status == 504 else Outcome.UPSTREAM_ERROR
        await call.settle(usage=Usage(), outcome=outcome, status=error.status, error=error.message)
        return error_response(error, wire=wire, request_id=request_id, headers=call._response_headers())
    except asyncio.CancelledError:
        await call.settle(usage=Usage(), outcome=Outcome.CLIENT_GONE, status=499, error="the client went away")
        raise
    if attempt.resp is not None:
        return call.stream_response(attempt)
    try:
        return await call.answer(attempt)
    except asyncio.CancelledError:
        await call.settle(usage=Usage(), outcome=Outcome.CLIENT_GONE, status=499, error="the client went away")
        raise
    except Exception as exc:
        # The answer could not be turned into the client's format: the
        # client gets nothing, so it pays nothing.
        logger.exception("answer %s failed", request_id)
        await call.settle(usage=Usage(), outcome=Outcome.UPSTREAM_ERROR, status=502, error=f"gateway error: {exc}")
        error = ApiError(502, "The upstream answer could not be converted.", code="gateway_error")
        return error_response(error, wire=wire, request_id=request_id, headers=call._response_headers())
