"""Google Gemini <-> Chat Completions: requests, answers and streams."""

from __future__ import annotations

import secrets
import time

from gateway.convert.chat import (
    MIME_BY_EXT,
    ChunkMaker,
    UpstreamStreamError,
    chat_text,
    chat_usage,
    completion,
    copy,
    data_url,
    dumps,
    get,
    loads_object,
)


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
        inline = get(part, "inlineData", "inline_data")
        if isinstance(inline, dict):
            mime = get(inline, "mimeType", "mime_type", "application/octet-stream")
            url = f"data:{mime};base64,{inline.get('data', '')}"
            if mime.startswith("image/"):
                out.append({"type": "image_url", "image_url": {"url": url}})
            elif mime.startswith("audio/"):
                out.append({"type": "input_audio", "input_audio": {"data": inline.get("data", ""), "format": mime[6:]}})
            else:
                out.append({"type": "file", "file": {"file_data": url}})
        file = get(part, "fileData", "file_data")
        if isinstance(file, dict) and get(file, "fileUri", "file_uri"):
            out.append({"type": "image_url", "image_url": {"url": get(file, "fileUri", "file_uri")}})
    return out


def gemini_request_to_chat(body: dict) -> dict:
    messages: list[dict] = []
    system = get(body, "systemInstruction", "system_instruction")
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
                call = get(part, "functionCall", "function_call")
                if isinstance(call, dict):
                    call_id = call.get("id") or f"call_{len(messages)}_{len(calls)}"
                    pending.setdefault(call.get("name", ""), []).append(call_id)
                    calls.append(
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": call.get("name", ""), "arguments": dumps(call.get("args") or {})},
                        }
                    )
            message: dict = {"role": "assistant", "content": chat_text(_gemini_parts_to_chat(parts)) or None}
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
            continue
        for part in parts:
            result = get(part, "functionResponse", "function_response") if isinstance(part, dict) else None
            if isinstance(result, dict):
                name = result.get("name", "")
                ids = pending.get(name) or []
                call_id = result.get("id") or (ids.pop(0) if ids else f"call_{name}")
                messages.append({"role": "tool", "tool_call_id": call_id, "content": dumps(result.get("response", {}))})
        chat_parts = _gemini_parts_to_chat(parts)
        if chat_parts:
            plain = all(p["type"] == "text" for p in chat_parts)
            messages.append({"role": "user", "content": chat_text(chat_parts) if plain else chat_parts})
    chat: dict = {"model": body.get("model"), "messages": messages}
    config = get(body, "generationConfig", "generation_config") or {}
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
        value = get(config, camel, snake)
        if value is not None:
            chat[key] = value
    schema = get(config, "responseJsonSchema", "response_json_schema") or get(
        config, "responseSchema", "response_schema"
    )
    if schema:
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema_from_gemini(schema)},
        }
    elif get(config, "responseMimeType", "response_mime_type") == "application/json":
        chat["response_format"] = {"type": "json_object"}
    thinking = get(config, "thinkingConfig", "thinking_config") or {}
    budget = get(thinking, "thinkingBudget", "thinking_budget")
    level = get(thinking, "thinkingLevel", "thinking_level")
    if isinstance(level, str) and level:
        chat["reasoning_effort"] = level.lower()
    elif isinstance(budget, int) and budget > 0:
        chat["reasoning_effort"] = "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
    tools = []
    for tool in body.get("tools") or ():
        for decl in get(tool, "functionDeclarations", "function_declarations") or ():
            params = get(decl, "parametersJsonSchema", "parameters_json_schema") or schema_from_gemini(
                decl.get("parameters")
            )
            function = {"name": decl.get("name", ""), "parameters": params or {"type": "object", "properties": {}}}
            if decl.get("description"):
                function["description"] = decl["description"]
            tools.append({"type": "function", "function": function})
    if tools:
        chat["tools"] = tools
        calling = get(get(body, "toolConfig", "tool_config") or {}, "functionCallingConfig", "function_calling_config")
        mode = str(get(calling or {}, "mode", default="AUTO")).upper()
        allowed = get(calling or {}, "allowedFunctionNames", "allowed_function_names") or []
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
            data = data_url(url)
            if data:
                parts.append({"inlineData": {"mimeType": data[0], "data": data[1]}})
            elif url:
                mime = MIME_BY_EXT.get(url.rsplit(".", 1)[-1].lower().split("?")[0], "image/jpeg")
                parts.append({"fileData": {"mimeType": mime, "fileUri": url}})
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio = part["input_audio"]
            parts.append(
                {"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}", "data": audio.get("data", "")}}
            )
        elif kind == "file" and isinstance(part.get("file"), dict):
            data = data_url(part["file"].get("file_data") or "")
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
                            "args": loads_object(function.get("arguments")),
                        }
                    }
                )
            contents.append({"role": "model", "parts": parts or [{"text": ""}]})
        elif role in ("tool", "function"):
            name = names.get(message.get("tool_call_id") or "") or message.get("name") or "tool"
            text = chat_text(content)
            response = loads_object(text) if text.startswith("{") else {"content": text}
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
    copy(chat, config, {"temperature": "temperature", "top_p": "topP", "n": "candidateCount", "seed": "seed"})
    copy(chat, config, {"presence_penalty": "presencePenalty", "frequency_penalty": "frequencyPenalty"})
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


def _gemini_usage_to_chat(meta) -> dict | None:
    if not isinstance(meta, dict):
        return None
    thoughts = meta.get("thoughtsTokenCount") or 0
    return chat_usage(
        (meta.get("promptTokenCount") or 0) + (meta.get("toolUsePromptTokenCount") or 0),
        (meta.get("candidatesTokenCount") or 0) + thoughts,
        meta.get("cachedContentTokenCount") or 0,
        thoughts,
    )


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
                    "arguments": dumps(part["functionCall"].get("args") or {}),
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
    return completion(
        cid="chatcmpl-" + str(resp.get("responseId") or secrets.token_hex(12)),
        model=model,
        created=int(time.time()),
        choices=choices,
        usage=_gemini_usage_to_chat(resp.get("usageMetadata")),
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
                {"functionCall": {"name": function.get("name", ""), "args": loads_object(function.get("arguments"))}}
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


class GeminiToChat:
    """Gemini stream chunks -> Chat Completions chunks."""

    def __init__(self, *, model: str) -> None:
        self.make = ChunkMaker(model=model)
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
                    "function": {"name": call.get("name", ""), "arguments": dumps(call.get("args") or {})},
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
            {"functionCall": {"name": c["name"], "args": loads_object(c["arguments"])}}
            for _, c in sorted(self.calls.items())
        ]
        finish = _CHAT_FINISH_TO_GEMINI.get(self.finish_reason or "stop", "OTHER")
        return [self._chunk(parts or [{"text": ""}], finish, _chat_usage_to_gemini(self.usage))]
