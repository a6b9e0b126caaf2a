"""OpenAI Responses <-> Chat Completions: requests, answers and streams."""

from __future__ import annotations

import secrets
import time

from gateway.convert.chat import (
    ChunkMaker,
    UpstreamStreamError,
    chat_text,
    chat_usage,
    completion,
    copy,
    dumps,
)
from gateway.sse import sse_event


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
                    "content": output if isinstance(output, str) else chat_text(output) or dumps(output),
                }
            )
        # Reasoning items and hosted-tool items have no Chat Completions form.
    chat: dict = {"model": body.get("model"), "messages": messages}
    copy(body, chat, {"temperature": "temperature", "top_p": "top_p", "user": "user", "stream": "stream"})
    copy(body, chat, {"parallel_tool_calls": "parallel_tool_calls", "max_output_tokens": "max_completion_tokens"})
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
    copy(chat, body, {"temperature": "temperature", "top_p": "top_p", "user": "user", "stream": "stream"})
    copy(chat, body, {"parallel_tool_calls": "parallel_tool_calls"})
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


def _responses_usage_to_chat(usage) -> dict | None:
    if not isinstance(usage, dict):
        return None
    return chat_usage(
        usage.get("input_tokens") or 0,
        usage.get("output_tokens") or 0,
        (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0,
        (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0,
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
    return completion(
        cid="chatcmpl-" + str(resp.get("id") or secrets.token_hex(12)).removeprefix("resp_"),
        model=model,
        created=resp.get("created_at") or int(time.time()),
        choices=[{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        usage=_responses_usage_to_chat(resp.get("usage")),
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


class ResponsesToChat:
    """Responses stream events -> Chat Completions chunks."""

    def __init__(self, *, model: str) -> None:
        self.make = ChunkMaker(model=model)
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
