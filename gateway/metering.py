"""Token usage, what it costs, and the worst case a request can reach.

Money is integer micro-credits; rates are µcr per million tokens, so a cost
is a sum of tokens × rate divided by a million, rounded up to the next whole
micro-credit (never a fraction given away, never a float).
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.selectors import ModelView, PriceView

CHARS_PER_TOKEN = 4
# Request bodies are JSON with markup around the text; a third of the bytes
# over-estimates the prompt's tokens for the hold, which is what a hold is for.
BODY_BYTES_PER_TOKEN = 3


@dataclass(slots=True)
class Usage:
    """Normalised usage. input_tokens includes cached ones; output_tokens
    includes reasoning ones (both as every provider bills them)."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict:
        return {
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "estimated": self.estimated,
        }


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def usage_cost_micros(*, usage: Usage, price: PriceView | None) -> int:
    if price is None:
        return 0
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    scaled = (
        (usage.input_tokens - cached) * price.input_per_mtok_micros
        + cached * price.cached_input_per_mtok_micros
        + usage.output_tokens * price.output_per_mtok_micros
    )
    cost = _ceil_div(scaled, 1_000_000)
    if cost > 0:
        cost = max(cost, price.minimum_charge_micros)
    return cost


def worst_case_micros(
    *, model: ModelView, price: PriceView | None, body_bytes: int, max_output_tokens: int | None, choices: int = 1
) -> int:
    """What the request can cost at most: every byte of the body a prompt
    token, and the most output the request (or the model) allows."""
    if price is None:
        return 0
    input_tokens = body_bytes // BODY_BYTES_PER_TOKEN + 1
    if model.context_window:
        input_tokens = min(input_tokens, model.context_window)
    output_tokens = max_output_tokens or model.max_output_tokens or 0
    if model.max_output_tokens:
        output_tokens = min(output_tokens, model.max_output_tokens)
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens * max(choices, 1))
    return usage_cost_micros(usage=usage, price=price)


def tokens_from_chars(chars: int) -> int:
    return _ceil_div(chars, CHARS_PER_TOKEN) if chars > 0 else 0


# Keys whose string values are markup, not prompt text.
_NON_TEXT_KEYS = frozenset(
    {
        "model",
        "role",
        "type",
        "id",
        "call_id",
        "tool_call_id",
        "mimeType",
        "mime_type",
        "detail",
        "stream",
        "tool_choice",
        "status",
        "signature",
        "data",
        "url",
        "image_url",
        "fileUri",
        "file_data",
        "cache_control",
    }
)


def prompt_chars(value, key: str | None = None) -> int:
    """Characters of prompt text in a request body, for an estimate when the
    upstream never reported usage."""
    if isinstance(value, str):
        return 0 if key in _NON_TEXT_KEYS else len(value)
    if isinstance(value, dict):
        return sum(prompt_chars(v, k) for k, v in value.items())
    if isinstance(value, list):
        return sum(prompt_chars(v, key) for v in value)
    return 0
