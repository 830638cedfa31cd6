"""Charts as plain SVG, drawn on the server: no JavaScript, nothing from a CDN.

Every element is built with ``format_html`` (so every label is escaped) and styled with SVG
attributes only: the Content Security Policy allows no inline ``style``. Each chart is an
``<svg role="img">`` named by its ``<title>`` and described by its ``<desc>``; its numbers
come with it as a table (``Chart.columns`` and ``Chart.rows``) that the page shows in a
``<details>`` for screen readers and for anyone who wants the figures.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.utils.formats import date_format
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from integration_console.sync.failures import FailureKind

from .selectors import KIND_LABELS, Backlog, DailyFlow, ResolveTimes

# One colour per failure kind, the same in every chart (Tableau 10, told apart by most
# colour-blind readers; each segment also names its kind in its tooltip and the table).
KIND_COLOURS = {
    FailureKind.CONTRACT_DRIFT: "#b07aa1",
    FailureKind.MAPPING_ERROR: "#edc948",
    FailureKind.INVALID: "#4e79a7",
    FailureKind.CONFLICT: "#ff9da7",
    FailureKind.POSSIBLE_DUPLICATE: "#76b7b2",
    FailureKind.TARGET_REJECTED: "#e15759",
    FailureKind.ALREADY_EXISTS: "#59a14f",
    FailureKind.RETRIES_EXHAUSTED: "#f28e2b",
    FailureKind.SOURCE_UNAVAILABLE: "#9c755f",
    FailureKind.INTERNAL_ERROR: "#3d3d3d",
}
OTHER_COLOUR = "#bab0ac"
SINGLE_COLOUR = "#4e79a7"

WIDTH = 640
HEIGHT = 240
MARGIN_LEFT = 44
MARGIN_RIGHT = 8
MARGIN_TOP = 24
MARGIN_BOTTOM = 26


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    values: Sequence[float]


@dataclass(frozen=True)
class Chart:
    """An SVG chart with its legend, a one-line summary, and its numbers as a table."""

    id: str
    title: str
    summary: str
    svg: SafeString
    legend: SafeString
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    figure: str = ""  # the one number the chart comes to, where there is one


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    category_titles: Sequence[str] | None = None,
    format_value: Callable[[float], str] = lambda value: f"{value:g}",
    format_tick: Callable[[float], str] = lambda value: f"{value:g}",
    tooltip: Callable[[int, Series, float], str] | None = None,
    axis_label: str = "",
    label_every: int = 1,
    show_totals: bool = False,
    y_max: float | None = None,
    whole: bool = True,
    reference: tuple[float, str] | None = None,
    empty_text: str = "Nothing to show",
) -> SafeString:
    """Vertical bars, one per category, stacked by series. ``label_every`` labels every n-th
    category counted back from the last (so the latest is always named); ``y_max`` shares one
    scale between charts; ``whole``: the values are counts, ticked in whole numbers;
    ``category_titles`` are the longer names the tooltips use, and ``tooltip(i, series,
    value)`` words a bar's tooltip otherwise; ``reference`` is a value and its label, drawn
    as a dashed line across the bars (an average, say)."""
    category_titles = category_titles or categories
    if tooltip is None:

        def tooltip(i: int, s: Series, value: float) -> str:
            return f"{category_titles[i]}: {format_value(value)} {s.label}"

    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    ticks = nice_ticks(max([*totals, y_max or 0, reference[0] if reference else 0]), whole=whole)
    top = ticks[-1]
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    baseline = MARGIN_TOP + plot_height

    def y(value: float) -> float:
        return baseline - value / top * plot_height

    parts: list[SafeString] = [
        format_html('<title id="{}-title">{}</title>', chart_id, title),
        format_html('<desc id="{}-desc">{}</desc>', chart_id, description),
    ]
    # The grid and the value axis.
    for tick in ticks:
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="currentColor" '
                'stroke-opacity="{}" stroke-width="1"/>'
                '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle" '
                'font-size="11" fill="currentColor" fill-opacity="0.7">{}</text>',
                MARGIN_LEFT,
                WIDTH - MARGIN_RIGHT,
                _n(y(tick)),
                _n(y(tick)),
                "0.35" if tick == 0 else "0.12",
                MARGIN_LEFT - 6,
                _n(y(tick)),
                format_tick(tick),
            )
        )
    if axis_label:
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="11" fill="currentColor" fill-opacity="0.7">'
                "{}</text>",
                MARGIN_LEFT - 36,
                MARGIN_TOP - 12,
                axis_label,
            )
        )
    colours = [escape(s.colour) for s in series]
    band = plot_width / max(len(categories), 1)
    bar = max(band * 0.72, 1)
    last = len(categories) - 1
    for i, category in enumerate(categories):
        x = MARGIN_LEFT + i * band + (band - bar) / 2
        stacked = 0.0
        for k, s in enumerate(series):
            value = s.values[i]
            if not value:
                continue
            # The commonest element by far (a bar per day and kind): written directly, its
            # numbers as _n writes them, its colour escaped once and its tooltip escaped.
            parts.append(
                mark_safe(
                    f'<rect x="{_n(x)}" y="{_n(y(stacked + value))}" width="{_n(bar)}" '
                    f'height="{_n(y(stacked) - y(stacked + value))}" fill="{colours[k]}">'
                    f"<title>{escape(tooltip(i, s, value))}</title></rect>"
                )
            )
            stacked += value
        if show_totals and totals[i]:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle" font-size="12" '
                    'font-weight="600" fill="currentColor">{}</text>',
                    _n(x + bar / 2),
                    _n(y(totals[i]) - 4),
                    format_value(totals[i]),
                )
            )
        if (last - i) % label_every == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle" font-size="11" '
                    'fill="currentColor" fill-opacity="0.8">{}</text>',
                    _n(x + bar / 2),
                    baseline + 16,
                    category,
                )
            )
    if reference is not None and any(totals):
        # The line across the bars, and its key above the plot's top right corner.
        key_y = MARGIN_TOP - 12
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="currentColor" stroke-width="1.5" '
                'stroke-dasharray="5 4" stroke-opacity="0.8"/>'
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="currentColor" stroke-width="1.5" '
                'stroke-dasharray="5 4" stroke-opacity="0.8"/>'
                '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle" font-size="11" '
                'fill="currentColor">{}</text>',
                MARGIN_LEFT,
                WIDTH - MARGIN_RIGHT,
                _n(y(reference[0])),
                _n(y(reference[0])),
                WIDTH - MARGIN_RIGHT - 24,
                WIDTH - MARGIN_RIGHT,
                key_y,
                key_y,
                WIDTH - MARGIN_RIGHT - 30,
                key_y,
                reference[1],
            )
        )
    if not any(totals):
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="13" fill="currentColor" '
                'fill-opacity="0.6">{}</text>',
                _n(MARGIN_LEFT + plot_width / 2),
                _n(MARGIN_TOP + plot_height / 2),
                empty_text,
            )
        )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" '
        'class="ops-chart" role="img" aria-labelledby="{}-title" aria-describedby="{}-desc" '
        'id="{}">{}</svg>',
        WIDTH,
        HEIGHT,
        chart_id,
        chart_id,
        chart_id,
        mark_safe("".join(parts)),  # each part was built with format_html
    )


def legend(series: Sequence[Series]) -> SafeString:
    """The series' colours and names, as an HTML list under a chart."""
    return format_html_join(
        "",
        '<li><svg width="12" height="12" aria-hidden="true" focusable="false">'
        '<rect width="12" height="12" rx="2" fill="{}"/></svg> {}</li>',
        ((s.colour, s.label) for s in series),
    )


def nice_ticks(maximum: float, *, at_most: int = 5, whole: bool = False) -> list[float]:
    """Tick values from 0 to a round number at or above ``maximum``, in steps of 1, 2, 2.5 or
    5 times a power of ten (never less than 1 for an all-zero chart). ``whole``: counts, so
    whole steps only (no 2.5 items)."""
    if maximum <= 0:
        return [0, 1]
    rough = maximum / at_most
    power = 10 ** math.floor(math.log10(rough))
    steps = [m * power for m in (1, 2, 2.5, 5, 10)]
    if whole:
        steps = [step for step in steps if step >= 1 and step == int(step)] or [1]
    step = next((step for step in steps if step >= rough), steps[-1])
    count = math.ceil(maximum / step - 1e-9)
    return [round(step * i, 10) for i in range(count + 1)]


# --- the overview's charts ------------------------------------------------------------------


def overview_charts(overview: dict[str, Any]) -> dict[str, Chart]:
    daily: DailyFlow = overview["daily"]
    return {
        "opened": opened_per_day_chart(daily),
        "closed": closed_per_day_chart(daily),
        "backlog": backlog_age_chart(overview["backlog"]),
        "resolve": time_to_resolve_chart(overview["resolve_times"]),
    }


def opened_per_day_chart(daily: DailyFlow) -> Chart:
    return _per_day_chart(
        daily,
        daily.opened,
        chart_id="chart-opened",
        title="Items opened per day",
        verb="opened",
    )


def closed_per_day_chart(daily: DailyFlow) -> Chart:
    return _per_day_chart(
        daily,
        daily.closed,
        chart_id="chart-closed",
        title="Items closed per day",
        verb="closed (resolved or dismissed)",
    )


def backlog_age_chart(backlog: Backlog) -> Chart:
    series = _kind_series(backlog.kinds, backlog.counts)
    totals = backlog.totals
    total = backlog.total
    description = (
        f"Items needing attention by how long ago their record first failed: {total} in all. "
        + "; ".join(
            f"{label}: {count}" for label, count in zip(backlog.buckets, totals, strict=True)
        )
        + "."
    )
    return Chart(
        id="chart-backlog",
        title="Backlog by age",
        summary=f"{total} items need attention",
        svg=bar_chart(
            chart_id="chart-backlog",
            title="Backlog by age",
            description=description,
            categories=backlog.buckets,
            series=series,
            axis_label="items",
            show_totals=True,
            empty_text="Nothing needs attention",
        ),
        legend=legend(series),
        columns=["Age", *(s.label for s in series), "Total"],
        rows=[
            [label, *(backlog.counts[kind][i] for kind in backlog.kinds), totals[i]]
            for i, label in enumerate(backlog.buckets)
        ],
    )


def time_to_resolve_chart(times: ResolveTimes) -> Chart:
    known = [m for m in times.medians if m is not None]
    unit_name, unit = duration_unit(max(known, default=timedelta(0)))
    values = [m / unit if m is not None else 0 for m in times.medians]
    series = [Series("median", SINGLE_COLOUR, values)]
    overall = format_duration(times.overall) if times.overall is not None else "none resolved"
    description = (
        f"Median time from an item's first failure to its resolution, per day it was "
        f"resolved, over the last {len(times.days)} days: {overall} over "
        f"{times.resolved_total} resolved items. Days without a resolution have no bar."
    )
    return Chart(
        id="chart-resolve",
        title="Median time to resolve",
        summary=f"{overall} over {len(times.days)} days"
        if times.overall is not None
        else f"Nothing resolved in {len(times.days)} days",
        svg=bar_chart(
            chart_id="chart-resolve",
            title="Median time to resolve, per day",
            description=description,
            categories=[_short_day(day) for day in times.days],
            category_titles=[_long_day(day) for day in times.days],
            series=series,
            tooltip=lambda i, s, value: (
                f"{_long_day(times.days[i])}: {format_duration(times.medians[i])} median "
                f"({times.resolved[i]} resolved)"
            ),
            axis_label=unit_name,
            label_every=7,
            whole=False,
            reference=(times.overall / unit, f"median of all {len(times.days)} days: {overall}")
            if times.overall is not None
            else None,
            empty_text=f"Nothing resolved in {len(times.days)} days",
        ),
        legend=SafeString(""),
        columns=["Day", "Median time to resolve", "Items resolved"],
        figure=format_duration(times.overall) if times.overall is not None else "",
        rows=[
            [_long_day(day), format_duration(median) if median is not None else "—", count]
            for day, median, count in zip(times.days, times.medians, times.resolved, strict=True)
        ],
    )


def duration_unit(longest: timedelta) -> tuple[str, timedelta]:
    """The unit a chart of durations up to ``longest`` reads best in."""
    if longest < timedelta(hours=2):
        return "minutes", timedelta(minutes=1)
    if longest < timedelta(days=3):
        return "hours", timedelta(hours=1)
    return "days", timedelta(days=1)


def format_duration(duration: timedelta) -> str:
    seconds = duration.total_seconds()
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _per_day_chart(
    daily: DailyFlow, counts: dict[str, list[int]], *, chart_id: str, title: str, verb: str
) -> Chart:
    series = _kind_series(daily.kinds, counts)
    totals = [sum(counts[kind][i] for kind in daily.kinds) for i in range(len(daily.days))]
    total = sum(totals)
    busiest = max(range(len(totals)), key=lambda i: totals[i]) if total else None
    description = f"Review items {verb} per day by kind, over the last {len(daily.days)} days: "
    description += f"{total} in all" + (
        f"; the most on {_long_day(daily.days[busiest])} ({totals[busiest]})."
        if busiest is not None
        else "."
    )
    # Opened and closed share one scale, so that their bars compare at a glance.
    shared_top = max(
        (
            sum(c[i] for c in side.values())
            for side in (daily.opened, daily.closed)
            for i in range(len(daily.days))
        ),
        default=0,
    )
    long_days = [_long_day(day) for day in daily.days]
    return Chart(
        id=chart_id,
        title=title,
        summary=f"{total} in {len(daily.days)} days",
        svg=bar_chart(
            chart_id=chart_id,
            title=title,
            description=description,
            categories=[_short_day(day) for day in daily.days],
            category_titles=long_days,
            series=series,
            axis_label="items",
            label_every=7,
            y_max=shared_top,
            empty_text=f"No items {verb.split(' ')[0]} in {len(daily.days)} days",
        ),
        legend=legend(series),
        columns=["Day", *(s.label for s in series), "Total"],
        rows=[
            [long_days[i], *(counts[kind][i] for kind in daily.kinds), totals[i]]
            for i in range(len(daily.days))
        ],
    )


def _kind_series(kinds: list[str], counts: dict[str, list[int]]) -> list[Series]:
    return [
        Series(KIND_LABELS.get(kind, kind), KIND_COLOURS.get(kind, OTHER_COLOUR), counts[kind])
        for kind in kinds
    ]


def _short_day(day: date) -> str:
    return date_format(day, "j M")


def _long_day(day: date) -> str:
    return date_format(day, "D j M")


def _n(value: float) -> str:
    """A coordinate, short: SVG needs no more than a tenth of a unit here."""
    return f"{value:.1f}".rstrip("0").rstrip(".")
