"""From the ledger's values to the report's inputs: observations, versions, scenarios, fills."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from conftest import make_book
from prescientd.core import report_inputs
from prescientd.core.risk import NO_WINNER, HeldToken, worst_case_by_event
from prescientd.models import Side, Trade

D = Decimal
T0 = datetime(2026, 10, 6, 14, 0, tzinfo=UTC)

Day = tuple[str, Decimal | None, Decimal | None]


@pytest.mark.parametrize(
    ("days", "learned_on", "first", "evenings"),
    [
        # first sighting = the first day's open; evenings = closes of the days before learning
        (
            [("2026-10-01", D("0.40"), D("0.45")), ("2026-10-02", D("0.46"), D("0.60"))],
            "2026-10-03",
            D("0.40"),
            (D("0.45"), D("0.60")),
        ),
        # the day it was learned (its close may follow the outcome) is no observation
        (
            [("2026-10-01", D("0.40"), D("0.45")), ("2026-10-02", D("0.46"), D("0.99"))],
            "2026-10-02",
            D("0.40"),
            (D("0.45"),),
        ),
        # learned on the day it was first seen: a first sighting, no evening
        ([("2026-10-02", D("0.30"), D("0.02"))], "2026-10-02", D("0.30"), ()),
        # a day without a price is skipped; the first price is the first known open
        (
            [("2026-10-01", None, None), ("2026-10-02", D("0.2"), D("0.25"))],
            "2026-10-05",
            D("0.2"),
            (D("0.25"),),
        ),
        ([], "2026-10-05", None, ()),  # never priced
    ],
)
def test_resolved_market_observations(
    days: list[Day], learned_on: str, first: Decimal | None, evenings: tuple[Decimal, ...]
) -> None:
    """First sighting and evening prices are taken from the YES token's days as documented."""
    market = report_inputs.resolved_market("m1", ("politics",), D(1), days, learned_on)
    assert (market.first_yes_price, market.evening_yes_prices) == (first, evenings)
    assert (market.market_id, market.tags, market.yes_payout) == ("m1", ("politics",), D(1))


def _trade(trade_id: int, side: Side, strategy: str = "default") -> Trade:
    return Trade(
        *(trade_id, trade_id, f"k{trade_id}", T0, "1", "10", "t1", "No", "Q?", side),
        D(10),
        D(4),
        D(0),
        "r",
        strategy,
    )


def test_trades_carry_their_signals_version_and_strategy() -> None:
    """A buy with a signal gets its version; an exit without one is left to the time rule."""
    tagged = report_inputs.tagged_trades(
        [_trade(1, Side.BUY), _trade(2, Side.SELL, "contrarian60")], {1: 3}
    )
    assert [(t.trade.trade_id, t.strategy, t.config_version) for t in tagged] == [
        (1, "default", 3),
        (2, "contrarian60", None),
    ]


def test_a_complete_negrisk_event_has_no_none_scenario() -> None:
    """Every child listed and complete: exactly one market wins, so holding NO on two of three
    candidates loses at most one of them."""
    event = report_inputs.event_scenarios(
        "e",
        "Who wins?",
        True,
        (("a", "A wins?"), ("b", "B wins?"), ("c", "C wins?")),
        True,
        {"a": "A wins?", "b": "B wins?"},
    )
    assert event.complete and event.market_ids == ("a", "b", "c")

    held = [
        HeldToken("default", "e", "a", False, D(100), D(60), D(60)),
        HeldToken("default", "e", "b", False, D(100), D(70), D(70)),
    ]
    (exposure,) = worst_case_by_event(held, {"e": event})
    assert exposure.scenarios == 3  # a, b or c wins; never none
    assert exposure.worst_payout_usd == 100 and exposure.worst_loss_usd == 30


@pytest.mark.parametrize(
    ("children", "complete", "known"),
    [
        ((("a", "A?"),), False, False),  # Gamma's list was cut short
        ((), True, False),  # no stored list (an event stored before it was kept)
        ((("b", "B?"),), True, False),  # the held market is not in the stored list
    ],
)
def test_without_a_trustworthy_child_list_none_winning_is_a_scenario(
    children: tuple[tuple[str, str], ...], complete: bool, known: bool
) -> None:
    """An event whose children are not all known keeps "no market resolves YES" possible."""
    event = report_inputs.event_scenarios("e", "E", True, children, complete, {"a": "A?"})
    assert event.complete is known
    assert "a" in event.market_ids and event.questions["a"] == "A?"

    held = [HeldToken("default", "e", "a", True, D(10), D(5), D(5))]  # YES on a
    (exposure,) = worst_case_by_event(held, {"e": event})
    markets = {i for i, _ in children} | {"a"}
    assert exposure.scenarios == len(markets) + 1  # each market, and none of them
    assert exposure.worst_loss_usd == 5  # a market other than a wins, or none does
    if markets == {"a"}:
        assert exposure.worst_market_id == NO_WINNER


@pytest.mark.parametrize(("side", "walked"), [(Side.BUY, "asks"), (Side.SELL, "bids")])
def test_a_fill_walks_the_asks_to_buy_and_the_bids_to_sell(side: Side, walked: str) -> None:
    """The recorded book's side a fill took, its stored levels, and no book as None."""
    book = make_book("t1", [("0.40", "100")], [("0.42", "50"), ("0.43", "50")])
    fill = report_inputs.fill_book(_trade(1, side), [["0.42", "10", "0.1"]], book, D("0.02"))
    assert fill.book_levels == getattr(book, walked)
    assert fill.levels[0].price == D("0.42") and fill.levels[0].shares == 10
    assert (fill.side, fill.max_slippage, fill.strategy) == (side, D("0.02"), "default")
    assert report_inputs.fill_book(_trade(1, side), [], None, D("0.02")).book_levels is None
