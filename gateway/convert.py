"""Conversions between wire formats, all in one place.

When a client's wire format has no native upstream for the route serving
it (a Gemini model on /chat/completions routed to a native Gemini provider,
a Responses request for a model served over Chat Completions, a native
Gemini request served by an OpenAI-compatible route), the request, the
answer and the stream are converted through one hub format, OpenAI Chat
Completions: every other format converts to and from it, so n formats need
2(n-1) converters rather than n(n-1). Native pairs never come here: they
pass through untouched.

Only what has a meaning on both sides is carried over (text, images, tool
calls and results, JSON output, the common sampling knobs, reasoning effort
and usage); provider-only features of one side are dropped, not faked.
"""

from __future__ import annotations

import secrets
import time

import orjson

from gateway.sse import DONE, event_json, is_done, sse_data, sse_event

CHAT = "openai_chat"
RESPONSES = "openai_responses"
GEMINI = "gemini"
CONVERTIBLE = frozenset({CHAT, RESPONSES, GEMINI})


class UpstreamStreamError(Exception):
    """The upstream reported an error inside a stream."""


def _get(d, camel: str, snake: str | None = None, default=None):
    if not isinstance(d, dict):
        return default
    if camel in d:
        return d[camel]
    if snake and snake in d:
        return d[snake]
    return default


def _dumps(value) -> str:
    return orjson.dumps(value).decode()


def _loads_object(text) -> dict:
    if isinstance(text, dict):
        return text
    try:
        value = orjson.loads(text or "{}")
    except (orjson.JSONDecodeError, TypeError):
        return {"value": text}
    return value if isinstance(value, dict) else {"value": value}


def chat_text(content) -> str:
    """The text of a Chat Completions content (a string or parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    out = []
    for part in content if isinstance(content, list) else ():
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            out.append(part["text"])
        elif isinstance(part, dict) and isinstance(part.get("refusal"), str):
            out.append(part["refusal"])
    return "".join(out)


def _copy(src: dict, dst: dict, mapping: dict[str, str]) -> None:
    for a, b in mapping.items():
        if src.get(a) is not None:
            dst[b] = src[a]


def _data_url(url: str) -> tuple[str, str] | None:
    """(mime type, base64 data) of a data: URL."""
    if not url.startswith("data:") or ";base64," not in url:
        return None
    head, data = url[5:].split(";base64,", 1)
    return head or "application/octet-stream", data


_MIME_BY_EXT = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


# =============================================================================
# Requests
# =============================================================================


def _responses_parts_to_chat(content, role: str):
    if isinstance(content, str) or content is None:
        return content or ""
    if role in ("assistant", "system", "developer"):
        return chat_text(content)
    parts = []
    for part in content if isinstance(content, list) else ():
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image" and part.get("image_url"):
            parts.append(
                {"type": "image_url", "image_url": {"url": part["image_url"], "detail": part.get("detail", "auto")}}
            )
        elif kind == "input_file":
            file = {k: part[k] for k in ("file_data", "file_id", "filename") if part.get(k)}
            parts.append({"type": "file", "file": file})
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            parts.append({"type": "input_audio", "input_audio": part["input_audio"]})
    return parts


def responses_request_to_chat(body: dict) -> dict:
    messages: list[dict] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role", "user")
            role = "system" if role == "developer" else role
            messages.append({"role": role, "content": _responses_parts_to_chat(item.get("content"), role)})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id") or item.get("id"),
                "type": "function",
                "function": {"name": item.get("name", ""), "arguments": item.get("arguments") or "{}"},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id"),
                    "content": output if isinstance(output, str) else chat_text(output) or _dumps(output),
                }
            )
        # Reasoning items and hosted-tool items have no Chat Completions form.
    chat: dict = {"model": body.get("model"), "messages": messages}
    _copy(body, chat, {"temperature": "temperature", "top_p": "top_p", "user": "user", "stream": "stream"})
    _copy(body, chat, {"parallel_tool_calls": "parallel_tool_calls", "max_output_tokens": "max_completion_tokens"})
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        chat["reasoning_effort"] = reasoning["effort"]
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        schema.setdefault("name", "response")
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    tools = [
        {"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters", "strict") if k in t}}
        for t in body.get("tools") or ()
        if isinstance(t, dict) and t.get("type") == "function"
    ]
    if tools:
        chat["tools"] = tools
        choice = body.get("tool_choice")
        if isinstance(choice, str):
            chat["tool_choice"] = choice
        elif isinstance(choice, dict) and choice.get("type") == "function":
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    return chat


def _chat_parts_to_responses(content):
    if isinstance(content, str) or content is None:
        return content or ""
    parts = []
    for part in content if isinstance(content, list) else ():
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "input_text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            detail = image.get("detail", "auto") if isinstance(image, dict) else "auto"
            parts.append({"type": "input_image", "image_url": url, "detail": detail or "auto"})
        elif kind == "file" and isinstance(part.get("file"), dict):
            parts.append({"type": "input_file", **part["file"]})
        elif kind == "input_audio":
            parts.append({"type": "input_audio", "input_audio": part.get("input_audio")})
    return parts


def chat_request_to_responses(chat: dict) -> dict:
    items: list[dict] = []
    for message in chat.get("messages") or ():
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            items.append({"role": role, "content": chat_text(content)})
        elif role == "user":
            items.append({"role": "user", "content": _chat_parts_to_responses(content)})
        elif role == "assistant":
            text = chat_text(content)
            if text:
                items.append({"role": "assistant", "content": text})
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.get("id"),
                        "name": function.get("name", ""),
                        "arguments": function.get("arguments") or "{}",
                    }
                )
        elif role in ("tool", "function"):
            items.append(
                {"type": "function_call_output", "call_id": message.get("tool_call_id"), "output": chat_text(content)}
            )
    body: dict = {"model": chat.get("model"), "input": items}
    _copy(chat, body, {"temperature": "temperature", "top_p": "top_p", "user": "user", "stream": "stream"})
    _copy(chat, body, {"parallel_tool_calls": "parallel_tool_calls"})
    limit = chat.get("max_completion_tokens") or chat.get("max_tokens")
    if limit:
        body["max_output_tokens"] = limit
    if chat.get("reasoning_effort"):
        body["reasoning"] = {"effort": chat["reasoning_effort"]}
    fmt = chat.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema") or {}
        body["text"] = {"format": {"type": "json_schema", "name": schema.get("name", "response"), **schema}}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        body["text"] = {"format": {"type": "json_object"}}
    tools = []
    for tool in chat.get("tools") or ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type", "function") == "function" and isinstance(function, dict):
            tools.append({"type": "function", **function})
    if tools:
        body["tools"] = tools
        choice = chat.get("tool_choice")
        if isinstance(choice, str):
            body["tool_choice"] = choice
        elif isinstance(choice, dict):
            body["tool_choice"] = {"type": "function", "name": (choice.get("function") or {}).get("name")}
    return body


def schema_from_gemini(schema):
    """Gemini's OpenAPI-style schema (upper-case types) as JSON Schema."""
    if isinstance(schema, list):
        return [schema_from_gemini(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "propertyOrdering":
            continue
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: schema_from_gemini(s) for name, s in value.items()}
        elif key in ("items", "anyOf", "any_of"):
            out["anyOf" if key == "any_of" else key] = schema_from_gemini(value)
        else:
            out[key] = value
    return out


def _gemini_parts_to_chat(parts) -> list[dict]:
    out = []
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict) or part.get("thought"):
            continue
        if isinstance(part.get("text"), str):
            out.append({"type": "text", "text": part["text"]})
        inline = _get(part, "inlineData", "inline_data")
        if isinstance(inline, dict):
            mime = _get(inline, "mimeType", "mime_type", "application/octet-stream")
            url = f"data:{mime};base64,{inline.get('data', '')}"
            if mime.startswith("image/"):
                out.append({"type": "image_url", "image_url": {"url": url}})
            elif mime.startswith("audio/"):
                out.append({"type": "input_audio", "input_audio": {"data": inline.get("data", ""), "format": mime[6:]}})
            else:
                out.append({"type": "file", "file": {"file_data": url}})
        file = _get(part, "fileData", "file_data")
        if isinstance(file, dict) and _get(file, "fileUri", "file_uri"):
            out.append({"type": "image_url", "image_url": {"url": _get(file, "fileUri", "file_uri")}})
    return out


def gemini_request_to_chat(body: dict) -> dict:
    messages: list[dict] = []
    system = _get(body, "systemInstruction", "system_instruction")
    if system:
        text = system if isinstance(system, str) else chat_text(_gemini_parts_to_chat(system.get("parts")))
        messages.append({"role": "system", "content": text})
    pending: dict[str, list[str]] = {}  # function name -> ids of calls without a response yet
    contents = body.get("contents")
    contents = [contents] if isinstance(contents, dict) else contents
    for content in contents if isinstance(contents, list) else ():
        if not isinstance(content, dict):
            continue
        parts = content.get("parts") or []
        if content.get("role") == "model":
            calls = []
            for part in parts:
                call = _get(part, "functionCall", "function_call")
                if isinstance(call, dict):
                    call_id = call.get("id") or f"call_{len(messages)}_{len(calls)}"
                    pending.setdefault(call.get("name", ""), []).append(call_id)
                    calls.append(
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": call.get("name", ""), "arguments": _dumps(call.get("args") or {})},
                        }
                    )
            message: dict = {"role": "assistant", "content": chat_text(_gemini_parts_to_chat(parts)) or None}
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
            continue
        for part in parts:
            result = _get(part, "functionResponse", "function_response") if isinstance(part, dict) else None
            if isinstance(result, dict):
                name = result.get("name", "")
                ids = pending.get(name) or []
                call_id = result.get("id") or (ids.pop(0) if ids else f"call_{name}")
                messages.append(
                    {"role": "tool", "tool_call_id": call_id, "content": _dumps(result.get("response", {}))}
                )
        chat_parts = _gemini_parts_to_chat(parts)
        if chat_parts:
            plain = all(p["type"] == "text" for p in chat_parts)
            messages.append({"role": "user", "content": chat_text(chat_parts) if plain else chat_parts})
    chat: dict = {"model": body.get("model"), "messages": messages}
    config = _get(body, "generationConfig", "generation_config") or {}
    for camel, snake, key in (
        ("temperature", "temperature", "temperature"),
        ("topP", "top_p", "top_p"),
        ("maxOutputTokens", "max_output_tokens", "max_completion_tokens"),
        ("candidateCount", "candidate_count", "n"),
        ("presencePenalty", "presence_penalty", "presence_penalty"),
        ("frequencyPenalty", "frequency_penalty", "frequency_penalty"),
        ("seed", "seed", "seed"),
        ("stopSequences", "stop_sequences", "stop"),
    ):
        value = _get(config, camel, snake)
        if value is not None:
            chat[key] = value
    schema = _get(config, "responseJsonSchema", "response_json_schema") or _get(
        config, "responseSchema", "response_schema"
    )
    if schema:
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema_from_gemini(schema)},
        }
    elif _get(config, "responseMimeType", "response_mime_type") == "application/json":
        chat["response_format"] = {"type": "json_object"}
    thinking = _get(config, "thinkingConfig", "thinking_config") or {}
    budget = _get(thinking, "thinkingBudget", "thinking_budget")
    level = _get(thinking, "thinkingLevel", "thinking_level")
    if isinstance(level, str) and level:
        chat["reasoning_effort"] = level.lower()
    elif isinstance(budget, int) and budget > 0:
        chat["reasoning_effort"] = "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
    tools = []
    for tool in body.get("tools") or ():
        for decl in _get(tool, "functionDeclarations", "function_declarations") or ():
            params = _get(decl, "parametersJsonSchema", "parameters_json_schema") or schema_from_gemini(
                decl.get("parameters")
            )
            function = {"name": decl.get("name", ""), "parameters": params or {"type": "object", "properties": {}}}
            if decl.get("description"):
                function["description"] = decl["description"]
            tools.append({"type": "function", "function": function})
    if tools:
        chat["tools"] = tools
        calling = _get(
            _get(body, "toolConfig", "tool_config") or {}, "functionCallingConfig", "function_calling_config"
        )
        mode = str(_get(calling or {}, "mode", default="AUTO")).upper()
        allowed = _get(calling or {}, "allowedFunctionNames", "allowed_function_names") or []
        if mode == "NONE":
            chat["tool_choice"] = "none"
        elif mode == "ANY":
            chat["tool_choice"] = (
                {"type": "function", "function": {"name": allowed[0]}} if len(allowed) == 1 else "required"
            )
    return chat


def _chat_parts_to_gemini(content) -> list[dict]:
    if isinstance(content, str) or content is None:
        return [{"text": content or ""}]
    parts = []
    for part in content if isinstance(content, list) else ():
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url", "") if isinstance(image, dict) else str(image or "")
            data = _data_url(url)
            if data:
                parts.append({"inlineData": {"mimeType": data[0], "data": data[1]}})
            elif url:
                mime = _MIME_BY_EXT.get(url.rsplit(".", 1)[-1].lower().split("?")[0], "image/jpeg")
                parts.append({"fileData": {"mimeType": mime, "fileUri": url}})
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio = part["input_audio"]
            parts.append(
                {"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}", "data": audio.get("data", "")}}
            )
        elif kind == "file" and isinstance(part.get("file"), dict):
            data = _data_url(part["file"].get("file_data") or "")
            if data:
                parts.append({"inlineData": {"mimeType": data[0], "data": data[1]}})
    return parts or [{"text": ""}]


def chat_request_to_gemini(chat: dict) -> dict:
    system: list[str] = []
    contents: list[dict] = []
    names: dict[str, str] = {}  # tool call id -> function name
    for message in chat.get("messages") or ():
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.append(chat_text(content))
        elif role == "user":
            contents.append({"role": "user", "parts": _chat_parts_to_gemini(content)})
        elif role == "assistant":
            parts = [{"text": chat_text(content)}] if chat_text(content) else []
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                names[call.get("id") or ""] = function.get("name", "")
                parts.append(
                    {
                        "functionCall": {
                            "name": function.get("name", ""),
                            "args": _loads_object(function.get("arguments")),
                        }
                    }
                )
            contents.append({"role": "model", "parts": parts or [{"text": ""}]})
        elif role in ("tool", "function"):
            name = names.get(message.get("tool_call_id") or "") or message.get("name") or "tool"
            text = chat_text(content)
            response = _loads_object(text) if text.startswith("{") else {"content": text}
            part = {"functionResponse": {"name": name, "response": response}}
            last = contents[-1] if contents else None
            if last and last["role"] == "user" and all("functionResponse" in p for p in last["parts"]):
                last["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
    body: dict = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config: dict = {}
    limit = chat.get("max_completion_tokens") or chat.get("max_tokens")
    if limit:
        config["maxOutputTokens"] = limit
    _copy(chat, config, {"temperature": "temperature", "top_p": "topP", "n": "candidateCount", "seed": "seed"})
    _copy(chat, config, {"presence_penalty": "presencePenalty", "frequency_penalty": "frequencyPenalty"})
    stop = chat.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    fmt = chat.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            config["responseJsonSchema"] = schema
    effort = chat.get("reasoning_effort")
    if effort in ("low", "medium", "high"):
        config["thinkingConfig"] = {"thinkingBudget": {"low": 1024, "medium": 8192, "high": 24576}[effort]}
    if config:
        body["generationConfig"] = config
    declarations = []
    for tool in chat.get("tools") or ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict):
            decl = {"name": function.get("name", "")}
            if function.get("description"):
                decl["description"] = function["description"]
            if function.get("parameters"):
                decl["parametersJsonSchema"] = function["parameters"]
            declarations.append(decl)
    if declarations:
        body["tools"] = [{"functionDeclarations": declarations}]
        choice = chat.get("tool_choice")
        mode = {"none": "NONE", "required": "ANY", "auto": "AUTO"}.get(choice) if isinstance(choice, str) else None
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            body["toolConfig"] = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
        elif mode:
            body["toolConfig"] = {"functionCallingConfig": {"mode": mode}}
    return body


_REQUEST_TO_CHAT = {RESPONSES: responses_request_to_chat, GEMINI: gemini_request_to_chat}
_REQUEST_FROM_CHAT = {RESPONSES: chat_request_to_responses, GEMINI: chat_request_to_gemini}


def request_convert(body: dict, *, source: str, target: str) -> dict:
    if source == target:
        return body
    chat = _REQUEST_TO_CHAT[source](body) if source != CHAT else body
    return _REQUEST_FROM_CHAT[target](chat) if target != CHAT else chat


# =============================================================================
# Answers (non-streamed)
# =============================================================================


def _chat_usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _responses_usage_to_chat(usage) -> dict | None:
    if not isinstance(usage, dict):
        return None
    return _chat_usage(
        usage.get("input_tokens") or 0,
        usage.get("output_tokens") or 0,
        (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0,
        (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0,
    )


def _gemini_usage_to_chat(meta) -> dict | None:
    if not isinstance(meta, dict):
        return None
    thoughts = meta.get("thoughtsTokenCount") or 0
    return _chat_usage(
        (meta.get("promptTokenCount") or 0) + (meta.get("toolUsePromptTokenCount") or 0),
        (meta.get("candidatesTokenCount") or 0) + thoughts,
        meta.get("cachedContentTokenCount") or 0,
        thoughts,
    )


def _chat_usage_to_responses(usage) -> dict | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0},
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
        },
        "total_tokens": prompt + completion,
    }


def _chat_usage_to_gemini(usage) -> dict | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    meta = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion - reasoning,
        "totalTokenCount": prompt + completion,
    }
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    if cached:
        meta["cachedContentTokenCount"] = cached
    if reasoning:
        meta["thoughtsTokenCount"] = reasoning
    return meta


def _completion(*, cid: str, model: str, created: int, choices: list[dict], usage: dict | None) -> dict:
    out = {"id": cid, "object": "chat.completion", "created": created, "model": model, "choices": choices}
    if usage is not None:
        out["usage"] = usage
    return out


def responses_response_to_chat(resp: dict, *, model: str) -> dict:
    texts, calls, refusal = [], [], None
    for item in resp.get("output") or ():
        if item.get("type") == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text":
                    texts.append(part.get("text", ""))
                elif part.get("type") == "refusal":
                    refusal = part.get("refusal")
        elif item.get("type") == "function_call":
            calls.append(
                {
                    "id": item.get("call_id"),
                    "type": "function",
                    "function": {"name": item.get("name", ""), "arguments": item.get("arguments", "")},
                }
            )
    reason = (resp.get("incomplete_details") or {}).get("reason")
    finish = (
        "tool_calls" if calls else "length" if reason == "max_output_tokens" else "content_filter" if reason else "stop"
    )
    message: dict = {"role": "assistant", "content": "".join(texts) if texts or not calls else None, "refusal": refusal}
    if calls:
        message["tool_calls"] = calls
    return _completion(
        cid="chatcmpl-" + str(resp.get("id") or secrets.token_hex(12)).removeprefix("resp_"),
        model=model,
        created=resp.get("created_at") or int(time.time()),
        choices=[{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        usage=_responses_usage_to_chat(resp.get("usage")),
    )


_GEMINI_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}
_CHAT_FINISH_TO_GEMINI = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}


def _gemini_finish(reason: str | None, has_calls: bool) -> str:
    if has_calls:
        return "tool_calls"
    if reason is None:
        return "stop"
    return _GEMINI_FINISH.get(reason, "content_filter")


def gemini_response_to_chat(resp: dict, *, model: str) -> dict:
    choices = []
    for n, candidate in enumerate(resp.get("candidates") or ()):
        parts = (candidate.get("content") or {}).get("parts") or []
        text = "".join(p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))
        calls = [
            {
                "id": part["functionCall"].get("id") or f"call_{n}_{k}",
                "type": "function",
                "function": {
                    "name": part["functionCall"].get("name", ""),
                    "arguments": _dumps(part["functionCall"].get("args") or {}),
                },
            }
            for k, part in enumerate(p for p in parts if isinstance(p.get("functionCall"), dict))
        ]
        message: dict = {"role": "assistant", "content": text if text or not calls else None}
        if calls:
            message["tool_calls"] = calls
        choices.append(
            {
                "index": candidate.get("index", n),
                "message": message,
                "logprobs": None,
                "finish_reason": _gemini_finish(candidate.get("finishReason"), bool(calls)),
            }
        )
    return _completion(
        cid="chatcmpl-" + str(resp.get("responseId") or secrets.token_hex(12)),
        model=model,
        created=int(time.time()),
        choices=choices,
        usage=_gemini_usage_to_chat(resp.get("usageMetadata")),
    )


def responses_envelope(
    *, rid: str, model: str, created: int, status: str, output: list, usage: dict | None, request: dict
) -> dict:
    """A Response object with the fields the OpenAI SDK and Codex read."""
    reasoning = request.get("reasoning") if isinstance(request.get("reasoning"), dict) else {}
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": False,
        "temperature": request.get("temperature", 1.0),
        "text": request.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": usage,
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }


def _message_item(item_id: str, text: str, status: str = "completed") -> dict:
    content = (
        [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status != "in_progress" else []
    )
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def chat_response_to_responses(chat: dict, *, model: str, request: dict) -> dict:
    choice = (chat.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    suffix = secrets.token_hex(12)
    output = []
    text = chat_text(message.get("content"))
    if text or not message.get("tool_calls"):
        output.append(_message_item(f"msg_{suffix}", text))
    for n, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        output.append(
            _call_item(
                f"fc_{suffix}{n}",
                call.get("id") or f"call_{suffix}{n}",
                function.get("name", ""),
                function.get("arguments", ""),
            )
        )
    status = "incomplete" if choice.get("finish_reason") == "length" else "completed"
    return responses_envelope(
        rid=f"resp_{suffix}",
        model=model,
        created=chat.get("created") or int(time.time()),
        status=status,
        output=output,
        usage=_chat_usage_to_responses(chat.get("usage")),
        request=request,
    )


def chat_response_to_gemini(chat: dict, *, model: str) -> dict:
    candidates = []
    for n, choice in enumerate(chat.get("choices") or ()):
        message = choice.get("message") or {}
        parts = []
        text = chat_text(message.get("content"))
        if text:
            parts.append({"text": text})
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            parts.append(
                {"functionCall": {"name": function.get("name", ""), "args": _loads_object(function.get("arguments"))}}
            )
        candidates.append(
            {
                "content": {"role": "model", "parts": parts or [{"text": ""}]},
                "finishReason": _CHAT_FINISH_TO_GEMINI.get(choice.get("finish_reason") or "stop", "OTHER"),
                "index": choice.get("index", n),
            }
        )
    out: dict = {"candidates": candidates, "modelVersion": model, "responseId": str(chat.get("id") or "")}
    usage = _chat_usage_to_gemini(chat.get("usage"))
    if usage:
        out["usageMetadata"] = usage
    return out


def response_convert(body: dict, *, source: str, target: str, model: str, request: dict) -> dict:
    if source == target:
        return body
    if source == RESPONSES:
        chat = responses_response_to_chat(body, model=model)
    elif source == GEMINI:
        chat = gemini_response_to_chat(body, model=model)
    else:
        chat = body
    if target == RESPONSES:
        return chat_response_to_responses(chat, model=model, request=request)
    if target == GEMINI:
        return chat_response_to_gemini(chat, model=model)
    return chat


def chat_usage_for(body: dict, *, source: str) -> dict | None:
    """An upstream answer's usage in Chat Completions form."""
    if source == RESPONSES:
        return _responses_usage_to_chat(body.get("usage"))
    if source == GEMINI:
        return _gemini_usage_to_chat(body.get("usageMetadata"))
    return body.get("usage")


# =============================================================================
# Streams: upstream events -> Chat Completions chunks -> client events
# =============================================================================


class _ChunkMaker:
    def __init__(self, *, model: str, cid: str | None = None) -> None:
        self.cid = cid or f"chatcmpl-{secrets.token_hex(12)}"
        self.model = model
        self.created = int(time.time())
        self.role_sent = False

    def chunk(self, delta: dict | None = None, finish: str | None = None) -> dict:
        if delta is not None and not self.role_sent:
            delta = {"role": "assistant", **delta}
            self.role_sent = True
        return {
            "id": self.cid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}],
        }

    def usage_chunk(self, usage: dict) -> dict:
        return {
            "id": self.cid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }


class ResponsesToChat:
    """Responses stream events -> Chat Completions chunks."""

    def __init__(self, *, model: str) -> None:
        self.make = _ChunkMaker(model=model)
        self.calls: dict[str, int] = {}
        self.done = False

    def feed(self, data: dict) -> list[dict]:
        kind = data.get("type")
        if kind == "response.output_text.delta":
            return [self.make.chunk({"content": data.get("delta", "")})]
        if kind == "response.refusal.delta":
            return [self.make.chunk({"refusal": data.get("delta", "")})]
        if kind == "response.output_item.added" and (data.get("item") or {}).get("type") == "function_call":
            item = data["item"]
            index = self.calls[item.get("id")] = len(self.calls)
            call = {
                "index": index,
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name", ""), "arguments": ""},
            }
            return [self.make.chunk({"tool_calls": [call]})]
        if kind == "response.function_call_arguments.delta" and data.get("item_id") in self.calls:
            call = {"index": self.calls[data["item_id"]], "function": {"arguments": data.get("delta", "")}}
            return [self.make.chunk({"tool_calls": [call]})]
        if kind in ("response.completed", "response.incomplete"):
            self.done = True
            resp = data.get("response") or {}
            reason = (resp.get("incomplete_details") or {}).get("reason")
            finish = "tool_calls" if self.calls else "length" if reason == "max_output_tokens" else "stop"
            out = [self.make.chunk(finish=finish)]
            usage = _responses_usage_to_chat(resp.get("usage"))
            if usage:
                out.append(self.make.usage_chunk(usage))
            return out
        if kind in ("response.failed", "error"):
            error = (data.get("response") or {}).get("error") or data
            raise UpstreamStreamError(str((error or {}).get("message") or "upstream stream failed"))
        return []

    def finish(self) -> list[dict]:
        return []


class GeminiToChat:
    """Gemini stream chunks -> Chat Completions chunks."""

    def __init__(self, *, model: str) -> None:
        self.make = _ChunkMaker(model=model)
        self.calls = 0
        self.done = False

    def feed(self, data: dict) -> list[dict]:
        if isinstance(data.get("error"), dict):
            raise UpstreamStreamError(str(data["error"].get("message") or "upstream stream failed"))
        out = []
        candidate = (data.get("candidates") or [None])[0] or {}
        for part in (candidate.get("content") or {}).get("parts") or ():
            if isinstance(part.get("text"), str) and not part.get("thought") and part["text"]:
                out.append(self.make.chunk({"content": part["text"]}))
            call = part.get("functionCall")
            if isinstance(call, dict):
                delta = {
                    "index": self.calls,
                    "id": call.get("id") or f"call_0_{self.calls}",
                    "type": "function",
                    "function": {"name": call.get("name", ""), "arguments": _dumps(call.get("args") or {})},
                }
                self.calls += 1
                out.append(self.make.chunk({"tool_calls": [delta]}))
        if candidate.get("finishReason") and not self.done:
            self.done = True
            out.append(self.make.chunk(finish=_gemini_finish(candidate["finishReason"], self.calls > 0)))
            usage = _gemini_usage_to_chat(data.get("usageMetadata"))
            if usage:
                out.append(self.make.usage_chunk(usage))
        return out

    def finish(self) -> list[dict]:
        return []


class ChatToResponses:
    """Chat Completions chunks -> Responses stream events (the sequence the
    OpenAI SDK's stream helpers and Codex expect)."""

    def __init__(self, *, model: str, request: dict) -> None:
        self.model = model
        self.request = request
        self.suffix = secrets.token_hex(12)
        self.rid = f"resp_{self.suffix}"
        self.created = int(time.time())
        self.seq = 0
        self.items: list[dict] = []  # finished output items, in output order
        self.message: dict | None = None  # the open message item: {"id", "index", "text"}
        self.calls: dict[int, dict] = {}
        self.open_calls: list[int] = []
        self.finish_reason: str | None = None
        self.usage: dict | None = None
        self.started = False

    def _event(self, kind: str, **fields) -> bytes:
        payload = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return sse_event(kind, payload)

    def _envelope(self, status: str, output: list, usage: dict | None) -> dict:
        return responses_envelope(
            rid=self.rid,
            model=self.model,
            created=self.created,
            status=status,
            output=output,
            usage=usage,
            request=self.request,
        )

    def start(self) -> list[bytes]:
        if self.started:
            return []
        self.started = True
        return [
            self._event("response.created", response=self._envelope("in_progress", [], None)),
            self._event("response.in_progress", response=self._envelope("in_progress", [], None)),
        ]

    def _next_index(self) -> int:
        return len(self.items) + (1 if self.message else 0) + len(self.open_calls)

    def _close_message(self) -> list[bytes]:
        if not self.message:
            return []
        m, self.message = self.message, None
        base = {"item_id": m["id"], "output_index": m["index"], "content_index": 0}
        part = {"type": "output_text", "text": m["text"], "annotations": [], "logprobs": []}
        item = _message_item(m["id"], m["text"])
        self.items.append(item)
        return [
            self._event("response.output_text.done", **base, text=m["text"], logprobs=[]),
            self._event("response.content_part.done", **base, part=part),
            self._event("response.output_item.done", output_index=m["index"], item=item),
        ]

    def _close_calls(self) -> list[bytes]:
        out = []
        for index in self.open_calls:
            c = self.calls[index]
            item = _call_item(c["id"], c["call_id"], c["name"], c["arguments"])
            self.items.append(item)
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=c["id"],
                    output_index=c["index"],
                    arguments=c["arguments"],
                )
            )
            out.append(self._event("response.output_item.done", output_index=c["index"], item=item))
        self.open_calls = []
        return out

    def feed(self, chunk: dict) -> list[bytes]:
        out = self.start()
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self.message is None:
                    out += self._close_calls()
                    self.message = {"id": f"msg_{self.suffix}", "index": self._next_index(), "text": ""}
                    m = self.message
                    out.append(
                        self._event(
                            "response.output_item.added",
                            output_index=m["index"],
                            item=_message_item(m["id"], "", "in_progress"),
                        )
                    )
                    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                    out.append(
                        self._event(
                            "response.content_part.added",
                            item_id=m["id"],
                            output_index=m["index"],
                            content_index=0,
                            part=part,
                        )
                    )
                self.message["text"] += text
                out.append(
                    self._event(
                        "response.output_text.delta",
                        item_id=self.message["id"],
                        output_index=self.message["index"],
                        content_index=0,
                        delta=text,
                        logprobs=[],
                    )
                )
            for call in delta.get("tool_calls") or ():
                index = call.get("index", 0)
                function = call.get("function") or {}
                if index not in self.calls:
                    out += self._close_message()
                    c = self.calls[index] = {
                        "id": f"fc_{self.suffix}{index}",
                        "call_id": call.get("id") or f"call_{self.suffix}{index}",
                        "name": function.get("name") or "",
                        "arguments": "",
                        "index": self._next_index(),
                    }
                    self.open_calls.append(index)
                    item = _call_item(c["id"], c["call_id"], c["name"], "", "in_progress")
                    out.append(self._event("response.output_item.added", output_index=c["index"], item=item))
                c = self.calls[index]
                piece = function.get("arguments") or ""
                if piece:
                    c["arguments"] += piece
                    out.append(
                        self._event(
                            "response.function_call_arguments.delta",
                            item_id=c["id"],
                            output_index=c["index"],
                            delta=piece,
                        )
                    )
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def finish(self) -> list[bytes]:
        out = self.start() + self._close_message() + self._close_calls()
        status = "incomplete" if self.finish_reason == "length" else "completed"
        response = self._envelope(status, self.items, _chat_usage_to_responses(self.usage))
        out.append(self._event(f"response.{status}", response=response))
        return out


class ChatToGemini:
    """Chat Completions chunks -> Gemini stream chunks."""

    def __init__(self, *, model: str) -> None:
        self.model = model
        self.rid = secrets.token_hex(11)
        self.calls: dict[int, dict] = {}
        self.finish_reason: str | None = None
        self.usage: dict | None = None

    def _chunk(self, parts: list[dict], finish: str | None = None, usage: dict | None = None) -> dict:
        candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        out: dict = {"candidates": [candidate], "modelVersion": self.model, "responseId": self.rid}
        if usage:
            out["usageMetadata"] = usage
        return out

    def feed(self, chunk: dict) -> list[dict]:
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        out = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                out.append(self._chunk([{"text": delta["content"]}]))
            for call in delta.get("tool_calls") or ():
                slot = self.calls.setdefault(call.get("index", 0), {"name": "", "arguments": ""})
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def finish(self) -> list[dict]:
        parts = [
            {"functionCall": {"name": c["name"], "args": _loads_object(c["arguments"])}}
            for _, c in sorted(self.calls.items())
        ]
        finish = _CHAT_FINISH_TO_GEMINI.get(self.finish_reason or "stop", "OTHER")
        return [self._chunk(parts or [{"text": ""}], finish, _chat_usage_to_gemini(self.usage))]


class StreamTranslator:
    """Raw upstream events of one protocol in, client events of another out.

    `feed` takes one whole raw SSE event and returns the bytes to send;
    `finish` is called once at the upstream's clean end. `fallback_usage`
    (Chat Completions shape) fills in usage when the upstream sent none, so
    a client always gets usage in the final chunk.
    """

    def __init__(self, *, source: str, target: str, model: str, request: dict, gemini_array: bool = False) -> None:
        self.source = source
        self.target = target
        self.decoder = (
            ResponsesToChat(model=model)
            if source == RESPONSES
            else GeminiToChat(model=model)
            if source == GEMINI
            else None
        )
        self.encoder = (
            ChatToResponses(model=model, request=request)
            if target == RESPONSES
            else ChatToGemini(model=model)
            if target == GEMINI
            else None
        )
        self.gemini_array = gemini_array
        self.array_started = False
        self.saw_usage = False
        self.upstream_done = False

    def _decode(self, raw: bytes) -> list[dict]:
        if self.source == CHAT:
            if is_done(raw):
                self.upstream_done = True
                return []
            data = event_json(raw)
            if data and isinstance(data.get("error"), dict):
                raise UpstreamStreamError(str(data["error"].get("message") or "upstream stream failed"))
            return [data] if data else []
        data = event_json(raw)
        return self.decoder.feed(data) if data else []

    def _encode(self, chunks: list[dict]) -> bytes:
        out = []
        for chunk in chunks:
            if isinstance(chunk.get("usage"), dict):
                self.saw_usage = True
            if self.encoder is None:
                out.append(sse_data(chunk))
            elif self.target == RESPONSES:
                out.extend(self.encoder.feed(chunk))
            else:
                out.extend(self._gemini_frame(c) for c in self.encoder.feed(chunk))
        return b"".join(out)

    def _gemini_frame(self, chunk: dict) -> bytes:
        if not self.gemini_array:
            return sse_data(chunk)
        prefix = b"," if self.array_started else b"["
        self.array_started = True
        return prefix + orjson.dumps(chunk) + b"\r\n"

    def feed(self, raw: bytes) -> bytes:
        return self._encode(self._decode(raw))

    def finish(self, *, fallback_usage: dict | None = None) -> bytes:
        chunks = self.decoder.finish() if self.decoder is not None else []
        out = self._encode(chunks)
        if not self.saw_usage and fallback_usage is not None:
            maker = getattr(self.decoder, "make", None) or _ChunkMaker(model=getattr(self.encoder, "model", ""))
            out += self._encode([maker.usage_chunk(fallback_usage)])
        if self.encoder is None:
            return out + DONE
        if self.target == RESPONSES:
            return out + b"".join(self.encoder.finish())
        tail = b"".join(self._gemini_frame(c) for c in self.encoder.finish())
        if self.gemini_array:
            tail += b"]" if self.array_started else b"[]"
        return out + tail
