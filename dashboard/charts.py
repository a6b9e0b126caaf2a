"""Small server-rendered SVG bar charts: no chart library, no JavaScript.
Colours come from the stylesheet (classes), so charts follow the theme."""

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 560, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 6, 12, 28


def nice_ceiling(value) -> Decimal:
    """The smallest 1, 2 or 5 × 10^k at or above a positive value (1 for
    anything not positive): 0.036 → 0.05, 7 → 10, 1001 → 2000."""
    value = Decimal(value)
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(1).scaleb(value.adjusted())
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return (step * magnitude).normalize()
    return (10 * magnitude).normalize()


def compact(value: Decimal | int) -> str:
    value = Decimal(value)
    for limit, suffix in ((Decimal(1_000_000_000), "B"), (Decimal(1_000_000), "M"), (Decimal(1000), "k")):
        if abs(value) >= limit:
            return f"{(value / limit).normalize():f}".rstrip(".")[:5].rstrip(".") + suffix
    if value == value.to_integral_value():
        return f"{int(value)}"
    if abs(value) < 1:  # three significant digits: 0.025, 0.00125
        value = value.quantize(Decimal(1).scaleb(value.adjusted() - 2))
        return f"{value.normalize():f}"
    return f"{value.quantize(Decimal('0.01'))}".rstrip("0").rstrip(".")


def bar_chart(
    points: Sequence[tuple[date, int]],
    *,
    label: str,
    scale: int = 1,
    tooltip: Callable[[int], str] = str,
) -> SafeString:
    """Vertical bars, one per day. `scale` divides values for the axis
    (micro-credits → credits); `tooltip` formats a raw value for hover."""
    if not points:
        return mark_safe('<div class="chart-empty">No data</div>')
    # The axis top in display units (credits), then back in raw units.
    top_units = nice_ceiling(Decimal(max(v for _, v in points)) / scale)
    top = top_units * scale
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(points)
    bar_w = max(min(slot * 0.7, 24), 1.5)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
        'preserveAspectRatio="xMidYMid meet">'
    ]
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - fraction)
        tick = top_units * Decimal(str(fraction))
        parts.append(f'<line class="grid-line" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis-label" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{compact(tick)}</text>'
        )
    every = max(1, round(len(points) / 6))
    for i, (day, value) in enumerate(points):
        x = PAD_LEFT + slot * i + (slot - bar_w) / 2
        h = float(plot_h * Decimal(value) / top)
        if value > 0:
            h = max(h, 1.5)
        y = PAD_TOP + plot_h - h
        tip = escape(f"{day:%b %-d}: {tooltip(value)}")
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" rx="2">'
            f"<title>{tip}</title></rect>"
        )
        last = i == len(points) - 1
        if i % every == 0 or (last and i % every >= every / 2):
            cx = PAD_LEFT + slot * i + slot / 2
            # Edge labels hang inwards so they are not clipped.
            anchor = "start" if i == 0 else ("end" if last else "middle")
            x_text = PAD_LEFT if i == 0 else (WIDTH - PAD_RIGHT if last else cx)
            parts.append(
                f'<text class="axis-label" x="{x_text:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">{day:%b %-d}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every interpolated text is escaped or numeric)
