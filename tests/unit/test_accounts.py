"""Several strategies side by side, pure: keys, evaluation, exits, settlement, figures."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest

from conftest import T0, make_book, make_market
from prescientd.config import PricesConfig, StrategyConfig, StrategySpec
from prescientd.core import accounts, ledger, prices
from prescientd.core.execution import exit_key
from prescientd.core.keys import idempotency_key
from prescientd.core.ledger import ResolutionCheck, settlement_key
from prescientd.core.strategy import entry_key
from prescientd.models import (
    DEFAULT_STRATEGY,
    Action,
    Book,
    Market,
    Portfolio,
    PortfolioSnapshot,
    Quote,
    Settlement,
    Side,
    SignalStatus,
    Trade,
)

D = Decimal
PRICES = PricesConfig()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- idempotency keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "legacy_text"),
    [
        (entry_key(Action.BUY_NO, "600262", "tok2", 0), "buy_no|600262|tok2|entry0"),
        (entry_key("buy_yes", "7", "tok1", 3), "buy_yes|7|tok1|entry3"),
        (exit_key("tok2", 1, D("248.130")), "exit|tok2|entry1|shares248.13"),
        (settlement_key("600043", "tok2", 1), "settle|600043|tok2|entry1"),
    ],
)
def test_default_strategy_keys_are_the_formula_before_strategies(
    key: str, legacy_text: str
) -> None:
    """The default strategy's keys are sha256 of exactly the text used before strategies existed."""
    assert key == _sha(legacy_text)


@pytest.mark.parametrize(
    ("default_key", "variant_key", "text"),
    [
        (
            entry_key(Action.BUY_NO, "1", "t", 0),
            entry_key(Action.BUY_NO, "1", "t", 0, "contrarian60"),
            "buy_no|1|t|entry0",
        ),
        (exit_key("t", 1, D(5)), exit_key("t", 1, D(5), "contrarian60"), "exit|t|entry1|shares5"),
        (
            settlement_key("1", "t", 1),
            settlement_key("1", "t", 1, "contrarian60"),
            "settle|1|t|entry1",
        ),
    ],
)
def test_a_variant_key_is_prefixed_with_its_name(
    default_key: str, variant_key: str, text: str
) -> None:
    """A variant's key is sha256 of "NAME|" + the same text: never equal to the default's."""
    assert variant_key == _sha(f"contrarian60|{text}") != default_key
    assert idempotency_key(text, DEFAULT_STRATEGY) == default_key


# -- names, holdings, new accounts ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["b", "default", "a"], ["default", "a", "b"]),
        (["zeta", "alpha"], ["alpha", "zeta"]),
        (["default", "default"], ["default"]),
        ([], []),
    ],
)
def test_ordered_puts_default_first_then_names(names: list[str], expected: list[str]) -> None:
    """Display order: the default strategy, then the others alphabetically, each once."""
    assert accounts.ordered(names) == expected


@pytest.mark.parametrize(
    ("name", "active", "expected"),
    [
        ("default", ["default"], "active"),
        ("x", ["default", "x"], "active"),
        ("x", ["default"], "retired"),
    ],
)
def test_status_is_retired_once_the_config_drops_a_strategy(
    name: str, active: list[str], expected: str
) -> None:
    """A strategy known to the ledger but absent from the config is retired."""
    assert accounts.status(name, active) == expected


def test_new_accounts_are_the_active_strategies_without_a_deposit() -> None:
    """Only strategies with no account get a deposit; a known one keeps its first deposit."""
    balances = {"default": D(10000), "a": D(500), "b": D(2000)}
    assert accounts.new_accounts(balances, ["default", "a", "retired"]) == {"b": D(2000)}
    assert accounts.new_accounts(balances, balances) == {}


def _trade(
    seq: int, market: str, token: str, *, strategy: str, shares: str = "100", price: str = "0.4"
) -> Trade:
    sh, pr = D(shares), D(price)
    return Trade(
        *(seq, seq, f"k{seq}", T0, market, "10", token, "No", "Q?", Side.BUY, sh, sh * pr, D(0)),
        reason="r",
        strategy=strategy,
    )


def test_held_markets_is_the_union_over_strategies() -> None:
    """Tracked held markets are every market any strategy holds."""
    a = ledger.replay(D(1000), [_trade(1, "m1", "t1", strategy="a")], [], "a")
    b = ledger.replay(D(1000), [_trade(2, "m2", "t2", strategy="b")], [], "b")
    assert accounts.held_markets([a, b]) == {"m1", "m2"}
    assert accounts.held_markets([]) == frozenset()


# -- evaluation on one set of quotes and books ----------------------------------------------------


def _market_at(market_id: str, event_id: str, yes: str) -> tuple[Market, dict[str, Book]]:
    """A market whose YES book centres on `yes` (spread 0.02), the NO book mirroring it."""
    market = make_market(market_id, event_id)
    y = D(yes)
    yes_book = make_book(
        market.token_ids[0], [(str(y - D("0.01")), "5000")], [(str(y + D("0.01")), "5000")]
    )
    no_book = make_book(
        market.token_ids[1],
        [(str(1 - y - D("0.01")), "5000")],
        [(str(1 - y + D("0.01")), "5000")],
    )
    return market, {market.token_ids[0]: yes_book, market.token_ids[1]: no_book}


def _world(yes_prices: dict[str, str]) -> tuple[list[Market], dict[str, Quote], dict[str, Book]]:
    markets, books = [], {}
    for i, (market_id, yes) in enumerate(yes_prices.items()):
        market, market_books = _market_at(market_id, str(100 + i), yes)
        markets.append(market)
        books.update(market_books)
    quotes = {t: prices.quote_from_book(b, T0, PRICES) for t, b in books.items()}
    return markets, quotes, books


def _spec(name: str, threshold: str, balance: str = "10000", **keys: object) -> StrategySpec:
    rule = StrategyConfig.model_validate({"threshold": threshold, **keys})
    return StrategySpec(name, rule, D(balance))


def _evaluate(
    specs: list[StrategySpec], portfolios: dict[str, Portfolio], yes_prices: dict[str, str]
) -> dict[str, set[str]]:
    markets, quotes, books = _world(yes_prices)
    batches = accounts.evaluate(
        specs,
        portfolios,
        markets,
        quotes,
        books,
        max_price_age_s=60,
        max_slippage=D("0.02"),
        fees_enabled=False,
        now=T0 + timedelta(seconds=1),
    )
    assert [b.strategy for b in batches] == [s.name for s in specs]
    for batch in batches:
        assert all(s.strategy == batch.strategy for s in batch.signals)
        assert all(i.strategy == batch.strategy for i in batch.intents)
        assert batch.markets_considered == len(markets)
    return {b.strategy: {i.market_id for i in b.intents} for b in batches}


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [
        ({"default": "0.50", "c60": "0.60"}, {"default": {"1", "2", "3"}, "c60": {"2", "3"}}),
        ({"default": "0.50", "c80": "0.80"}, {"default": {"1", "2", "3"}, "c80": set()}),
        ({"default": "0.65", "low": "0.10"}, {"default": {"3"}, "low": {"1", "2", "3", "4"}}),
    ],
)
def test_each_strategy_trades_its_own_threshold_on_the_same_books(
    thresholds: dict[str, str], expected: dict[str, set[str]]
) -> None:
    """Two thresholds over one set of quotes and books enter different sets of markets."""
    specs = [_spec(name, threshold) for name, threshold in thresholds.items()]
    got = _evaluate(specs, {}, {"1": "0.55", "2": "0.62", "3": "0.71", "4": "0.20"})
    assert got == expected


def test_a_holding_skips_the_market_only_for_the_strategy_that_holds_it() -> None:
    """Entry counts, holdings and keys are per account: one strategy's position blocks only it."""
    markets, _, _ = _world({"1": "0.55"})
    no_token = markets[0].token_ids[1]
    held = ledger.replay(D(10000), [_trade(1, "1", no_token, strategy="a")], [], "a")
    specs = [_spec("a", "0.5"), _spec("b", "0.5")]
    markets, quotes, books = _world({"1": "0.55"})
    batches = accounts.evaluate(
        specs,
        {"a": held},
        markets,
        quotes,
        books,
        max_price_age_s=60,
        max_slippage=D("0.02"),
        fees_enabled=False,
        now=T0,
    )
    a, b = batches
    assert [s.status for s in a.signals] == [SignalStatus.SKIPPED] and not a.intents
    assert [s.status for s in b.signals] == [SignalStatus.ACTIONABLE]
    (intent,) = b.intents
    assert intent.idempotency_key == _sha(f"b|buy_no|1|{no_token}|entry0")


def test_a_new_account_spends_its_own_deposit_only() -> None:
    """A strategy without an account decides on its deposit: a small one affords fewer stakes."""
    specs = [_spec("default", "0.5"), _spec("small", "0.5", balance="150")]
    got = _evaluate(specs, {}, {"1": "0.55", "2": "0.62", "3": "0.71"})
    assert got["default"] == {"1", "2", "3"}
    assert len(got["small"]) == 1  # 150 USD covers one 100 USD stake


# -- exits and settlement -----------------------------------------------------------------------


def test_exits_follow_each_active_strategy_rule_and_skip_retired_ones() -> None:
    """Take profit is per strategy; a retired strategy (not among the specs) never exits."""
    market, books = _market_at("1", "10", "0.20")  # NO bid 0.79
    no_token = market.token_ids[1]
    portfolios = {
        name: ledger.replay(D(1000), [_trade(i, "1", no_token, strategy=name)], [], name)
        for i, name in enumerate(("tp70", "tp90", "retired"), start=1)
    }
    specs = [_spec("tp70", "0.5", take_profit_price="0.70"), _spec("tp90", "0.5")]
    specs[1] = _spec("tp90", "0.5", take_profit_price="0.90")
    exits = accounts.plan_exits(
        specs, portfolios, books, {"1": market}, max_slippage=D("0.02"), fees_enabled=False
    )
    assert [(e.strategy, e.token_id) for e in exits] == [("tp70", no_token)]
    assert exits[0].idempotency_key == exit_key(no_token, 1, D(100), "tp70")


def test_one_verdict_settles_every_strategy_holding_the_market() -> None:
    """Each holder, active or retired, gets its own settlement under its own key."""
    market = make_market("1")
    yes, no = market.token_ids
    a = ledger.replay(D(1000), [_trade(1, "1", no, strategy="a")], [], "a")
    b = ledger.replay(D(1000), [_trade(2, "1", no, strategy="b", shares="50")], [], "b")
    c = ledger.replay(D(1000), [_trade(3, "2", "other", strategy="c")], [], "c")
    check = ResolutionCheck("resolved", {yes: D(0), no: D(1)}, "No won")
    intents = accounts.settlement_intents([a, b, c], check, "1")
    assert [(i.strategy, i.shares, i.payout_usd) for i in intents] == [
        ("a", D(100), D(100)),
        ("b", D(50), D(50)),
    ]
    assert [i.idempotency_key for i in intents] == [
        _sha(f"a|settle|1|{no}|entry1"),
        _sha(f"b|settle|1|{no}|entry1"),
    ]
    assert accounts.settlement_intents([a], ResolutionCheck("pending", {}, "p"), "1") == []


# -- figures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "equities", "expected"),
    [
        ("100", [], "0"),
        ("100", ["110", "120"], "0"),
        ("100", ["90"], "-0.1"),
        ("100", ["120", "90", "150", "135"], "-0.25"),  # 90 / 120 - 1
        ("100", ["50", "200", "180"], "-0.5"),
        ("0", ["0"], "0"),
    ],
)
def test_max_drawdown_from_the_running_peak(start: str, equities: list[str], expected: str) -> None:
    """The deepest fall below the running peak, which starts at the deposit."""
    assert accounts.max_drawdown(D(start), [D(e) for e in equities]) == D(expected)


def _snapshot(day: str, equity: str, strategy: str) -> PortfolioSnapshot:
    e = D(equity)
    return PortfolioSnapshot(
        f"2026-10-{day}", T0, e, D(0), e, D(0), D(0), D(0), 0, 0, 0, 0, strategy
    )


def test_figures_of_one_account() -> None:
    """Equity, return, drawdown, win rate, fees and capital locked, computed by hand."""
    trades = [
        _trade(1, "1", "t1", strategy="s", shares="100", price="0.40"),  # cost 40
        _trade(2, "2", "t2", strategy="s", shares="50", price="0.60"),  # cost 30, settled
    ]
    settle = ledger.settlement_intents(
        ledger.replay(D(1000), trades, [], "s"),
        ResolutionCheck("resolved", {"t2": D(1)}, "won"),
        "2",
    )[0]
    settlement = Settlement(
        *(1, 3, settle.idempotency_key, T0, "2", "t2", "No", D(50), D(1), D(50), D(30), D(20)),
        resolution="won",
        strategy="s",
    )
    portfolio = ledger.replay(D(1000), trades, [settlement], "s")
    valuation = ledger.value(portfolio, {}, {"t1": D("0.30")}, T0, 60)  # 100 x 0.30 = 30
    snaps = [_snapshot("07", "1100", "s"), _snapshot("06", "1200", "s")]
    got = accounts.figures(portfolio, valuation, snaps, "retired")
    # cash 1000 - 40 - 30 + 50 = 980; equity 980 + 30 = 1010
    assert (got.strategy, got.status, got.cash_usd, got.equity_usd) == (
        "s",
        "retired",
        D(980),
        D(1010),
    )
    assert got.total_pnl_usd == D(10) and got.cumulative_return == D("0.01")
    assert got.max_drawdown == D(1010) / D(1200) - 1  # peak 1200 on the 6th, then 1100, 1010
    assert (got.win_rate, got.settled_positions, got.settled_wins) == (D(1), 1, 1)
    assert (got.capital_locked_usd, got.open_positions, got.trade_count) == (D(40), 1, 2)
    assert got.realized_pnl_usd == D(20) and got.unrealized_pnl_usd == D(-10)
