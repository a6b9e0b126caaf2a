"""Deterministic text generation and token counting.

Everything here is a pure function of its inputs so the simulator answers the
same request with the same text and the same token counts every time.

Token model (documented in README):
  * input tokens  = ceil(characters / 4) over all text the request carries,
                    plus a fixed cost per non-text part (image/audio/file);
  * output tokens = number of generated word-pieces (each streamed delta is
                    exactly one piece, i.e. one token).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from typing import Any

import orjson

IMAGE_PART_TOKENS = 85  # flat cost of one image/audio/file input part

_SUBJECTS = (
    "the model",
    "a careful reader",
    "the gateway",
    "this request",
    "the upstream service",
    "our team",
    "the answer",
    "each token",
    "the system",
    "a simple test",
    "the network",
    "every user",
    "the simulator",
    "a good plan",
    "the result",
)
_VERBS = (
    "explains",
    "describes",
    "returns",
    "measures",
    "improves",
    "shows",
    "follows",
    "checks",
    "builds",
    "streams",
    "summarizes",
    "compares",
    "keeps",
    "handles",
    "reports",
)
_ADJS = (
    "clear",
    "small",
    "useful",
    "quick",
    "stable",
    "plain",
    "exact",
    "steady",
    "modest",
    "honest",
    "simple",
    "reliable",
    "direct",
    "careful",
    "short",
)
_OBJECTS = (
    "idea",
    "answer",
    "example",
    "detail",
    "number",
    "question",
    "response",
    "pattern",
    "summary",
    "step",
    "signal",
    "message",
    "record",
    "value",
    "result",
)
_TAILS = (
    "in a few words",
    "for the next step",
    "with some care",
    "without any delay",
    "at the same time",
    "for every request",
    "in the usual way",
    "before the end",
    "on each call",
    "after a short pause",
)

_CORPUS_SENTENCES = 4096


def _lcg(seed: int):
    state = seed & 0xFFFFFFFF
    while True:
        state = (1103515245 * state + 12345) & 0x7FFFFFFF
        yield state >> 8


def _build_corpus() -> tuple[list[str], list[int]]:
    """A long, fixed stream of word pieces with sentence start offsets."""
    rnd = _lcg(20240611)
    pieces: list[str] = []
    starts: list[int] = []
    for _ in range(_CORPUS_SENTENCES):
        starts.append(len(pieces))
        words: list[str] = []
        words.extend(_SUBJECTS[next(rnd) % len(_SUBJECTS)].split())
        words.append(_VERBS[next(rnd) % len(_VERBS)])
        adj = _ADJS[next(rnd) % len(_ADJS)]
        words.append("an" if adj[0] in "aeio" or adj == "honest" else "a")
        words.append(adj)
        words.append(_OBJECTS[next(rnd) % len(_OBJECTS)])
        if next(rnd) % 2:
            words.extend(_TAILS[next(rnd) % len(_TAILS)].split())
        words[0] = words[0].capitalize()
        for w in words:
            pieces.append(" " + w)
        pieces.append("." if next(rnd) % 5 else "!")
    return pieces, starts


CORPUS, SENTENCE_STARTS = _build_corpus()
_CORPUS_LEN = len(CORPUS)
# Absolute sentence-end offsets, twice around the corpus (pieces() wraps).
_SENTENCE_ENDS = [*SENTENCE_STARTS[1:], _CORPUS_LEN] + [_CORPUS_LEN + e for e in [*SENTENCE_STARTS[1:], _CORPUS_LEN]]


def seed_of(*parts: str) -> int:
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return int.from_bytes(h.digest(), "big")


def pieces(seed: int, n: int) -> list[str]:
    """Return ``n`` word pieces starting at a sentence boundary chosen by seed."""
    if n <= 0:
        return []
    start = SENTENCE_STARTS[seed % len(SENTENCE_STARTS)]
    end = start + n
    if end <= _CORPUS_LEN:
        out = CORPUS[start:end]
    else:
        out = []
        i = start
        while len(out) < n:
            out.append(CORPUS[i % _CORPUS_LEN])
            i += 1
    if out and out[0].startswith(" "):
        out[0] = out[0][1:]
    return out


def whole_sentences(seed: int, n: int) -> list[str]:
    """About ``n`` pieces, ending at a sentence boundary (trimmed back when that
    keeps at least 3/4 of ``n``, otherwise extended to the next boundary)."""
    if n <= 0:
        return []
    start = SENTENCE_STARTS[seed % len(SENTENCE_STARTS)]
    k = bisect.bisect_right(_SENTENCE_ENDS, start + n)
    back = _SENTENCE_ENDS[k - 1] - start if k > 0 else 0
    fwd = _SENTENCE_ENDS[k] - start if k < len(_SENTENCE_ENDS) else n
    take = back if back > 0 and back >= (3 * n) // 4 else fwd
    return pieces(seed, take)


def sentence(seed: int, max_words: int = 8) -> str:
    """A short phrase (no trailing punctuation) used for JSON string values etc."""
    ps = pieces(seed, max_words)
    return "".join(p for p in ps if p not in (".", "!")).strip()


def count_tokens(text: str) -> int:
    """≈ 1 token per 4 characters (ceil)."""
    if not text:
        return 0
    return (len(text) + 3) // 4


def chunk_text(text: str, size: int = 4) -> list[str]:
    """Split already-formed text (e.g. JSON) into pseudo tokens of ``size`` chars."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def default_output_tokens(seed: int, prompt_text: str) -> int:
    """20-40 tokens normally; 300-400 if the prompt asks for a 'long answer'."""
    if "long answer" in prompt_text.lower():
        return 300 + seed % 101
    return 20 + seed % 21


REASONING_BY_EFFORT = {
    "none": 0,
    "minimal": 8,
    "low": 32,
    "medium": 128,
    "high": 512,
    "xhigh": 1024,
}


def reasoning_tokens_for(model: str, effort: Any) -> int:
    """Reasoning tokens: by explicit effort, else 128 for thinking-style models."""
    if isinstance(effort, str) and effort in REASONING_BY_EFFORT:
        return REASONING_BY_EFFORT[effort]
    m = model.lower()
    if "codex" in m or "pro" in m or "thinking" in m:
        return REASONING_BY_EFFORT["medium"]
    return 0


# --------------------------------------------------------------------------
# JSON-schema driven value generation (tool arguments, structured output)
# --------------------------------------------------------------------------

_CITIES = (
    "Paris",
    "Tokyo",
    "London",
    "Berlin",
    "Madrid",
    "Toronto",
    "Sydney",
    "Seoul",
    "Lisbon",
    "Oslo",
)


def guess_location(text: str) -> str | None:
    """Find a capitalized word after ' in ' / ' for ' (e.g. 'weather in Paris')."""
    for marker in (" in ", " for ", " at "):
        idx = text.find(marker)
        while idx != -1:
            rest = text[idx + len(marker) :].strip()
            words = []
            for w in rest.split():
                w2 = w.strip("?.!,;:\"'()")
                if w2[:1].isupper():
                    words.append(w2)
                    if w2 != w:
                        break
                else:
                    break
            if words:
                return " ".join(words)
            idx = text.find(marker, idx + 1)
    return None


def value_for_schema(schema: Any, seed: int, name: str = "", context: str = "", depth: int = 0) -> Any:
    if not isinstance(schema, dict) or depth > 6:
        return sentence(seed, 4)
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        return schema["enum"][seed % len(schema["enum"])]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        alts = schema.get(key)
        if isinstance(alts, list) and alts:
            non_null = [a for a in alts if not (isinstance(a, dict) and a.get("type") == "null")]
            return value_for_schema((non_null or alts)[0], seed, name, context, depth + 1)
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "string")
    if isinstance(typ, str):
        typ = typ.lower()  # Gemini uses upper-case OpenAPI types
    if typ is None:
        typ = "object" if "properties" in schema else "string"
    if typ == "object":
        props = schema.get("properties") or {}
        required = schema.get("required")
        keys = list(props.keys()) if required is None else [k for k in props if k in required] or list(props)
        return {k: value_for_schema(props[k], seed + i * 7919, k, context, depth + 1) for i, k in enumerate(keys)}
    if typ == "array":
        items = schema.get("items") or {"type": "string"}
        count = max(1, int(schema.get("minItems") or 1))
        return [value_for_schema(items, seed + i, name, context, depth + 1) for i in range(min(count, 3))]
    if typ == "integer":
        lo = schema.get("minimum", 1)
        return int(lo) + seed % 10
    if typ == "number":
        lo = schema.get("minimum", 1)
        return float(lo) + (seed % 100) / 10
    if typ == "boolean":
        return bool(seed % 2)
    lname = name.lower()
    if any(k in lname for k in ("location", "city", "place", "where")):
        return guess_location(context) or _CITIES[seed % len(_CITIES)]
    if "unit" in lname:
        return "celsius"
    if "date" in lname:
        return "2025-01-15"
    return sentence(seed, 5)


def tool_arguments(schema: Any, seed: int, context: str) -> str:
    if not isinstance(schema, dict) or not schema:
        schema = {"type": "object", "properties": {}}
    value = value_for_schema(schema, seed, "", context)
    if not isinstance(value, dict):
        value = {"value": value}
    return orjson.dumps(value).decode()


def json_answer(schema: Any, seed: int, context: str, n_words: int) -> str:
    """Valid JSON text; follows ``schema`` when given, else {"answer": ...}."""
    if isinstance(schema, dict) and schema:
        value = value_for_schema(schema, seed, "", context)
    else:
        value = {"answer": "".join(pieces(seed, max(3, n_words)))}
    return orjson.dumps(value).decode()


def flatten_text(value: Any, out: list[str]) -> int:
    """Collect all string leaves from a JSON-ish structure; returns count of media parts."""
    media = 0
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            media += flatten_text(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            media += flatten_text(v, out)
    return media


def join_texts(texts: Iterable[str]) -> str:
    return "\n".join(t for t in texts if t)


# --------------------------------------------------------------------------
# Generation plan shared by all text protocols
# --------------------------------------------------------------------------


class Tool:
    __slots__ = ("description", "name", "parameters")

    def __init__(self, name: str, description: str = "", parameters: Any = None):
        self.name = name
        self.description = description or ""
        self.parameters = parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}}


class ToolCall:
    __slots__ = ("arguments", "name", "pieces")

    def __init__(self, name: str, arguments: str):
        self.name = name
        self.arguments = arguments
        self.pieces = chunk_text(arguments, 4) or [""]


class Plan:
    """What the simulated model answers, with token accounting.

    ``output_tokens`` = visible pieces + tool-call argument pieces + reasoning.
    """

    __slots__ = (
        "cached_tokens",
        "finish",
        "pieces",
        "prompt_tokens",
        "reasoning_pieces",
        "reasoning_tokens",
        "seed",
        "tool_calls",
    )

    def __init__(self) -> None:
        self.seed = 0
        self.prompt_tokens = 0
        self.cached_tokens = 0
        self.pieces: list[str] = []
        self.tool_calls: list[ToolCall] = []
        self.reasoning_tokens = 0
        self.reasoning_pieces: list[str] = []
        self.finish = "stop"  # stop | length | tool_calls

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning_pieces)

    @property
    def tool_tokens(self) -> int:
        return sum(len(tc.pieces) for tc in self.tool_calls)

    @property
    def output_tokens(self) -> int:
        return len(self.pieces) + self.tool_tokens + self.reasoning_tokens


def default_cached(prompt_tokens: int) -> int:
    """Deterministic prompt-cache hit: half of prompts >= 1024 tokens, 128-aligned."""
    if prompt_tokens < 1024:
        return 0
    return (prompt_tokens // 2) // 128 * 128


def pick_tool(tools: list[Tool], last_user: str, tool_choice: Any, tool_result_last: bool) -> Tool | None:
    """tool_choice: 'auto' | 'none' | 'required' | {'name': ...} (normalised)."""
    if not tools or tool_choice == "none":
        return None
    if isinstance(tool_choice, dict) and tool_choice.get("name"):
        for t in tools:
            if t.name == tool_choice["name"]:
                return t
        return tools[0]
    weather = next((t for t in tools if "weather" in (t.name + " " + t.description).lower()), None)
    if tool_choice == "required":
        return weather or tools[0]
    if tool_result_last:
        return None
    if "weather" in last_user.lower():
        return weather or tools[0]
    return None


def make_plan(
    *,
    model: str,
    prompt_text: str,
    prompt_tokens: int,
    last_user: str,
    max_tokens: Any,
    faults: Any,
    tools: list[Tool] | None = None,
    tool_choice: Any = "auto",
    tool_result_last: bool = False,
    json_schema: Any = None,
    json_mode: bool = False,
    reasoning_tokens: int = 0,
    reasoning_visible: bool = False,
    choice_index: int = 0,
) -> Plan:
    p = Plan()
    p.seed = seed_of(model, prompt_text) + choice_index * 104729
    p.prompt_tokens = max(1, prompt_tokens)
    p.cached_tokens = faults.cached if faults.cached is not None else default_cached(p.prompt_tokens)
    p.cached_tokens = max(0, min(p.cached_tokens, p.prompt_tokens))
    cap = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None

    tool = pick_tool(tools or [], last_user, tool_choice, tool_result_last)
    if tool is not None:
        p.tool_calls.append(ToolCall(tool.name, tool_arguments(tool.parameters, p.seed, last_user)))
        p.finish = "tool_calls"
    else:
        n = faults.tokens if faults.tokens is not None else default_output_tokens(p.seed, last_user or prompt_text)
        if faults.empty:
            n = 0
        if json_mode or json_schema:
            p.pieces = chunk_text(json_answer(json_schema, p.seed, last_user, max(3, n // 2)), 4) if n else []
        elif faults.tokens is None:
            p.pieces = whole_sentences(p.seed, n)
        else:
            p.pieces = pieces(p.seed, n)

    p.reasoning_tokens = max(0, reasoning_tokens)
    if cap is not None:
        if p.reasoning_tokens >= cap:
            p.reasoning_tokens = cap
            p.pieces = []
            p.finish = "length"
        elif p.tool_calls:
            pass
        elif len(p.pieces) > cap - p.reasoning_tokens:
            p.pieces = p.pieces[: cap - p.reasoning_tokens]
            p.finish = "length"
    if p.reasoning_tokens and reasoning_visible:
        # Visible thinking text; its length is the reasoning token count (max 256
        # pieces are materialised, the rest is "hidden" but still billed).
        p.reasoning_pieces = pieces(p.seed ^ 0x5EED, min(p.reasoning_tokens, 256))
    return p
