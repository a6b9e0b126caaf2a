"""Fault injection options.

Faults come from the ``X-Sim-Fault`` request header (``k=v;k=v``) and/or from
the model name (``model::k=v,k=v``).  Both sources are merged; the header wins
on conflicts.  The ``::...`` suffix is stripped from the model name the
simulator echoes back.
"""

from __future__ import annotations

HEADER = "x-sim-fault"

_INT_KEYS = {
    "status",
    "delay_ms",
    "reset_after",
    "duration_ms",
    "poll_429",
    "tokens",
    "cached",
    "retry_after",
    "error_after",
    "times",
}
_FLOAT_KEYS = {"tokens_per_s"}
_BOOL_KEYS = {"malformed", "no_usage", "sse_always", "stall", "empty", "fail"}
KNOWN_KEYS = _INT_KEYS | _FLOAT_KEYS | _BOOL_KEYS


class Faults:
    __slots__ = (
        "cached",
        "delay_ms",
        "duration_ms",
        "empty",
        "error_after",
        "fail",
        "malformed",
        "no_usage",
        "poll_429",
        "reset_after",
        "retry_after",
        "spec",
        "sse_always",
        "stall",
        "status",
        "times",
        "tokens",
        "tokens_per_s",
    )

    def __init__(self) -> None:
        self.status: int | None = None
        self.delay_ms: int = 0
        self.tokens_per_s: float = 0.0
        self.reset_after: int | None = None
        self.malformed: bool = False
        self.no_usage: bool = False
        self.sse_always: bool = False
        self.duration_ms: int | None = None
        self.stall: bool = False
        self.empty: bool = False
        self.poll_429: int = 0
        self.tokens: int | None = None
        self.fail: bool = False
        self.cached: int | None = None
        self.retry_after: int | None = None
        self.error_after: int | None = None
        self.times: int | None = None
        self.spec: str = ""

    def update(self, opts: dict[str, str]) -> None:
        for key, raw in opts.items():
            if key not in KNOWN_KEYS:
                continue
            try:
                if key in _INT_KEYS:
                    val: object = int(float(raw))
                elif key in _FLOAT_KEYS:
                    val = float(raw)
                else:
                    val = raw.strip().lower() not in ("0", "false", "no", "off", "")
            except ValueError:
                continue
            setattr(self, key, val)

    @property
    def paced(self) -> bool:
        return self.tokens_per_s > 0

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__ if k != "spec"}


def parse_options(text: str) -> dict[str, str]:
    opts: dict[str, str] = {}
    for part in text.replace(",", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            k, v = part.split("=", 1)
        else:
            k, v = part, "1"
        opts[k.strip().lower()] = v.strip()
    return opts


def split_model(model: str) -> tuple[str, dict[str, str]]:
    """``"gpt-5::status=503,delay_ms=10"`` -> ``("gpt-5", {...})``."""
    if not isinstance(model, str) or "::" not in model:
        return model, {}
    base, _, rest = model.partition("::")
    return base, parse_options(rest)


def collect(header_value: str | None, model_opts: dict[str, str] | None = None) -> Faults:
    f = Faults()
    if model_opts:
        f.update(model_opts)
    if header_value:
        f.update(parse_options(header_value))
    if model_opts or header_value:
        f.spec = f"{sorted(model_opts.items()) if model_opts else ''}|{header_value or ''}"
    return f
