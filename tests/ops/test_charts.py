"""The charts draw the selectors' numbers as SVG: bars that add up, labels escaped, and the
numbers beside them for whoever cannot see the bars."""

import html
import re
from datetime import timedelta

import pytest

from integration_console.ops import charts
from integration_console.ops.charts import Series, bar_chart, nice_ticks
from integration_console.ops.selectors import (
    backlog_by_kind_and_age,
    items_opened_and_closed_per_day,
    time_to_resolve_per_day,
)
from tests.ops.conftest import NOW


def bar_titles(svg: str) -> list[str]:
    """The tooltip of every bar segment: '<day>: <value> <series>'."""
    return [html.unescape(t) for t in re.findall(r"<rect [^>]*><title>([^<]*)</title>", svg)]


def test_a_chart_is_an_image_named_by_its_title_and_description():
    svg = bar_chart(
        chart_id="chart-x",
        title="Things per day",
        description="Two things on Monday.",
        categories=["Mon"],
        series=[Series("things", "#000000", [2])],
    )
    assert svg.startswith("<svg ")
    assert 'role="img" aria-labelledby="chart-x-title" aria-describedby="chart-x-desc"' in svg
    assert '<title id="chart-x-title">Things per day</title>' in svg
    assert '<desc id="chart-x-desc">Two things on Monday.</desc>' in svg
    assert "style=" not in svg  # the Content Security Policy allows no inline style


def test_every_label_is_escaped():
    svg = bar_chart(
        chart_id='x"><script>',
        title="<script>alert(1)</script>",
        description="<b>bold</b>",
        categories=["<i>day</i>"],
        series=[Series("<script>kind</script>", '"><script>', [1])],
        axis_label="<u>items</u>",
    )
    assert "<script>" not in svg and "<b>" not in svg and "<i>" not in svg and "<u>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "&lt;script&gt;kind&lt;/script&gt;" in svg
    legend = charts.legend([Series("<script>kind</script>", "#000", [1])])
    assert "<script>" not in legend and "&lt;script&gt;kind" in legend


def test_stacked_bars_are_as_tall_as_their_values():
    svg = bar_chart(
        chart_id="c",
        title="t",
        description="d",
        categories=["a", "b"],
        series=[Series("x", "#111111", [1, 4]), Series("y", "#222222", [3, 0])],
    )
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    # The scale goes to 4: a 4 is the whole plot's height, a 1 a quarter of it.
    assert heights[0] * 3 == pytest.approx(heights[1], abs=0.2)
    assert heights[0] * 4 == pytest.approx(heights[2], abs=0.2)
    assert bar_titles(svg) == ["a: 1 x", "a: 3 y", "b: 4 x"]  # nothing drawn for a zero


def test_an_empty_chart_says_so():
    svg = bar_chart(
        chart_id="c",
        title="t",
        description="d",
        categories=["a"],
        series=[],
        empty_text="Nothing needs attention",
    )
    assert "Nothing needs attention" in svg and "<rect" not in svg


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (0, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (40, [0, 10, 20, 30, 40]),
        (1234, [0, 250, 500, 750, 1000, 1250]),
        (0.9, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (12, [0, 2.5, 5, 7.5, 10, 12.5]),
    ],
)
def test_the_value_axis_ends_on_a_round_number(maximum, ticks):
    assert nice_ticks(maximum) == ticks


@pytest.mark.parametrize(
    ("maximum", "ticks"), [(3, [0, 1, 2, 3]), (12, [0, 5, 10, 15]), (7, [0, 2, 4, 6, 8])]
)
def test_counts_are_ticked_in_whole_numbers(maximum, ticks):
    assert nice_ticks(maximum, whole=True) == ticks


@pytest.mark.django_db
def test_the_opened_chart_draws_each_days_items_by_kind(known_items):
    chart = charts.opened_per_day_chart(items_opened_and_closed_per_day(now=NOW))
    assert bar_titles(chart.svg) == [
        "Wed 28 Oct: 1 Invalid",
        "Mon 16 Nov: 1 Rejected by target",
        "Sat 21 Nov: 2 Conflict",
        "Mon 23 Nov: 1 Invalid",
        "Tue 24 Nov: 1 Invalid",
        "Tue 24 Nov: 1 Rejected by target",
        "Tue 24 Nov: 1 Already exists in target",
        "Thu 26 Nov: 2 Invalid",
    ]
    assert chart.summary == "10 in 30 days"
    assert "10 in all; the most on Tue 24 Nov (3)." in chart.svg
    # The days are labelled a week apart, counted back from today.
    assert re.findall(r'fill-opacity="0.8">([^<]*)</text>', chart.svg) == [
        "29 Oct",
        "5 Nov",
        "12 Nov",
        "19 Nov",
        "26 Nov",
    ]
    assert chart.columns == [
        "Day",
        "Invalid",
        "Conflict",
        "Rejected by target",
        "Already exists in target",
        "Total",
    ]
    assert chart.rows[-3] == ["Tue 24 Nov", 1, 0, 1, 1, 3]
    assert chart.rows[-1] == ["Thu 26 Nov", 2, 0, 0, 0, 2]
    assert len(chart.rows) == 30


@pytest.mark.django_db
def test_the_closed_chart_draws_each_days_closed_items_by_kind(known_items):
    chart = charts.closed_per_day_chart(items_opened_and_closed_per_day(now=NOW))
    assert bar_titles(chart.svg) == [
        "Wed 28 Oct: 1 Invalid",
        "Tue 24 Nov: 2 Invalid",
        "Tue 24 Nov: 1 Already exists in target",
        "Wed 25 Nov: 1 Invalid",
        "Wed 25 Nov: 1 Conflict",
    ]
    assert chart.summary == "6 in 30 days"
    assert chart.rows[-2] == ["Wed 25 Nov", 1, 1, 0, 0, 2]


@pytest.mark.django_db
def test_the_backlog_chart_draws_the_active_items_by_age(known_items):
    chart = charts.backlog_age_chart(backlog_by_kind_and_age(now=NOW))
    assert bar_titles(chart.svg) == [
        "< 1 hour: 1 Invalid",
        "< 1 day: 1 Invalid",
        "< 3 days: 1 Rejected by target",
        "< 7 days: 1 Conflict",
        "< 30 days: 1 Rejected by target",
        "30 days or more: 1 Invalid",
    ]
    assert chart.summary == "6 items need attention"
    assert "6 in all. &lt; 1 hour: 1; &lt; 1 day: 1; &lt; 3 days: 1;" in chart.svg
    assert chart.columns == ["Age", "Invalid", "Conflict", "Rejected by target", "Total"]
    assert chart.rows[0] == ["< 1 hour", 1, 0, 0, 1]
    assert chart.rows[-1] == ["30 days or more", 1, 0, 0, 1]


@pytest.mark.django_db
def test_the_time_to_resolve_chart_draws_each_days_median(known_items):
    chart = charts.time_to_resolve_chart(time_to_resolve_per_day(now=NOW))
    assert bar_titles(chart.svg) == [
        "Tue 24 Nov: 3.0 h median (3 resolved)",
        "Wed 25 Nov: 4.0 days median (1 resolved)",
    ]
    # The longest median is 4 days: the value axis reads in days.
    assert 'fill-opacity="0.7">days</text>' in chart.svg
    assert chart.figure == "13.5 h"
    assert chart.summary == "13.5 h over 30 days"
    assert chart.rows[-3] == ["Tue 24 Nov", "3.0 h", 3]
    assert chart.rows[-2] == ["Wed 25 Nov", "4.0 days", 1]
    assert chart.rows[-1] == ["Thu 26 Nov", "—", 0]


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(seconds=42), "42 s"),
        (timedelta(minutes=90), "90 min"),
        (timedelta(hours=13, minutes=30), "13.5 h"),
        (timedelta(days=4), "4.0 days"),
    ],
)
def test_durations_read_in_the_unit_that_suits_them(duration, text):
    assert charts.format_duration(duration) == text
