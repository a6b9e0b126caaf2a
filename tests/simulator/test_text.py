"""Deterministic text generation and token accounting (pure unit tests)."""

from __future__ import annotations

import json

from simulator import text as T
from simulator.faults import Faults


def test_count_tokens():
    assert T.count_tokens("") == 0
    assert T.count_tokens("a") == 1
    assert T.count_tokens("abcd") == 1
    assert T.count_tokens("abcde") == 2


def test_pieces_deterministic_and_sentence_aligned():
    a = T.pieces(42, 30)
    assert a == T.pieces(42, 30)
    assert len(a) == 30
    assert a[0][0].isupper() and not a[0].startswith(" ")
    ws = T.whole_sentences(42, 30)
    assert ws[-1] in (".", "!")
    assert 22 <= len(ws) <= 60


def test_default_lengths():
    lens = [T.default_output_tokens(T.seed_of(str(i)), "q") for i in range(200)]
    assert min(lens) >= 20 and max(lens) <= 40
    assert T.default_output_tokens(5, "please give a LONG ANSWER") >= 300


def test_plan_caps_and_reasoning():
    f = Faults()
    p = T.make_plan(
        model="gpt-5-codex",
        prompt_text="x",
        prompt_tokens=1,
        last_user="x",
        max_tokens=130,
        faults=f,
        reasoning_tokens=T.reasoning_tokens_for("gpt-5-codex", None),
    )
    assert p.reasoning_tokens == 128
    assert len(p.pieces) == 2 and p.finish == "length"
    assert p.output_tokens == 130
    p2 = T.make_plan(
        model="m",
        prompt_text="x",
        prompt_tokens=1,
        last_user="x",
        max_tokens=100,
        faults=f,
        reasoning_tokens=500,
    )
    assert p2.reasoning_tokens == 100 and p2.pieces == [] and p2.finish == "length"


def test_tool_arguments_follow_schema():
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1},
            "metric": {"type": "boolean"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "opt": {"type": "string"},
        },
        "required": ["city", "days", "metric", "kind"],
    }
    args = json.loads(T.tool_arguments(schema, 3, "What's the weather in New York City today?"))
    assert set(args) == {"city", "days", "metric", "kind"}
    assert args["city"] == "New York City"
    assert isinstance(args["days"], int) and args["days"] >= 1
    assert isinstance(args["metric"], bool)
    assert args["kind"] in ("a", "b")


def test_json_answer_valid():
    assert "answer" in json.loads(T.json_answer(None, 1, "", 10))
    nested = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "number"}}}}
        },
    }
    data = json.loads(T.json_answer(nested, 9, "", 10))
    assert isinstance(data["items"][0]["n"], float)
