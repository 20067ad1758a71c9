"""Terminal text: cell widths, cleaning outside text, distinguishable cuts, sparklines."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prescientd.terminal import (
    ELLIPSIS,
    cells,
    clean,
    fit,
    fit_left,
    pad,
    paint,
    shorten,
    shorten_distinct,
    sparkline,
    strip_ansi,
)

SENATE = "Will X win the 2026 United States Senate race in {}?"
BTC = "Will Bitcoin be above ${} on December 31, 2026 according to the Coinbase BTC-USD spot price?"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", 5),
        ("中国", 4),  # wide
        ("e\u0301", 1),  # e + combining acute
        ("Atlético", 8),
        ("", 0),
    ],
)
def test_cells(text: str, expected: int) -> None:
    """Wide characters take two cells, combining marks none."""
    assert cells(text) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Will it\nrain?", "Will it rain?"),
        ("tab\tand  spaces ", "tab and spaces"),
        ("\x1b[31mred\x1b[0m?", "[31mred[0m?"),  # the escape byte is gone: nothing is interpreted
        ("zero\u200bwidth", "zerowidth"),
        ("bell\x07", "bell"),
    ],
)
def test_clean_drops_control_characters(raw: str, expected: str) -> None:
    """Outside text cannot break a line or send an escape sequence to the terminal."""
    assert clean(raw) == expected


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("abcdef", 6, "abcdef"),
        ("abcdef", 4, "abc…"),
        ("中国中国", 5, "中国…"),
        ("abcdef", 0, ""),
    ],
)
def test_fit(text: str, width: int, expected: str) -> None:
    """fit cuts at the end within the width and marks the cut."""
    assert fit(text, width) == expected
    assert cells(fit(text, width)) <= width


def test_fit_left_keeps_the_file_name() -> None:
    """A long path keeps its end."""
    assert fit_left("/very/long/path/to/data/prescient.db", 14) == "…/prescient.db"


@pytest.mark.parametrize(("right", "expected"), [(False, "ab   "), (True, "   ab")])
def test_pad(right: bool, expected: str) -> None:
    """pad fills to exactly the width on the chosen side."""
    assert pad("ab", 5, right=right) == expected


@pytest.mark.parametrize(
    ("text", "width", "differs_at", "expected"),
    [
        ("Fed decision in December?", 40, 0, "Fed decision in December?"),
        # nothing to keep apart: cut at the last word boundary that fits width - 1
        (
            "Will the Federal Reserve cut rates in December 2026?",
            30,
            0,
            "Will the Federal Reserve cut…",
        ),
        # a single word longer than the width is cut hard
        ("Supercalifragilisticexpialidocious", 10, 0, "Supercali…"),
        ("abc", 2, 0, "ab"),
    ],
)
def test_shorten_exact(text: str, width: int, differs_at: int, expected: str) -> None:
    """Hand-worked cuts: unchanged when it fits, else a word-boundary cut with an ellipsis."""
    assert shorten(text, width, differs_at) == expected


@pytest.mark.parametrize(
    ("questions", "width", "kept"),
    [
        pytest.param(
            [SENATE.format(s) for s in ("Ohio", "Iowa", "North Carolina")],
            39,
            ["Ohio?", "Iowa?", "North Carolina?"],
            id="shared-start-differing-end",
        ),
        pytest.param(
            [SENATE.format(s) for s in ("Ohio", "Iowa")],
            20,
            ["Ohio?", "Iowa?"],
            id="narrow",
        ),
        pytest.param(
            [BTC.format(p) for p in ("100,000", "120,000")],
            40,
            ["$100,000", "$120,000"],
            id="shared-start-and-end",
        ),
        pytest.param(
            [
                "Will Atlético Madrid win the 2025–26 UEFA Champions League?",
                "Will Bayern München win the 2025–26 UEFA Champions League?",
            ],
            24,
            ["Atlético", "Bayern"],
            id="differing-start",
        ),
        pytest.param(
            [
                "Will it rain in London on Christmas Day 2026?",
                "Will it rain in London on Christmas Day 2026? (Met Office reading)",
            ],
            30,
            ["2026?", "(Met"],
            id="one-is-a-prefix",
        ),
        pytest.param(
            [
                "Will 中国 win the 2026 World Cup in Group A?",
                "Will 中国 win the 2026 World Cup in Group B?",
            ],
            22,
            ["Group A?", "Group B?"],
            id="wide-characters",
        ),
    ],
)
def test_shorten_distinct_keeps_the_difference(
    questions: list[str], width: int, kept: list[str]
) -> None:
    """Rows sharing a long prefix stay distinguishable: each keeps its own differing words,
    starts like the question and fits the width."""
    short = shorten_distinct(questions, width)
    assert len(set(short)) == len(questions)
    for question, result, part in zip(questions, short, kept, strict=True):
        assert cells(result) <= width
        assert part in result, (result, part)
        assert result.startswith(question[:4])
        assert ELLIPSIS in result


def test_shorten_distinct_keeps_equal_questions_equal() -> None:
    """Two positions in one market (Yes and No) show the same question."""
    q = SENATE.format("Ohio")
    assert shorten_distinct([q, q], 30) == [shorten_distinct([q], 30)[0]] * 2


def test_shorten_distinct_leaves_short_questions_alone() -> None:
    """Questions that fit are not touched."""
    qs = ["Fed decision in December?", "Will it snow?"]
    assert shorten_distinct(qs, 40) == qs


_WHO = ["X", "Jane Doe", "the Democratic candidate", "Bob"]
_YEAR = ["2026", "2028"]
_RACE = ["United States Senate race", "gubernatorial election", "House seat"]
_WHERE = ["Ohio", "Iowa", "North Carolina", "the 3rd district of Pennsylvania", "New York City"]
_TAIL = ["?", " according to the AP?"]
_TEMPLATED = [
    f"Will {who} win the {year} {race} in {where}{tail}"
    for who, year, race, where, tail in itertools.product(_WHO, _YEAR, _RACE, _WHERE, _TAIL)
]


@settings(max_examples=300, deadline=None)
@given(
    questions=st.lists(st.sampled_from(_TEMPLATED), min_size=2, max_size=15, unique=True),
    width=st.integers(min_value=12, max_value=90),
)
def test_shorten_distinct_property(questions: list[str], width: int) -> None:
    """For questions built from shared parts, every cut fits and no two rows read the same."""
    short = shorten_distinct(questions, width)
    assert all(cells(s) <= width for s in short)
    assert len(set(short)) == len(questions)


@pytest.mark.parametrize(
    ("values", "width", "expected"),
    [
        ([1.0, 2.0, 3.0], 10, "▁▅█"),  # (2-1)/(3-1) x 7 = 3.5 -> 4 (half to even) -> ▅
        ([5.0, 5.0, 5.0], 10, "▄▄▄"),  # flat
        ([1.0, 9.0, 1.0, 9.0], 2, "▁█"),  # only the last width values
        ([], 5, ""),
    ],
)
def test_sparkline(values: list[float], width: int, expected: str) -> None:
    """Values map onto the eight block heights, lowest to highest."""
    assert sparkline(values, width) == expected


def test_paint_only_with_color() -> None:
    """No escape codes without colour; with colour they strip back to the same text."""
    assert paint("loss", "loss", color=False) == "loss"
    painted = paint("loss", "loss", color=True)
    assert painted != "loss" and "\x1b[" in painted
    assert strip_ansi(painted) == "loss"
