"""Thin async views: pick the wire format, hand over to the lifecycle."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from catalog.models import Endpoint
from gateway.errors import ApiError, WireFormat
from gateway.http import upstream_session, upstream_timeout
from gateway.lifecycle import authenticate, call_run, error_response, model_check, read_json_body, request_id_new
from gateway.metering import prompt_chars, tokens_from_chars
from gateway.routing import route_failed, route_order, route_succeeded
from gateway.selectors import catalog_current, model_entry, model_listing
from gateway.upstreams import anthropic_messages as anthropic_upstream
from gateway.upstreams import gemini as gemini_upstream
from gateway.wire import Inbound
from gateway.wire import anthropic_messages as anthropic_wire
from gateway.wire import gemini as gemini_wire
from gateway.wire import openai_chat as chat_wire
from gateway.wire import openai_responses as responses_wire
from gateway.wire import simple_chat as simple_chat_wire


def _json(payload, *, status: int = 200, request_id: str | None = None) -> HttpResponse:
    response = HttpResponse(orjson.dumps(payload), status=status, content_type="application/json")
    response["X-Request-Id"] = response["request-id"] = request_id or request_id_new()
    return response


def _method_not_allowed(request: HttpRequest, wire: WireFormat, allowed: str) -> HttpResponse:
    error = ApiError(405, f"Method {request.method} is not allowed here; use {allowed}.", code="method_not_allowed")
    response = error_response(error, wire=wire, request_id=request_id_new())
    response["Allow"] = allowed
    return response


async def _run(request: HttpRequest, *, wire: WireFormat, parse: Callable[[dict], Inbound]) -> HttpResponse:
    request_id = request_id_new()
    started = time.monotonic()
    try:
        principal = await authenticate(request)
        inbound = parse(await read_json_body(request))
    except ApiError as error:
        return error_response(error, wire=wire, request_id=request_id)
    return await call_run(request, request_id=request_id, started=started, principal=principal, inbound=inbound)


async def _listing(endpoint: str | None) -> HttpResponse:
    return _json(model_listing(snapshot=await catalog_current(), endpoint=endpoint))


# --- OpenAI Chat Completions, Responses, models -------------------------------


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return await _listing(Endpoint.CHAT_COMPLETIONS)
    if request.method != "POST":
        return _method_not_allowed(request, WireFormat.OPENAI, "POST, GET")
    return await _run(request, wire=WireFormat.OPENAI, parse=chat_wire.inbound)


@csrf_exempt
async def responses(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return await _listing(Endpoint.RESPONSES)
    if request.method != "POST":
        return _method_not_allowed(request, WireFormat.OPENAI, "POST, GET")
    return await _run(request, wire=WireFormat.OPENAI, parse=responses_wire.inbound)


@csrf_exempt
async def codex_responses(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return await _listing(Endpoint.CODEX_RESPONSES)
    if request.method != "POST":
        return _method_not_allowed(request, WireFormat.OPENAI, "POST, GET")
    return await _run(
        request,
        wire=WireFormat.OPENAI,
        parse=lambda body: responses_wire.inbound(body, endpoint=Endpoint.CODEX_RESPONSES),
    )


def _anthropic_model(entry: dict) -> dict:
    return {"type": "model", "id": entry["id"], "display_name": entry["name"], "created_at": "2025-01-01T00:00:00Z"}


@csrf_exempt
async def models(request: HttpRequest) -> HttpResponse:
    """GET /v1/models: OpenAI's list shape, or Anthropic's when an Anthropic
    client asks (it sends anthropic-version)."""
    if request.method != "GET":
        return _method_not_allowed(request, WireFormat.OPENAI, "GET")
    snapshot = await catalog_current()
    if request.headers.get("anthropic-version"):
        data = [_anthropic_model(model_entry(m)) for m in snapshot.for_endpoint(Endpoint.MESSAGES)]
        return _json(
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )
    return _json(model_listing(snapshot=snapshot))


@csrf_exempt
async def model_detail(request: HttpRequest, model_id: str) -> HttpResponse:
    wire = WireFormat.ANTHROPIC if request.headers.get("anthropic-version") else WireFormat.OPENAI
    if request.method != "GET":
        return _method_not_allowed(request, wire, "GET")
    model = (await catalog_current()).resolve(model_id)
    if model is None:
        error = ApiError(404, f"The model '{model_id}' does not exist.", code="model_not_found", param="model")
        return error_response(error, wire=wire, request_id=request_id_new())
    entry = model_entry(model)
    return _json(_anthropic_model(entry) if wire == WireFormat.ANTHROPIC else entry)


# --- Anthropic Messages -------------------------------------------------------


@csrf_exempt
async def messages(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _method_not_allowed(request, WireFormat.ANTHROPIC, "POST")
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await _run(
        request, wire=WireFormat.ANTHROPIC, parse=lambda body: anthropic_wire.inbound(body, headers=headers)
    )


async def _count_upstream(*, model, build, read) -> dict | None:
    """Ask the model's native routes to count; None when none could."""
    session = upstream_session()
    for route in route_order(model.routes_for("standard")):
        request = build(route)
        if request is None:
            continue
        url, headers, payload = request
        try:
            async with session.post(url, data=payload, headers=headers, timeout=upstream_timeout(30)) as resp:
                if resp.status == 200:
                    route_succeeded(route)
                    return read(orjson.loads(await resp.read()))
                if resp.status < 500 and resp.status != 429:
                    return None
        except (TimeoutError, OSError, ValueError, aiohttp.ClientError):
            pass
        route_failed(route)
    return None


async def _count(request: HttpRequest, *, wire: WireFormat, inbound: Inbound, principal, build, read, estimate):
    request_id = request_id_new()
    try:
        model = model_check(snapshot=await catalog_current(), inbound=inbound, principal=principal)
    except ApiError as error:
        return error_response(error, wire=wire, request_id=request_id)
    counted = await _count_upstream(model=model, build=build, read=read)
    return _json(counted if counted is not None else estimate(inbound.body), request_id=request_id)


@csrf_exempt
async def messages_count_tokens(request: HttpRequest) -> HttpResponse:
    """Free, not rate-limited (Claude Code calls it often): counted by an
    Anthropic route, or estimated when none answers."""
    wire = WireFormat.ANTHROPIC
    if request.method != "POST":
        return _method_not_allowed(request, wire, "POST")
    try:
        principal = await authenticate(request)
        body = await read_json_body(request)
        model_id = body.get("model")
        if not isinstance(model_id, str) or not model_id:
            raise ApiError(400, "model: Field required", code="missing_model")
    except ApiError as error:
        return error_response(error, wire=wire, request_id=request_id_new())
    headers = {k.lower(): request.headers[k] for k in anthropic_wire.FORWARDED_HEADERS if request.headers.get(k)}
    inbound = Inbound(
        endpoint=Endpoint.MESSAGES,
        protocol=anthropic_wire.PROTOCOL,
        wire=wire,
        body=body,
        model_id=model_id,
        stream=False,
    )

    def build(route):
        if route.protocol != "anthropic_messages":
            return None
        return anthropic_upstream.count_tokens_request(route, body, client_headers=headers)

    return await _count(
        request,
        wire=wire,
        inbound=inbound,
        principal=principal,
        build=build,
        read=lambda data: {"input_tokens": int(data.get("input_tokens") or 0)},
        estimate=lambda b: {"input_tokens": tokens_from_chars(prompt_chars(b))},
    )


# --- Gemini -------------------------------------------------------------------


@csrf_exempt
async def gemini(request: HttpRequest) -> HttpResponse:
    """POST /v1/gemini: Gemini-native or OpenAI-shaped body on one endpoint."""
    if request.method != "POST":
        return _method_not_allowed(request, WireFormat.GEMINI, "POST")
    request_id = request_id_new()
    started = time.monotonic()
    wire = WireFormat.GEMINI
    try:
        body = await read_json_body(request)
        wire = WireFormat.GEMINI if gemini_wire.is_native(body) else WireFormat.OPENAI
        principal = await authenticate(request)
        inbound = gemini_wire.inbound(body, stream=True if request.GET.get("alt") == "sse" else None)
    except ApiError as error:
        return error_response(error, wire=wire, request_id=request_id)
    return await call_run(request, request_id=request_id, started=started, principal=principal, inbound=inbound)


@csrf_exempt
async def gemini_model_action(request: HttpRequest, version: str, target: str) -> HttpResponse:
    """The Google SDK's path form: .../gemini/v1beta/models/{model}:{action}."""
    wire = WireFormat.GEMINI
    if ":" not in target:
        if request.method != "GET":
            return _method_not_allowed(request, wire, "GET")
        return await gemini_model_info(request, version, target)
    model_id, action = target.rsplit(":", 1)
    if request.method != "POST":
        return _method_not_allowed(request, wire, "POST")
    if action not in ("generateContent", "streamGenerateContent", "countTokens"):
        error = ApiError(404, f"Method not found: {action}.", code="not_found")
        return error_response(error, wire=wire, request_id=request_id_new())
    if action == "countTokens":
        return await _gemini_count(request, model_id)
    stream = action == "streamGenerateContent"
    array = stream and request.GET.get("alt") != "sse"
    return await _run(
        request,
        wire=wire,
        parse=lambda body: gemini_wire.inbound(
            {k: v for k, v in body.items() if k != "messages"}, model_id=model_id, stream=stream, array=array
        ),
    )


async def _gemini_count(request: HttpRequest, model_id: str) -> HttpResponse:
    wire = WireFormat.GEMINI
    try:
        principal = await authenticate(request)
        body = await read_json_body(request)
    except ApiError as error:
        return error_response(error, wire=wire, request_id=request_id_new())
    inner = body.get("generateContentRequest") if isinstance(body.get("generateContentRequest"), dict) else body
    inbound = Inbound(
        endpoint=Endpoint.GEMINI,
        protocol="gemini",
        wire=wire,
        body=inner,
        model_id=model_id.removeprefix("models/"),
        stream=False,
    )

    def build(route):
        return gemini_upstream.count_tokens_request(route, body) if route.protocol == "gemini" else None

    return await _count(
        request,
        wire=wire,
        inbound=inbound,
        principal=principal,
        build=build,
        read=lambda data: data,
        estimate=lambda b: {"totalTokens": tokens_from_chars(prompt_chars(b))},
    )


def _gemini_model(model) -> dict:
    return {
        "name": f"models/{model.slug}",
        "baseModelId": model.slug,
        "version": "001",
        "displayName": model.display_name,
        "inputTokenLimit": model.context_window or 0,
        "outputTokenLimit": model.max_output_tokens or 0,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    }


@csrf_exempt
async def gemini_models(request: HttpRequest, version: str) -> HttpResponse:
    if request.method != "GET":
        return _method_not_allowed(request, WireFormat.GEMINI, "GET")
    snapshot = await catalog_current()
    return _json({"models": [_gemini_model(m) for m in snapshot.for_endpoint(Endpoint.GEMINI)]})


async def gemini_model_info(request: HttpRequest, version: str, model_id: str) -> HttpResponse:
    model = (await catalog_current()).resolve(model_id.removeprefix("models/"))
    if model is None or not model.serves(Endpoint.GEMINI):
        error = ApiError(404, f"models/{model_id} is not found.", code="not_found")
        return error_response(error, wire=WireFormat.GEMINI, request_id=request_id_new())
    return _json(_gemini_model(model))


# --- the simple chat endpoint, and everything else ----------------------------


@csrf_exempt
async def chat(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _method_not_allowed(request, WireFormat.MEDIA, "POST")
    return await _run(request, wire=WireFormat.MEDIA, parse=simple_chat_wire.inbound)


def _wire_for_path(path: str) -> WireFormat:
    if "/messages" in path:
        return WireFormat.ANTHROPIC
    if "/gemini" in path:
        return WireFormat.GEMINI
    return WireFormat.OPENAI


@csrf_exempt
async def api_not_found(request: HttpRequest, unknown: str = "") -> HttpResponse:
    """Unknown API paths answer in JSON (an SDK raises its NotFoundError)."""
    error = ApiError(404, f"No such API path: {request.method} {request.path}.", code="not_found")
    return error_response(error, wire=_wire_for_path(request.path), request_id=request_id_new())
