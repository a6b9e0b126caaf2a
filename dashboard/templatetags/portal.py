"""Template helpers for the portal: money formatting (exact, from integer
micro-credits), inline SVG icons and navigation state."""

from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from billing.models import MICROS_PER_CREDIT

register = template.Library()

_MICROS = Decimal(MICROS_PER_CREDIT)
_MICROS_PER_DOLLAR = Decimal(MICROS_PER_CREDIT * 100)


def _to_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _group(amount: Decimal, places: int) -> str:
    quantum = Decimal(1).scaleb(-places)
    return f"{amount.quantize(quantum, rounding=ROUND_HALF_UP):,.{places}f}"


@register.filter
def credits(micros) -> str:
    """Micro-credits as credits: two decimals, more for tiny non-zero amounts
    (a single request can cost a fraction of a credit)."""
    micros = _to_int(micros)
    if micros is None:
        return ""
    sign = "−" if micros < 0 else ""
    amount = abs(Decimal(micros)) / _MICROS
    if micros and amount < 1:
        # Up to six decimals, trailing zeros dropped, at least two.
        text = f"{amount:.6f}".rstrip("0")
        whole, _, frac = text.partition(".")
        return f"{sign}{whole}.{frac.ljust(2, '0')}"
    return sign + _group(amount, 2)


@register.filter
def signed_credits(micros) -> str:
    micros = _to_int(micros)
    if micros is None:
        return ""
    text = credits(abs(micros))
    return f"+{text}" if micros > 0 else (f"−{text}" if micros < 0 else text)


@register.filter
def usd(micros) -> str:
    """Micro-credits as US dollars (100 credits = $1), to the cent."""
    micros = _to_int(micros)
    if micros is None:
        return ""
    amount = Decimal(micros) / _MICROS_PER_DOLLAR
    sign = "−" if amount < 0 else ""
    return f"{sign}${_group(abs(amount), 2)}"


@register.filter
def cents_usd(cents) -> str:
    cents = _to_int(cents)
    if cents is None:
        return ""
    return f"${_group(Decimal(cents) / 100, 2)}"


@register.filter
def plain_credits(micros) -> str:
    """A price in credits without needless decimals (125, 0.5, 12.75)."""
    micros = _to_int(micros)
    if micros is None:
        return ""
    amount = (Decimal(micros) / _MICROS).normalize()
    text = f"{amount:f}"
    if "." in text and len(text.split(".")[1]) < 2:
        text = f"{amount:.2f}"
    whole, dot, frac = text.partition(".")
    return f"{int(whole):,}{dot}{frac}"


@register.filter
def inline_code(text) -> str:
    """Escape text, then show `backticked` parts as code."""
    parts = str(text).split("`")
    return mark_safe(  # noqa: S308 (every part is escaped)
        "".join(format_html("<code>{}</code>", part) if i % 2 else escape(part) for i, part in enumerate(parts))
    )


@register.filter
def thousands(value) -> str:
    value = _to_int(value)
    return "" if value is None else f"{value:,}"


@register.simple_tag(takes_context=True)
def nav_active(context, *names: str) -> str:
    match = getattr(context.get("request"), "resolver_match", None)
    return "active" if match is not None and match.url_name in names else ""


# Icons: 24×24 stroke paths drawn for this project.
_ICONS = {
    "home": "M3 10.5 12 3l9 7.5V20a1 1 0 0 1-1 1h-5v-6H9v6H4a1 1 0 0 1-1-1z",
    "key": "M14.5 9.5a5 5 0 1 1-2.2-4.15M12 12l9-9m-4 4 2.5 2.5M14.5 4.5 17 7",
    "chart": "M3 21h18M6 17v-6m5 6V5m5 12v-9m5 9v-3",
    "layers": "M12 3 2 8l10 5 10-5-10-5zM2 13l10 5 10-5M2 17.5l10 5 10-5",
    "receipt": "M6 2.5h12v19l-3-2-3 2-3-2-3 2zM9 7.5h6M9 11.5h6M9 15.5h3.5",
    "plus": "M12 5v14M5 12h14",
    "plus-circle": "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM12 8v8M8 12h8",
    "book": (
        "M4 4.5A1.5 1.5 0 0 1 5.5 3H11a2 2 0 0 1 2 2v16a2 2 0 0 0-2-2H4z"
        "M20 4.5A1.5 1.5 0 0 0 18.5 3H15a2 2 0 0 0-2 2v16a2 2 0 0 1 2-2h5z"
    ),
    "logout": "M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9",
    "menu": "M3 6h18M3 12h18M3 18h18",
    "check": "M20 6 9 17l-5-5",
    "check-circle": "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM8 12.5l2.5 2.5L16 9.5",
    "alert": "M12 3 2 20h20L12 3zM12 10v4M12 17h.01",
    "info": "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM12 11v6M12 7.5h.01",
    "x-circle": "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM9 9l6 6M15 9l-6 6",
    "copy": "M9 9h11v11H9zM5 15H4V4h11v1",
    "external": "M14 4h6v6M20 4l-9 9M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5",
    "zap": "M13 2 4 14h7l-1 8 9-12h-7z",
    "shield": "M12 3 4 6v6c0 5 3.5 8 8 9 4.5-1 8-4 8-9V6z",
    "globe": (
        "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM3 12h18"
        "M12 3c2.5 2.6 3.8 5.6 3.8 9S14.5 18.4 12 21c-2.5-2.6-3.8-5.6-3.8-9S9.5 5.6 12 3z"
    ),
    "clock": "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM12 7v5l3 2",
    "refresh": "M20 11a8 8 0 0 0-14.3-4.9L4 8M4 4v4h4M4 13a8 8 0 0 0 14.3 4.9L20 16M20 20v-4h-4",
    "download": "M12 3v12M7 10l5 5 5-5M4 21h16",
    "card": "M3 5h18v14H3zM3 10h18M7 15h3",
    "trash": "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
    "wallet": "M3 7a2 2 0 0 1 2-2h13v4M3 7v11a2 2 0 0 0 2 2h15V9H5a2 2 0 0 1-2-2zM16 14.5h.01",
    "terminal": "M4 17l6-5-6-5M12 19h8",
    "webhook": "M9 15a3 3 0 1 1-3-3M15 9a3 3 0 1 1 3 3M12 6a3 3 0 1 1-2 5.2L7 17M17 18h-6.5M12 6l3.5 6",
}


@register.simple_tag
def icon(name: str, css_class: str = "") -> str:
    path = _ICONS.get(name)
    if path is None:
        return ""
    return format_html(
        '<svg class="icon {}" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" '
        'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="{}"/></svg>',
        css_class,
        mark_safe(path),  # noqa: S308 (constant from this module)
    )
