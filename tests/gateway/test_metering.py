from datetime import UTC, datetime

from catalog.selectors import ModelView, PriceView
from gateway.metering import Usage, prompt_chars, usage_cost_micros, worst_case_micros

PRICE = PriceView(
    price_id=1,
    effective_from=datetime(2026, 1, 1, tzinfo=UTC),
    input_per_mtok_micros=125_000_000,  # 125 credits per million tokens
    cached_input_per_mtok_micros=12_500_000,
    output_per_mtok_micros=1_000_000_000,
    unit_price_micros=0,
    minimum_charge_micros=0,
    fast_surcharge_micros=0,
)


def model(**kw) -> ModelView:
    defaults = {
        "slug": "m",
        "display_name": "m",
        "kind": "chat",
        "family": "openai",
        "endpoints": frozenset(),
        "pricing_unit": "per_mtok",
        "max_output_tokens": 1000,
        "context_window": 5000,
        "options": {},
        "description": "",
        "routes": (),
    }
    return ModelView(**{**defaults, **kw})


def test_cost_splits_cached_input_and_rounds_up():
    usage = Usage(input_tokens=1000, cached_input_tokens=400, output_tokens=3)
    # 600 × 125 + 400 × 12.5 + 3 × 1000 credits per million tokens, in µcr.
    assert usage_cost_micros(usage=usage, price=PRICE) == 75_000 + 5_000 + 3_000
    assert usage_cost_micros(usage=Usage(input_tokens=1), price=PRICE) == 125
    assert usage_cost_micros(usage=Usage(output_tokens=1), price=PRICE) == 1_000


def test_cost_never_rounds_to_free_and_minimum_applies():
    cheap = PriceView(**{f: getattr(PRICE, f) for f in PRICE.__slots__} | {"input_per_mtok_micros": 1})
    assert usage_cost_micros(usage=Usage(input_tokens=1), price=cheap) == 1
    assert usage_cost_micros(usage=Usage(), price=cheap) == 0
    floor = PriceView(**{f: getattr(PRICE, f) for f in PRICE.__slots__} | {"minimum_charge_micros": 50_000})
    assert usage_cost_micros(usage=Usage(input_tokens=1), price=floor) == 50_000
    assert usage_cost_micros(usage=Usage(), price=floor) == 0


def test_worst_case_uses_the_smaller_output_limit_and_choices():
    m = model()
    assert worst_case_micros(model=m, price=PRICE, body_bytes=300, max_output_tokens=None) == (
        usage_cost_micros(usage=Usage(input_tokens=101, output_tokens=1000), price=PRICE)
    )
    assert worst_case_micros(model=m, price=PRICE, body_bytes=300, max_output_tokens=10, choices=3) == (
        usage_cost_micros(usage=Usage(input_tokens=101, output_tokens=30), price=PRICE)
    )
    # The prompt estimate never exceeds the context window.
    huge = worst_case_micros(model=m, price=PRICE, body_bytes=10**9, max_output_tokens=1)
    assert huge == usage_cost_micros(usage=Usage(input_tokens=5000, output_tokens=1), price=PRICE)


def test_prompt_chars_counts_text_not_markup():
    body = {
        "model": "gpt-5",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "abcd"}, {"type": "image_url", "image_url": {"url": "data:xx"}}],
            },
            {"role": "assistant", "content": "efgh"},
        ],
    }
    assert prompt_chars(body) == 8
