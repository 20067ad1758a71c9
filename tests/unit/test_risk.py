# mypy: disable-error-code="comparison-overlap"
# (hand-computed amounts are int literals compared with Decimal results on purpose: exact)
"""Worst-case loss per event (exclusive outcomes) and depth headroom per fill (hand-computed)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from prescientd.core.risk import (
    NO_WINNER,
    NO_WINNER_LABEL,
    DepthBucket,
    EventMarkets,
    FillBook,
    HeldToken,
    depth_headroom,
    event_markets,
    held_tokens,
    quantile,
    stored_fill_levels,
    visible_depth,
    worst_case_by_event,
)
from prescientd.models import Event, FillLevel, Level, Market, Position, Side

D = Decimal
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _held(
    market: str, yes: bool, shares: str, cost: str, value: str, *, event: str = "e1"
) -> HeldToken:
    return HeldToken("default", event, market, yes, D(shares), D(cost), D(value))


QUESTIONS = {"A": "Will A win?", "B": "Will B win?", "C": "Will C win?"}


def _event(neg_risk: bool, *, complete: bool = True, markets: str = "ABC") -> EventMarkets:
    return EventMarkets("e1", "Who wins?", neg_risk, tuple(markets), complete, QUESTIONS)


# NO on A (100 sh, cost 40, worth 45) and NO on B (50 sh, cost 30, worth 30): cost 70, value 75.
#   A wins: only B's NO pays 50 -> loss 70 - 50 = 20 (vs value 75 - 50 = 25)
#   B wins: A's NO pays 100 -> loss -30;  C wins or none: 150 -> loss -80
NO_PAIR = [_held("A", False, "100", "40", "45"), _held("B", False, "50", "30", "30")]
# YES on A (60 sh, cost 30, worth 27) and YES on B (40 sh, cost 20, worth 22): cost 50, value 49.
#   A wins: 60 -> loss -10;  B wins: 40 -> loss 10;  C wins or none: 0 -> loss 50
YES_PAIR = [_held("A", True, "60", "30", "27"), _held("B", True, "40", "20", "22")]
# YES on A (60 sh, cost 30) and NO on B (40 sh, cost 20): cost 50, value 50.
#   A wins: 60 + 40 = 100 -> loss -50;  B wins: 0 -> loss 50;  none: 40 -> loss 10
MIXED = [_held("A", True, "60", "30", "30"), _held("B", False, "40", "20", "20")]

CASES = [
    # name, event, held, worst market, payout, loss vs cost, loss vs value, scenarios
    ("negRisk NO pair", _event(True), NO_PAIR, "A", 50, 20, 25, 3),
    ("plain NO pair", _event(False), NO_PAIR, "A", 50, 20, 25, 4),  # "none" pays 150
    ("negRisk YES pair, C may win", _event(True), YES_PAIR, "C", 0, 50, 49, 3),
    # exactly one of A, B wins: at worst B's 40 shares pay
    ("negRisk YES pair, only A and B", _event(True, markets="AB"), YES_PAIR, "B", 40, 10, 9, 2),
    ("plain YES pair, none wins", _event(False, markets="AB"), YES_PAIR, NO_WINNER, 0, 50, 49, 3),
    (
        "negRisk, market list incomplete",
        _event(True, markets="AB", complete=False),
        YES_PAIR,
        NO_WINNER,
        0,
        50,
        49,
        3,
    ),
    ("plain mixed", _event(False, markets="AB"), MIXED, "B", 0, 50, 50, 3),
]


@pytest.mark.parametrize(
    ("event", "held", "market", "payout", "loss", "loss_vs_value", "scenarios"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_worst_case(
    event: EventMarkets,
    held: list[HeldToken],
    market: str,
    payout: int,
    loss: int,
    loss_vs_value: int,
    scenarios: int,
) -> None:
    """The scenario paying least among: each market wins alone, and none wins when possible."""
    (exposure,) = worst_case_by_event(held, {"e1": event})
    assert exposure.worst_market_id == market
    assert exposure.worst_outcome == QUESTIONS.get(market, NO_WINNER_LABEL)
    assert (exposure.worst_payout_usd, exposure.worst_loss_usd) == (payout, loss)
    assert exposure.worst_loss_vs_value_usd == loss_vs_value
    assert (exposure.scenarios, exposure.positions) == (scenarios, len(held))
    assert exposure.cost_usd == sum(h.cost_usd for h in held)


def test_events_sorted_and_cut() -> None:
    """Largest worst loss first; top keeps the first ones; an unknown event is not negRisk."""
    held = [
        *NO_PAIR,  # e1: worst loss 20
        _held("X", False, "10", "9", "9", event="e2"),  # unknown e2: X wins -> loss 9
        _held("Y", True, "100", "60", "60", event="e3"),  # unknown e3: none wins -> loss 60
    ]
    exposures = worst_case_by_event(held, {"e1": _event(True)})
    assert [(e.event_id, e.worst_loss_usd) for e in exposures] == [
        ("e3", 60),
        ("e1", 20),
        ("e2", 9),
    ]
    assert exposures[0].worst_market_id == NO_WINNER
    assert [e.event_id for e in worst_case_by_event(held, {}, top=2)] == ["e3", "e1"]


def test_strategies_are_separate_accounts() -> None:
    """Positions of two strategies in one event are judged separately."""
    other = HeldToken("contrarian60", "e1", "B", False, D(50), D(30), D(30))
    exposures = worst_case_by_event([NO_PAIR[0], other], {"e1": _event(True)})
    # default: NO A only -> A wins -> loss 40; contrarian60: NO B only -> B wins -> loss 30
    assert [(e.strategy, e.worst_market_id, e.worst_loss_usd) for e in exposures] == [
        ("default", "A", 40),
        ("contrarian60", "B", 30),
    ]


def _market(market_id: str, event_id: str = "e1") -> Market:
    return Market(
        market_id=market_id,
        event_id=event_id,
        condition_id=f"0x{market_id}",
        slug=market_id,
        question=f"Will {market_id} win?",
        outcomes=("Yes", "No"),
        token_ids=(f"{market_id}y", f"{market_id}n"),
        outcome_prices=(D("0.6"), D("0.4")),
        active=True,
        closed=False,
        accepting_orders=True,
        enable_order_book=True,
        uma_resolution_status=None,
        uma_resolution_statuses=(),
        end_date=None,
        liquidity_usd=D(0),
        volume_usd=D(0),
        volume_24h_usd=D(0),
        tick_size=D("0.01"),
        min_order_size=D(5),
        fee_schedule=None,
        neg_risk=True,
    )


def _position(token: str, market: str, shares: str, cost: str) -> Position:
    return Position(market, "e1", token, "No", "q", D(shares), D(cost), D(0), T0)


def test_held_tokens_from_positions() -> None:
    """YES/NO from the market's tokens; valued at the mark, at cost without one; unknown skipped."""
    markets = {"A": _market("A"), "B": _market("B")}
    positions = [
        _position("An", "A", "100", "40"),
        _position("By", "B", "10", "5"),
        _position("Zn", "Z", "1", "1"),  # market unknown
    ]
    held, skipped = held_tokens(positions, markets, {"An": D("0.45")})
    assert skipped == 1
    assert [(h.market_id, h.plays_yes, h.value_usd) for h in held] == [
        ("A", False, D(45)),  # 100 x 0.45
        ("B", True, D(5)),  # no mark: at cost
    ]


def test_event_markets_from_gamma_events() -> None:
    """Every child market of an event, with its question, placeholders included."""
    event = Event(
        event_id="e1",
        slug="who",
        title="Who wins?",
        tags=(),
        active=True,
        closed=False,
        end_date=None,
        liquidity_usd=D(0),
        volume_usd=D(0),
        volume_24h_usd=D(0),
        neg_risk=True,
        markets=(_market("A"), _market("B")),
    )
    got = event_markets([event])["e1"]
    assert (got.neg_risk, got.market_ids, got.complete) == (True, ("A", "B"), True)
    assert got.questions == {"A": "Will A win?", "B": "Will B win?"}


# ------------------------------------------------------------------------------------------------
# Depth headroom


def _levels(*pairs: tuple[str, str]) -> tuple[Level, ...]:
    return tuple(Level(D(p), D(s)) for p, s in pairs)


def _fill(
    trade_id: int,
    side: Side,
    taken: list[tuple[str, str]],
    book: tuple[Level, ...] | None,
    slippage: str = "0.02",
) -> FillBook:
    levels = tuple(FillLevel(D(p), D(s), D(0)) for p, s in taken)
    return FillBook(trade_id, "default", f"m{trade_id}", T0, side, levels, book, D(slippage))


FILLS = [
    # asks 0.40 x 100, 0.41 x 50 within 0.40 + 0.02; 0.45 is outside: visible 150 sh, 60.5 USD
    # took 100 + 20 = 120 sh (48.2 USD): 120 / 150 = 0.8
    _fill(
        1,
        Side.BUY,
        [("0.40", "100"), ("0.41", "20")],
        _levels(("0.40", "100"), ("0.41", "50"), ("0.45", "200")),
    ),
    # a sell walks the bids down to 0.60 - 0.05 = 0.55: visible 10 + 30 = 40; took 10: 0.25
    _fill(
        2,
        Side.SELL,
        [("0.60", "10")],
        _levels(("0.60", "10"), ("0.59", "30"), ("0.50", "100")),
        "0.05",
    ),
    _fill(3, Side.BUY, [("0.30", "50")], _levels(("0.30", "1000"))),  # 50 / 1000 = 0.05
    _fill(4, Side.BUY, [("0.30", "50")], None),  # no recorded book
    _fill(5, Side.BUY, [("0.30", "50")], ()),  # an empty book: nothing visible
    _fill(6, Side.BUY, [("0.20", "100")], _levels(("0.20", "100"))),  # the whole book: 1
]


def test_depth_per_fill() -> None:
    """depth_used = filled / visible shares within the slippage cap, per fill with a book."""
    headroom = depth_headroom(FILLS)
    got = [(u.trade_id, u.filled_shares, u.visible_shares, u.depth_used) for u in headroom.fills]
    assert got == [
        (1, D(120), D(150), D("0.8")),
        (2, D(10), D(40), D("0.25")),
        (3, D(50), D(1000), D("0.05")),
        (6, D(100), D(100), D(1)),
    ]
    first = headroom.fills[0]
    assert (first.filled_usd, first.visible_usd) == (D("48.2"), D("60.5"))  # 40 + 8.2; 40 + 20.5
    assert headroom.fills_without_book == 2


def test_depth_distribution() -> None:
    """min/median/p90/max/mean over 0.05, 0.25, 0.8, 1 and the histogram bars."""
    headroom = depth_headroom(FILLS)
    # median: rank (4 - 1) x 0.5 = 1.5 -> 0.25 + 0.5 x (0.8 - 0.25) = 0.525
    # p90: rank 3 x 0.9 = 2.7 -> 0.8 + 0.7 x (1 - 0.8) = 0.94;  mean 2.1 / 4 = 0.525
    assert (headroom.minimum, headroom.median, headroom.p90, headroom.maximum) == (
        D("0.05"),
        D("0.525"),
        D("0.94"),
        D(1),
    )
    assert headroom.mean == D("0.525")
    assert headroom.histogram == (
        DepthBucket(D(0), D("0.1"), 1),  # 0.05
        DepthBucket(D("0.1"), D("0.25"), 0),
        DepthBucket(D("0.25"), D("0.5"), 1),  # 0.25 belongs to the bar it starts
        DepthBucket(D("0.5"), D("0.75"), 0),
        DepthBucket(D("0.75"), D(1), 2),  # 0.8 and exactly 1
    )


def test_depth_above_one_gets_its_own_bar() -> None:
    """A fill larger than the recorded book (a mismatch) shows as depth_used above 1."""
    headroom = depth_headroom([_fill(1, Side.BUY, [("0.5", "30")], _levels(("0.5", "20")))])
    assert headroom.fills[0].depth_used == D("1.5")
    assert headroom.histogram[-1] == DepthBucket(D(1), None, 1)


def test_no_fills() -> None:
    """No fills: no figures, and a histogram of empty bars."""
    headroom = depth_headroom([])
    assert (headroom.fills, headroom.median, headroom.mean) == ((), None, None)
    assert sum(bar.fill_count for bar in headroom.histogram) == 0


def test_bad_histogram_edges() -> None:
    """Edges must rise strictly inside (0, 1)."""
    with pytest.raises(ValueError, match="edges"):
        depth_headroom(FILLS, edges=(D("0.5"), D("0.2")))


@pytest.mark.parametrize(
    ("side", "slippage", "shares", "usd"),
    [
        # asks are not sorted; best 0.40, cap 0.42; the zero-size level is ignored
        (Side.BUY, "0.02", D(150), D("60.5")),
        (Side.BUY, "0", D(100), D(40)),
        (Side.BUY, "0.05", D(350), D("150.5")),  # + 0.45 x 200 = 90
    ],
)
def test_visible_depth(side: Side, slippage: str, shares: Decimal, usd: Decimal) -> None:
    """Shares and USD of the levels within best price + slippage."""
    book = _levels(("0.45", "200"), ("0.41", "50"), ("0.40", "100"), ("0.39", "0"))
    assert visible_depth(book, side, D(slippage)) == (shares, usd)


def test_stored_levels_parse() -> None:
    """The trades table's levels JSON rows become FillLevels."""
    assert stored_fill_levels([["0.4", "100", "0.01"]]) == (FillLevel(D("0.4"), D(100), D("0.01")),)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [(["1"], "0.9", "1"), (["1", "2"], "0.5", "1.5"), (["1", "2", "4"], "0.9", "3.6")],
)
def test_quantile(values: list[str], q: str, expected: str) -> None:
    """Linear interpolation between ranks: [1, 2, 4] at 0.9 is rank 1.8 -> 2 + 0.8 x 2 = 3.6."""
    assert quantile([D(v) for v in values], D(q)) == D(expected)
