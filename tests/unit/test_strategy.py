"""Tests for prescientd.core.strategy: the threshold rule, skip reasons, selection and limits."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from prescientd.config import StrategyConfig
from prescientd.core.strategy import decide, entry_key
from prescientd.models import (
    Action,
    Market,
    Portfolio,
    Position,
    PriceSource,
    Quote,
    Signal,
    SignalStatus,
    SkipReason,
)

NOW = datetime(2026, 10, 6, 12, 0, tzinfo=UTC)
MAX_AGE_S = 600.0
D = Decimal
CFG = StrategyConfig()  # threshold 0.50, buy_no, above, display, stake 100, max spread 0.10


def make_market(
    market_id: str = "1",
    event_id: str = "e1",
    *,
    outcomes: tuple[str, ...] = ("Yes", "No"),
    liquidity: str = "1000",
) -> Market:
    """A tradable market whose tokens are '<id>-0' (plays YES) and '<id>-1' (plays NO)."""
    return Market(
        market_id=market_id,
        event_id=event_id,
        condition_id="0x" + "ef" * 32,
        slug=f"m-{market_id}",
        question=f"Question {market_id}?",
        outcomes=outcomes,
        token_ids=tuple(f"{market_id}-{i}" for i in range(len(outcomes))),
        outcome_prices=(),
        active=True,
        closed=False,
        accepting_orders=True,
        enable_order_book=True,
        uma_resolution_status=None,
        uma_resolution_statuses=(),
        end_date=NOW + timedelta(days=30),
        liquidity_usd=D(liquidity),
        volume_usd=D(0),
        volume_24h_usd=D(0),
        tick_size=D("0.01"),
        min_order_size=D(5),
        fee_schedule=None,
        neg_risk=False,
    )


def make_quote(
    token_id: str,
    price: str | None,
    *,
    spread: str | None = "0.02",
    ask_depth_usd: str = "1000",
    age_s: float = 0,
    **overrides: Any,
) -> Quote:
    """A quote whose display/mid is price, with the best bid/ask spread evenly around it."""
    mid = D(price) if price is not None else None
    half = D(spread) / 2 if spread is not None else None
    fields: dict[str, Any] = {
        "token_id": token_id,
        "best_bid": mid - half if mid is not None and half is not None else None,
        "best_ask": mid + half if mid is not None and half is not None else None,
        "mid": mid if spread is not None else None,
        "spread": D(spread) if spread is not None else None,
        "display": mid,
        "last_trade": mid,
        "bid_depth_shares": D(1000),
        "bid_depth_usd": D(500),
        "ask_depth_shares": D(1000),
        "ask_depth_usd": D(ask_depth_usd),
        "tick_size": D("0.01"),
        "min_order_size": D(5),
        "book_timestamp_ms": 1,
        "book_hash": "h",
        "fetched_at": NOW - timedelta(seconds=age_s),
    }
    fields.update(overrides)
    return Quote(**fields)


def quotes_for(market: Market, yes_price: str, **no_overrides: Any) -> dict[str, Quote]:
    """Fresh YES and NO quotes for a market, the NO book mirroring the YES price (1 - p)."""
    no_price = str(1 - D(yes_price))
    return {
        market.token_ids[0]: make_quote(market.token_ids[0], yes_price),
        market.token_ids[1]: make_quote(market.token_ids[1], no_price, **no_overrides),
    }


def make_position(market: Market, token_index: int = 1) -> Position:
    """An open position of 100 shares in one of the market's tokens."""
    return Position(
        market_id=market.market_id,
        event_id=market.event_id,
        token_id=market.token_ids[token_index],
        outcome=market.outcomes[token_index],
        question=market.question,
        shares=D(100),
        cost_usd=D(40),
        fees_usd=D(0),
        opened_at=NOW - timedelta(days=1),
    )


def make_portfolio(
    cash: str = "10000",
    positions: tuple[Position, ...] = (),
    entries: Mapping[str, int] | None = None,
) -> Portfolio:
    """A portfolio with the given cash, open positions and per-market entry counts."""
    return Portfolio(
        starting_balance_usd=D(10000),
        cash_usd=D(cash),
        positions={p.token_id: p for p in positions},
        realized_pnl_usd=D(0),
        fees_usd=D(0),
        trade_count=len(positions),
        entries_by_market=dict(entries or {p.market_id: 1 for p in positions}),
        settled_positions=0,
        settled_wins=0,
    )


def run(
    markets: list[Market],
    quotes: Mapping[str, Quote],
    portfolio: Portfolio | None = None,
    **cfg: Any,
) -> list[Signal]:
    """decide() with the default strategy config updated by cfg."""
    config = CFG.model_copy(update=cfg)
    return decide(markets, quotes, portfolio or make_portfolio(), config, MAX_AGE_S, NOW)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("yes_price", ["0.50", "0.5", "0.49", "0.01", "0"])
def test_threshold_not_crossed_gives_no_signal(yes_price: str) -> None:
    """A YES price at or below 0.50 produces no signal at all (0.50 itself does not fire)."""
    market = make_market()
    assert run([market], quotes_for(market, yes_price)) == []


def test_051_fires_buy_no() -> None:
    """YES at 0.51 gives one actionable buy_no on the NO token with confidence 0.01."""
    market = make_market("7", "e9")
    [signal] = run([market], quotes_for(market, "0.51"))
    assert signal.status is SignalStatus.ACTIONABLE
    assert signal.skip_reason is None
    assert signal.action is Action.BUY_NO
    assert (signal.market_id, signal.event_id, signal.question) == ("7", "e9", "Question 7?")
    assert (signal.token_id, signal.outcome) == ("7-1", "No")
    assert signal.yes_price == D("0.51")
    assert signal.threshold == D("0.50")
    assert signal.confidence == D("0.01")
    assert signal.stake_usd == D(100)
    assert signal.price_source is PriceSource.DISPLAY
    assert signal.reason == "YES display price 0.51 > 0.50"
    assert signal.idempotency_key == sha("buy_no|7|7-1|entry0")
    assert signal.liquidity_usd == D(1000)


@pytest.mark.parametrize(
    ("cfg", "yes_price", "token_id", "outcome", "confidence", "reason"),
    [
        ({"action": Action.BUY_YES}, "0.63", "1-0", "Yes", "0.13", "YES display price 0.63 > 0.50"),
        ({"action": Action.BUY_YES, "comparison": "below"}, "0.3", "1-0", "Yes", "0.20",
         "YES display price 0.3 < 0.50"),
        ({"comparison": "below"}, "0.45", "1-1", "No", "0.05", "YES display price 0.45 < 0.50"),
        ({"threshold": D("0.9")}, "0.95", "1-1", "No", "0.05", "YES display price 0.95 > 0.9"),
        ({"price_source": PriceSource.MID}, "0.7", "1-1", "No", "0.20", "YES mid price 0.7 > 0.50"),
    ],
)  # fmt: skip
def test_actions_and_comparisons(
    cfg: dict[str, Any],
    yes_price: str,
    token_id: str,
    outcome: str,
    confidence: str,
    reason: str,
) -> None:
    """buy_yes buys token 0, buy_no token 1; 'below' fires under the threshold."""
    market = make_market()
    [signal] = run([market], quotes_for(market, yes_price), **cfg)
    assert signal.status is SignalStatus.ACTIONABLE
    assert (signal.token_id, signal.outcome) == (token_id, outcome)
    assert signal.confidence == D(confidence)
    assert signal.reason == reason


@pytest.mark.parametrize(
    ("cfg", "yes_price"),
    [
        ({"comparison": "below"}, "0.50"),
        ({"comparison": "below"}, "0.7"),
        ({"action": Action.BUY_YES, "comparison": "below"}, "0.51"),
    ],
)
def test_below_does_not_fire_at_or_above(cfg: dict[str, Any], yes_price: str) -> None:
    """With 'below', a YES price at or above the threshold gives no signal."""
    market = make_market()
    assert run([market], quotes_for(market, yes_price), **cfg) == []


@pytest.mark.parametrize(
    ("source", "expected_price"),
    [
        (PriceSource.DISPLAY, None),  # display 0.49 does not cross
        (PriceSource.BEST_BID, "0.52"),
        (PriceSource.BEST_ASK, "0.58"),
        (PriceSource.LAST, "0.53"),
        (PriceSource.MID, "0.55"),
    ],
)
def test_price_source_selects_the_compared_price(
    source: PriceSource, expected_price: str | None
) -> None:
    """The configured price source is the YES price compared with the threshold."""
    market = make_market()
    quotes = quotes_for(market, "0.55")
    quotes[market.token_ids[0]] = make_quote(
        market.token_ids[0],
        "0.55",
        spread="0.06",
        display=D("0.49"),
        last_trade=D("0.53"),
    )
    signals = run([market], quotes, price_source=source)
    if expected_price is None:
        assert signals == []
    else:
        [signal] = signals
        assert signal.yes_price == D(expected_price)


def test_non_yes_no_outcome_names() -> None:
    """Token 0 plays YES and token 1 plays NO whatever the outcome names are."""
    market = make_market(outcomes=("Up", "Down"))
    [signal] = run([market], quotes_for(market, "0.7"))
    assert (signal.token_id, signal.outcome) == ("1-1", "Down")
    assert signal.reason == "YES (Up) display price 0.7 > 0.50"
    [signal_yes] = run([market], quotes_for(market, "0.7"), action=Action.BUY_YES)
    assert (signal_yes.token_id, signal_yes.outcome) == ("1-0", "Up")


def _stale_yes(m: Market) -> dict[str, Quote]:
    q = quotes_for(m, "0.7")
    q[m.token_ids[0]] = make_quote(m.token_ids[0], "0.7", age_s=MAX_AGE_S + 1)
    return q


def _missing_no(m: Market) -> dict[str, Quote]:
    q = quotes_for(m, "0.7")
    del q[m.token_ids[1]]
    return q


def _stale_yes_wide_no(m: Market) -> dict[str, Quote]:
    q = _stale_yes(m)
    q[m.token_ids[1]] = make_quote(m.token_ids[1], "0.3", spread="0.5", ask_depth_usd="1")
    return q


M = make_market()
HELD_NO = make_portfolio(positions=(make_position(M, 1),))
ENTERED_ONCE = make_portfolio(entries={"1": 1})


@pytest.mark.parametrize(
    ("quotes", "portfolio", "cfg", "skip", "detail"),
    [
        # stale: the YES quote or the bought token's quote missing or older than max age
        (_stale_yes(M), None, {}, SkipReason.STALE_PRICE, "YES price is 601s old (max 600s)"),
        (quotes_for(M, "0.7", age_s=MAX_AGE_S + 30), None, {}, SkipReason.STALE_PRICE,
         "No price is 630s old (max 600s)"),
        (_missing_no(M), None, {}, SkipReason.STALE_PRICE, "no price for the No token"),
        (_stale_yes_wide_no(M), None, {}, SkipReason.STALE_PRICE, "YES price is 601s old"),
        # price band on the YES price, inclusive bounds
        (quotes_for(M, "0.97"), None, {"max_price": D("0.95")}, SkipReason.PRICE_BAND,
         "YES price 0.97 outside [0, 0.95]"),
        (quotes_for(M, "0.55"), None, {"min_price": D("0.6")}, SkipReason.PRICE_BAND,
         "YES price 0.55 outside [0.6, 1]"),
        (quotes_for(M, "0.97", spread="0.5"), ENTERED_ONCE, {"max_price": D("0.95")},
         SkipReason.PRICE_BAND, "outside"),
        # held: entries per market, or the bought token already open
        (quotes_for(M, "0.7"), ENTERED_ONCE, {}, SkipReason.HELD,
         "1 entries in this market (max 1)"),
        (quotes_for(M, "0.7"), HELD_NO, {"max_positions_per_market": 2}, SkipReason.HELD,
         "already holding No"),
        (quotes_for(M, "0.7"), None, {"max_positions_per_market": 0}, SkipReason.HELD,
         "0 entries in this market (max 0)"),
        (quotes_for(M, "0.7", spread="0.5"), HELD_NO, {}, SkipReason.HELD, "entries"),
        # spread of the bought token
        (quotes_for(M, "0.7", spread="0.12"), None, {}, SkipReason.SPREAD,
         "spread 0.12 > max 0.10"),
        (quotes_for(M, "0.7", spread=None), None, {}, SkipReason.SPREAD, "No book is one-sided"),
        (quotes_for(M, "0.7", spread="0.12", ask_depth_usd="1"), None, {}, SkipReason.SPREAD,
         "spread"),
        # thin book: ask depth of the bought token below stake x min_depth_ratio
        (quotes_for(M, "0.7", ask_depth_usd="99.99"), None, {}, SkipReason.THIN_BOOK,
         "ask depth $99.99 < $100.00 needed"),
        (quotes_for(M, "0.7", ask_depth_usd="150"), None, {"min_depth_ratio": D(2)},
         SkipReason.THIN_BOOK, "ask depth $150.00 < $200.00 needed"),
    ],
)  # fmt: skip
def test_skip_reasons(
    quotes: dict[str, Quote],
    portfolio: Portfolio | None,
    cfg: dict[str, Any],
    skip: SkipReason,
    detail: str,
) -> None:
    """Each per-market rule skips the crossing market with its reason, in the documented order."""
    [signal] = run([M], quotes, portfolio, **cfg)
    assert signal.status is SignalStatus.SKIPPED
    assert signal.skip_reason is skip
    crossing, _, why = signal.reason.partition("; skipped: ")
    assert crossing.startswith("YES display price 0.")
    assert crossing.endswith(" > 0.50")
    assert detail in why


@pytest.mark.parametrize(
    ("quotes", "cfg"),
    [
        (quotes_for(M, "0.7", spread="0.10"), {}),  # spread exactly max is fine
        (quotes_for(M, "0.7", ask_depth_usd="100"), {}),  # depth exactly stake is fine
        (quotes_for(M, "0.95"), {"max_price": D("0.95")}),  # band bounds are inclusive
        (quotes_for(M, "0.7", age_s=MAX_AGE_S), {}),  # exactly max age is fresh
        (quotes_for(M, "0.7"), {"max_positions_per_market": 2}),
    ],
)
def test_boundaries_stay_actionable(quotes: dict[str, Quote], cfg: dict[str, Any]) -> None:
    """Values exactly at a limit do not skip."""
    [signal] = run([M], quotes, **cfg)
    assert signal.status is SignalStatus.ACTIONABLE


def test_reentry_allowed_below_max_positions_per_market() -> None:
    """With max_positions_per_market 2, a market entered once (position closed) is entered again."""
    [signal] = run([M], quotes_for(M, "0.7"), ENTERED_ONCE, max_positions_per_market=2)
    assert signal.status is SignalStatus.ACTIONABLE
    assert signal.idempotency_key == sha("buy_no|1|1-1|entry1")


def test_missing_yes_quote_gives_no_signal() -> None:
    """Without any YES quote the market cannot be judged and produces nothing."""
    q = quotes_for(M, "0.7")
    del q[M.token_ids[0]]
    assert run([M], q) == []


def test_yes_quote_without_price_gives_no_signal() -> None:
    """A YES quote that cannot give the configured price (empty book) produces nothing."""
    q = quotes_for(M, "0.7")
    q[M.token_ids[0]] = make_quote(M.token_ids[0], None, spread=None)
    assert run([M], q) == []


def test_stale_yes_quote_not_crossing_gives_no_signal() -> None:
    """A stale YES quote whose price does not cross produces nothing."""
    q = quotes_for(M, "0.4")
    q[M.token_ids[0]] = make_quote(M.token_ids[0], "0.4", age_s=MAX_AGE_S * 10)
    assert run([M], q) == []


def test_non_binary_and_duplicate_markets_ignored() -> None:
    """Markets without exactly two outcomes are ignored; a repeated market gives one signal."""
    multi = make_market("2", outcomes=("A", "B", "C"))
    quotes = {**quotes_for(M, "0.7"), "2-0": make_quote("2-0", "0.9")}
    signals = run([multi, M, M], quotes)
    assert [s.market_id for s in signals] == ["1"]


def _event_markets() -> tuple[list[Market], dict[str, Quote]]:
    markets = [
        make_market("11", "e1"),
        make_market("12", "e1"),
        make_market("13", "e1"),
        make_market("21", "e2"),
    ]
    prices = {"11": "0.6", "12": "0.8", "13": "0.7", "21": "0.55"}
    quotes: dict[str, Quote] = {}
    for m in markets:
        quotes.update(quotes_for(m, prices[m.market_id]))
    return markets, quotes


def test_best_per_event() -> None:
    """Only the highest-confidence market of an event stays actionable; the rest are skipped."""
    markets, quotes = _event_markets()
    signals = run(markets, quotes)
    summary = [(s.market_id, s.status, s.skip_reason) for s in signals]
    assert summary == [
        ("12", SignalStatus.ACTIONABLE, None),
        ("21", SignalStatus.ACTIONABLE, None),
        ("13", SignalStatus.SKIPPED, SkipReason.NOT_BEST_IN_EVENT),
        ("11", SignalStatus.SKIPPED, SkipReason.NOT_BEST_IN_EVENT),
    ]
    assert signals[2].reason.endswith("skipped: market 12 is the best in event e1")


def test_all_markets_selection() -> None:
    """market_selection 'all' keeps every crossing market of an event actionable."""
    markets, quotes = _event_markets()
    signals = run(markets, quotes, market_selection="all")
    assert [(s.market_id, s.status) for s in signals] == [
        ("12", SignalStatus.ACTIONABLE),
        ("13", SignalStatus.ACTIONABLE),
        ("11", SignalStatus.ACTIONABLE),
        ("21", SignalStatus.ACTIONABLE),
    ]


def test_best_per_event_ignores_already_skipped() -> None:
    """A better market skipped for its own reason does not block the next best of its event."""
    markets, quotes = _event_markets()
    quotes.update(quotes_for(markets[1], "0.8", spread="0.3"))  # market 12: wide NO spread
    signals = {s.market_id: s for s in run(markets, quotes)}
    assert signals["12"].skip_reason is SkipReason.SPREAD
    assert signals["13"].status is SignalStatus.ACTIONABLE
    assert signals["11"].skip_reason is SkipReason.NOT_BEST_IN_EVENT


@pytest.mark.parametrize(
    ("a", "b", "winner"),
    [
        (("9", "1000"), ("10", "1000"), "9"),  # equal liquidity: lower (numeric) market id
        (("10", "1000"), ("9", "1000"), "9"),
        (("5", "1000"), ("6", "2000"), "6"),  # equal confidence: higher liquidity
        (("6", "2000"), ("5", "1000"), "6"),
    ],
)
def test_ties_in_event(a: tuple[str, str], b: tuple[str, str], winner: str) -> None:
    """Equal confidence is broken by higher liquidity, then by the lower market id."""
    markets = [make_market(mid, "e1", liquidity=liq) for mid, liq in (a, b)]
    quotes = {**quotes_for(markets[0], "0.6"), **quotes_for(markets[1], "0.6")}
    signals = run(markets, quotes)
    actionable = [s.market_id for s in signals if s.status is SignalStatus.ACTIONABLE]
    assert actionable == [winner]


def _many(count: int, start_price: str = "0.60") -> tuple[list[Market], dict[str, Quote]]:
    """count markets in separate events, confidences falling with the market number."""
    markets = [make_market(str(i), f"e{i}") for i in range(1, count + 1)]
    quotes: dict[str, Quote] = {}
    for i, m in enumerate(markets):
        quotes.update(quotes_for(m, str(D(start_price) + D("0.1") - D("0.01") * i)))
    return markets, quotes


def test_max_open_positions() -> None:
    """Open positions plus new buys stay within max_open_positions; the best candidates go first."""
    markets, quotes = _many(3)
    others = (make_position(make_market("90", "e90")), make_position(make_market("91", "e91")))
    portfolio = make_portfolio(positions=others)
    signals = run(markets, quotes, portfolio, max_open_positions=3)
    assert [(s.market_id, s.skip_reason) for s in signals] == [
        ("1", None),
        ("2", SkipReason.MAX_OPEN_POSITIONS),
        ("3", SkipReason.MAX_OPEN_POSITIONS),
    ]
    assert signals[1].reason.endswith("skipped: 3 open positions (max 3)")
    full = run(markets, quotes, portfolio, max_open_positions=2)
    assert all(s.skip_reason is SkipReason.MAX_OPEN_POSITIONS for s in full)


def test_no_position_cap_by_default() -> None:
    """The default max_open_positions (0 = no cap): 64 signals and $10,000 give 64 buys."""
    markets = [make_market(str(i), f"e{i}") for i in range(1, 65)]
    quotes: dict[str, Quote] = {}
    for i, m in enumerate(markets):
        quotes.update(quotes_for(m, str(D("0.51") + D("0.01") * (i % 40))))
    signals = decide(markets, quotes, make_portfolio(), StrategyConfig(), MAX_AGE_S, NOW)
    assert StrategyConfig().max_open_positions == 0
    assert len(signals) == 64
    assert [s.skip_reason for s in signals] == [None] * 64


@pytest.mark.parametrize(
    ("cash", "reserve", "actionable"),
    [
        ("350", "100", 2),  # 250 spendable: two stakes of 100, the third would dip into the reserve
        ("300", "100", 2),  # exactly two stakes
        ("299.99", "100", 1),
        ("99.99", "0", 0),
        ("10000", "0", 3),
    ],
)
def test_cash_reserve(cash: str, reserve: str, actionable: int) -> None:
    """Buys stop once cash minus reserve minus stakes already committed is below one stake."""
    markets, quotes = _many(3)
    signals = run(markets, quotes, make_portfolio(cash=cash), cash_reserve_usd=D(reserve))
    statuses = [s.status for s in signals]
    assert statuses.count(SignalStatus.ACTIONABLE) == actionable
    assert [s.market_id for s in signals[:actionable]] == [str(i + 1) for i in range(actionable)]
    assert all(s.skip_reason is SkipReason.CASH_RESERVE for s in signals[actionable:])


def test_output_order_and_determinism() -> None:
    """Actionable signals come first by descending confidence, then skipped; input order is moot."""
    markets, quotes = _many(5)
    quotes.update(quotes_for(markets[0], "0.70", spread="0.5"))  # best one skipped: spread
    expected = run(markets, quotes)
    assert [(s.market_id, s.status) for s in expected] == [
        ("2", SignalStatus.ACTIONABLE),
        ("3", SignalStatus.ACTIONABLE),
        ("4", SignalStatus.ACTIONABLE),
        ("5", SignalStatus.ACTIONABLE),
        ("1", SignalStatus.SKIPPED),
    ]
    shuffled = list(markets)
    random.Random(3).shuffle(shuffled)
    assert run(shuffled, quotes) == expected
    assert run(markets, quotes) == expected


def test_idempotency_key() -> None:
    """The entry key is sha256 of action|market|token|entryN: stable, and new for a new entry."""
    key = entry_key(Action.BUY_NO, "1", "1-1", 0)
    assert key == sha("buy_no|1|1-1|entry0")
    assert entry_key("buy_no", "1", "1-1", 0) == key
    assert entry_key(Action.BUY_NO, "1", "1-1", 1) != key
    assert entry_key(Action.BUY_YES, "1", "1-1", 0) != key
    first = run([M], quotes_for(M, "0.7"))[0].idempotency_key
    again = run([M], quotes_for(M, "0.8"))[0].idempotency_key
    assert first == again == key


def test_skipped_signal_keeps_confidence_and_key() -> None:
    """A skipped signal still reports its YES price, confidence and the entry key it would use."""
    [signal] = run([M], quotes_for(M, "0.75", spread="0.2"))
    assert signal.skip_reason is SkipReason.SPREAD
    assert (signal.yes_price, signal.confidence) == (D("0.75"), D("0.25"))
    assert signal.idempotency_key == sha("buy_no|1|1-1|entry0")
    assert signal.reason == "YES display price 0.75 > 0.50; skipped: spread 0.2 > max 0.10"
