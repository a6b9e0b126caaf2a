"""OpenAI Responses API: POST /openai/v1/responses (+ /responses/input_tokens)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from . import text as T
from .app import (
    HTTPError,
    Request,
    Router,
    authorized,
    new_id,
    now,
    pace_nonstream,
    pre_faults,
    send_body,
    send_stream,
)
from .faults import split_model
from .openai_chat import _content_texts, openai_error, openai_unauthorized

# --------------------------------------------------------------------------
# Input interpretation
# --------------------------------------------------------------------------


class RespInput:
    __slots__ = ("last_user", "media", "texts", "tool_result_last")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.media = 0
        self.last_user = ""
        self.tool_result_last = False


def parse_input(body: dict) -> RespInput:
    ri = RespInput()
    instr = body.get("instructions")
    if isinstance(instr, str):
        ri.texts.append(instr)
    elif isinstance(instr, list):
        ri.media += _content_texts(instr, ri.texts)
    inp = body.get("input")
    if inp is None:
        if not body.get("previous_response_id") and not body.get("conversation"):
            raise HTTPError(400, "Missing required parameter: 'input'.")
        return ri
    if isinstance(inp, str):
        ri.texts.append(inp)
        ri.last_user = inp
        return ri
    if not isinstance(inp, list):
        raise HTTPError(
            400,
            "Invalid type for 'input': expected a string or an array of input items.",
        )
    last_type = None
    for item in inp:
        if not isinstance(item, dict):
            raise HTTPError(400, "Invalid input item: expected an object.")
        itype = item.get("type") or ("message" if "role" in item else None)
        last_type = itype
        if itype == "message":
            before = len(ri.texts)
            ri.media += _content_texts(item.get("content"), ri.texts)
            if item.get("role") == "user":
                ri.last_user = "\n".join(ri.texts[before:])
        elif itype == "function_call":
            ri.texts.append(str(item.get("name", "")))
            ri.texts.append(str(item.get("arguments", "")))
        elif itype in ("function_call_output", "custom_tool_call_output"):
            out = item.get("output")
            if isinstance(out, str):
                ri.texts.append(out)
            else:
                ri.media += _content_texts(out, ri.texts)
        elif itype in ("reasoning", "item_reference", None):
            continue
        else:
            T.flatten_text(item, ri.texts)
    ri.tool_result_last = last_type in (
        "function_call_output",
        "custom_tool_call_output",
    )
    return ri


def resp_tools(body: dict) -> tuple[list[T.Tool], Any, list[dict]]:
    tools: list[T.Tool] = []
    echo: list[dict] = []
    for t in body.get("tools") or ():
        if not isinstance(t, dict):
            continue
        if t.get("type") == "function" and t.get("name"):
            tools.append(T.Tool(t["name"], t.get("description", ""), t.get("parameters")))
            echo.append(
                {
                    "type": "function",
                    "name": t["name"],
                    "description": t.get("description"),
                    "parameters": t.get("parameters"),
                    "strict": t.get("strict", True),
                }
            )
        else:
            echo.append(t)
    tc = body.get("tool_choice", "auto")
    if isinstance(tc, dict):
        tc_norm: Any = {"name": tc["name"]} if tc.get("type") == "function" and tc.get("name") else "auto"
    else:
        tc_norm = tc if tc in ("none", "auto", "required") else "auto"
    return tools, tc_norm, echo


# --------------------------------------------------------------------------
# Output building
# --------------------------------------------------------------------------


class Built:
    """Everything needed for both the JSON and the streamed form."""

    def __init__(
        self,
        body: dict,
        model: str,
        plan: T.Plan,
        tool_echo: list[dict],
        no_usage: bool,
    ):
        self.body = body
        self.model = model
        self.plan = plan
        self.no_usage = no_usage
        self.rid = new_id("resp_", 24)
        self.created = now()
        reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
        self.effort = reasoning.get("effort")
        self.summary_mode = reasoning.get("summary") or reasoning.get("generate_summary")
        self.tool_echo = tool_echo
        self.tool_choice = body.get("tool_choice", "auto")
        text_cfg = body.get("text") if isinstance(body.get("text"), dict) else {}
        self.text_cfg = {
            "format": text_cfg.get("format") or {"type": "text"},
            "verbosity": "medium",
        }
        self.incomplete = plan.finish == "length"
        seed = plan.seed & 0xFFFFFFFFFFFF
        self.rs_id = f"rs_{seed:012x}{new_id('', 8)}"
        self.msg_id = f"msg_{seed:012x}{new_id('', 8)}"
        self.fc_ids = [f"fc_{seed + i:012x}{new_id('', 8)}" for i in range(len(plan.tool_calls))]
        self.call_ids = [f"call_{(seed + i) & 0xFFFFFFFFFFFF:012x}sim" for i in range(len(plan.tool_calls))]

    # -- items ---------------------------------------------------------
    def reasoning_item(self, done: bool) -> dict:
        item: dict[str, Any] = {"id": self.rs_id, "type": "reasoning", "summary": []}
        if done and self.summary_mode and self.plan.reasoning_pieces:
            item["summary"] = [{"type": "summary_text", "text": self.plan.reasoning_text}]
        return item

    def message_item(self, done: bool) -> dict:
        status = ("incomplete" if self.incomplete else "completed") if done else "in_progress"
        content = [self.text_part(self.plan.text)] if done else []
        return {
            "id": self.msg_id,
            "type": "message",
            "status": status,
            "content": content,
            "role": "assistant",
        }

    @staticmethod
    def text_part(text: str) -> dict:
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}

    def fc_item(self, i: int, done: bool) -> dict:
        tc = self.plan.tool_calls[i]
        return {
            "id": self.fc_ids[i],
            "type": "function_call",
            "status": "completed" if done else "in_progress",
            "arguments": tc.arguments if done else "",
            "call_id": self.call_ids[i],
            "name": tc.name,
        }

    def has_reasoning(self) -> bool:
        return self.plan.reasoning_tokens > 0

    def has_message(self) -> bool:
        return not self.plan.tool_calls and (bool(self.plan.pieces) or not self.incomplete)

    def outputs(self) -> list[dict]:
        out = []
        if self.has_reasoning():
            out.append(self.reasoning_item(True))
        if self.has_message():
            out.append(self.message_item(True))
        for i in range(len(self.plan.tool_calls)):
            out.append(self.fc_item(i, True))
        return out

    def usage(self) -> dict:
        p = self.plan
        return {
            "input_tokens": p.prompt_tokens,
            "input_tokens_details": {"cached_tokens": p.cached_tokens},
            "output_tokens": p.output_tokens,
            "output_tokens_details": {"reasoning_tokens": p.reasoning_tokens},
            "total_tokens": p.prompt_tokens + p.output_tokens,
        }

    def response(self, final: bool) -> dict:
        b = self.body
        status = ("incomplete" if self.incomplete else "completed") if final else "in_progress"
        return {
            "id": self.rid,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "background": bool(b.get("background", False)),
            "completed_at": now() if final else None,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if final and self.incomplete else None,
            "instructions": b.get("instructions"),
            "max_output_tokens": b.get("max_output_tokens"),
            "max_tool_calls": b.get("max_tool_calls"),
            "model": self.model,
            "output": self.outputs() if final else [],
            "parallel_tool_calls": b.get("parallel_tool_calls", True),
            "previous_response_id": b.get("previous_response_id"),
            "prompt_cache_key": b.get("prompt_cache_key"),
            "reasoning": {"effort": self.effort, "summary": self.summary_mode},
            "safety_identifier": b.get("safety_identifier"),
            "service_tier": "default",
            "store": b.get("store", True),
            "temperature": b.get("temperature", 1.0),
            "text": self.text_cfg,
            "tool_choice": self.tool_choice,
            "tools": self.tool_echo,
            "top_logprobs": b.get("top_logprobs", 0),
            "top_p": b.get("top_p", 1.0),
            "truncation": b.get("truncation", "disabled"),
            "usage": self.usage() if final and not self.no_usage else None,
            "user": b.get("user"),
            "metadata": b.get("metadata") or {},
        }

    # -- stream --------------------------------------------------------
    def frames(self) -> Iterator[tuple[bytes, bool]]:
        seq = 0

        def ev(d: dict, content: bool = False) -> tuple[bytes, bool]:
            nonlocal seq
            d["sequence_number"] = seq
            seq += 1
            self.last_seq = seq
            return b"event: " + d["type"].encode() + b"\ndata: " + orjson.dumps(d) + b"\n\n", content

        yield ev({"type": "response.created", "response": self.response(False)})
        yield ev({"type": "response.in_progress", "response": self.response(False)})
        idx = 0
        p = self.plan
        if self.has_reasoning():
            yield ev(
                {
                    "type": "response.output_item.added",
                    "output_index": idx,
                    "item": self.reasoning_item(False),
                }
            )
            if self.summary_mode and p.reasoning_pieces:
                part = {"type": "summary_text", "text": ""}
                base = {"item_id": self.rs_id, "output_index": idx, "summary_index": 0}
                yield ev(
                    {
                        "type": "response.reasoning_summary_part.added",
                        **base,
                        "part": part,
                    }
                )
                for piece in p.reasoning_pieces:
                    yield ev(
                        {
                            "type": "response.reasoning_summary_text.delta",
                            **base,
                            "delta": piece,
                        },
                        True,
                    )
                yield ev(
                    {
                        "type": "response.reasoning_summary_text.done",
                        **base,
                        "text": p.reasoning_text,
                    }
                )
                yield ev(
                    {
                        "type": "response.reasoning_summary_part.done",
                        **base,
                        "part": {"type": "summary_text", "text": p.reasoning_text},
                    }
                )
            yield ev(
                {
                    "type": "response.output_item.done",
                    "output_index": idx,
                    "item": self.reasoning_item(True),
                }
            )
            idx += 1
        if self.has_message():
            yield ev(
                {
                    "type": "response.output_item.added",
                    "output_index": idx,
                    "item": self.message_item(False),
                }
            )
            base = {"item_id": self.msg_id, "output_index": idx, "content_index": 0}
            yield ev(
                {
                    "type": "response.content_part.added",
                    **base,
                    "part": self.text_part(""),
                }
            )
            for piece in p.pieces:
                yield ev(
                    {
                        "type": "response.output_text.delta",
                        **base,
                        "delta": piece,
                        "logprobs": [],
                    },
                    True,
                )
            yield ev(
                {
                    "type": "response.output_text.done",
                    **base,
                    "text": p.text,
                    "logprobs": [],
                }
            )
            yield ev(
                {
                    "type": "response.content_part.done",
                    **base,
                    "part": self.text_part(p.text),
                }
            )
            yield ev(
                {
                    "type": "response.output_item.done",
                    "output_index": idx,
                    "item": self.message_item(True),
                }
            )
            idx += 1
        for i, tc in enumerate(p.tool_calls):
            yield ev(
                {
                    "type": "response.output_item.added",
                    "output_index": idx,
                    "item": self.fc_item(i, False),
                }
            )
            base = {"item_id": self.fc_ids[i], "output_index": idx}
            for piece in tc.pieces:
                yield ev(
                    {
                        "type": "response.function_call_arguments.delta",
                        **base,
                        "delta": piece,
                    },
                    True,
                )
            yield ev(
                {
                    "type": "response.function_call_arguments.done",
                    **base,
                    "arguments": tc.arguments,
                }
            )
            yield ev(
                {
                    "type": "response.output_item.done",
                    "output_index": idx,
                    "item": self.fc_item(i, True),
                }
            )
            idx += 1
        final = "response.incomplete" if self.incomplete else "response.completed"
        yield ev({"type": final, "response": self.response(True)})

    last_seq = 0

    def error_frame(self) -> bytes:
        d = {
            "type": "error",
            "code": "server_error",
            "message": "Simulated mid-stream upstream error.",
            "param": None,
            "sequence_number": self.last_seq,
        }
        return b"event: error\ndata: " + orjson.dumps(d) + b"\n\n"


# --------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------


def _prompt_tokens(ri: RespInput, body: dict) -> int:
    tools_json = orjson.dumps(body["tools"]) if body.get("tools") else b""
    chars = sum(len(t) for t in ri.texts) + max(0, len(ri.texts) - 1) + len(tools_json)
    return (chars + 3) // 4 + ri.media * T.IMAGE_PART_TOKENS


async def create_response(req: Request) -> None:
    if not authorized(req, "bearer"):
        await openai_unauthorized(req)
        return
    try:
        body = req.json_object()
        raw_model = body.get("model")
        if not isinstance(raw_model, str) or not raw_model:
            raise HTTPError(400, "Missing required parameter: 'model'.")
        model, model_opts = split_model(raw_model)
        f = req.faults(model_opts)
        stream = body.get("stream") is True or f.sse_always
        if await pre_faults(req, f, openai_error, streaming=stream):
            return
        ri = parse_input(body)
        tools, tool_choice, tool_echo = resp_tools(body)
        text_cfg = body.get("text") if isinstance(body.get("text"), dict) else {}
        fmt = text_cfg.get("format") if isinstance(text_cfg.get("format"), dict) else {}
        json_mode = fmt.get("type") in ("json_object", "json_schema")
        schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
        reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
        prompt_text = "\n".join(ri.texts)
        plan = T.make_plan(
            model=model,
            prompt_text=prompt_text,
            prompt_tokens=_prompt_tokens(ri, body),
            last_user=ri.last_user,
            max_tokens=body.get("max_output_tokens"),
            faults=f,
            tools=tools,
            tool_choice=tool_choice,
            tool_result_last=ri.tool_result_last,
            json_schema=schema,
            json_mode=json_mode,
            reasoning_tokens=T.reasoning_tokens_for(model, reasoning.get("effort")),
            reasoning_visible=bool(reasoning.get("summary") or reasoning.get("generate_summary")),
        )
    except HTTPError as exc:
        await openai_error(req, exc.status, exc.message)
        return
    built = Built(body, model, plan, tool_echo, f.no_usage)
    headers = [(b"x-request-id", new_id("req_", 8).encode())]
    if stream:
        await send_stream(req, built.frames(), f, headers=headers, error_frame=built.error_frame)
        return
    await pace_nonstream(f, plan.output_tokens - plan.reasoning_tokens)
    await send_body(req, 200, orjson.dumps(built.response(True)), f, headers=headers)


async def input_tokens(req: Request) -> None:
    if not authorized(req, "bearer"):
        await openai_unauthorized(req)
        return
    try:
        body = req.json_object()
        ri = parse_input(body)
    except HTTPError as exc:
        await openai_error(req, exc.status, exc.message)
        return
    await req.respond_json(
        200,
        {
            "object": "response.input_tokens",
            "input_tokens": max(1, _prompt_tokens(ri, body)),
        },
    )


def register(r: Router) -> None:
    r.add("POST", "/openai/v1/responses", create_response)
    r.add("POST", "/openai/v1/responses/input_tokens", input_tokens)
