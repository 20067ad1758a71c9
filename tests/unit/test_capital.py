# mypy: disable-error-code="comparison-overlap"
# (hand-computed amounts are int literals compared with Decimal results on purpose: exact)
"""Return per dollar-day of capital locked, and P&L by config version (hand-computed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from prescientd.core.capital import (
    CapitalUse,
    ConfigVersion,
    TaggedSettlement,
    TaggedTrade,
    capital_use,
    dollar_days,
    pnl_by_version,
    version_in_force,
)
from prescientd.models import Settlement, Side, Trade

D = Decimal
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _trade(
    seq: int, side: Side, token: str, shares: str, notional: str, fee: str, at: datetime
) -> Trade:
    return Trade(
        trade_id=seq,
        seq=seq,
        idempotency_key=f"k{seq}",
        executed_at=at,
        market_id=f"m-{token}",
        event_id="e1",
        token_id=token,
        outcome="No",
        question=f"Will {token} happen?",
        side=side,
        shares=D(shares),
        notional_usd=D(notional),
        fees_usd=D(fee),
        reason="test",
    )


def _settle(seq: int, token: str, shares: str, pps: str, cost: str, at: datetime) -> Settlement:
    payout = D(shares) * D(pps)
    return Settlement(
        settlement_id=seq,
        seq=seq,
        idempotency_key=f"s{seq}",
        settled_at=at,
        market_id=f"m-{token}",
        token_id=token,
        outcome="No",
        shares=D(shares),
        payout_per_share=D(pps),
        payout_usd=payout,
        cost_basis_usd=D(cost),
        realized_pnl_usd=payout - D(cost),
        resolution="test",
    )


# The partial-hold ledger:
#   day 0    buy A 100 sh for 40 (no fee)           cost locked A 40
#   day 1.5  buy B 50 sh for 30 + 1 fee             cost locked B 31
#   day 2    sell A 50 sh for 25: removes 40 x 50/100 = 20 of cost, realized +5; A locks 20
#   day 5    A settles, 50 sh x 1 = 50 against cost 20: realized +30; A locks 0
#   day 6    now; B open, marked 0.70: 50 x 0.70 = 35 against 31: unrealized +4
# dollar-days: A 40 x 2 + 20 x 3 = 140; B 31 x 4.5 = 139.5; total 279.5
# P&L = 5 + 30 + 4 = 39; per dollar-day 39 / 279.5 = 78/559; annualized x365 = 28470/559
TRADES = [
    _trade(1, Side.BUY, "A", "100", "40", "0", T0),
    _trade(2, Side.BUY, "B", "50", "30", "1", T0 + 1.5 * DAY),
    _trade(3, Side.SELL, "A", "50", "25", "0", T0 + 2 * DAY),
]
SETTLEMENTS = [_settle(4, "A", "50", "1", "20", T0 + 5 * DAY)]
NOW = T0 + 6 * DAY
MARKS = {"B": D("0.70")}


def test_dollar_days_with_a_partial_sale() -> None:
    """Cost x days locked, reduced from the moment of a partial sale, open ones to now."""
    assert dollar_days(TRADES, SETTLEMENTS, NOW) == D("279.5")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (T0, D(0)),  # nothing has been locked for any time yet
        (T0 + DAY, D(40)),  # A alone: 40 x 1
        (
            T0 + 2 * DAY,
            D(80 + 31 * D("0.5")),
        ),  # A 40 x 2, B 31 x 0.5 (a sale at now locks nothing more)
        # A 140 after settlement; B 31 x (10 - 1.5) = 263.5
        (T0 + 10 * DAY, D(140) + D("263.5")),
    ],
)
def test_dollar_days_to_now(now: datetime, expected: Decimal) -> None:
    """Open positions lock their cost until now; rows after now lock nothing yet."""
    rows = [t for t in TRADES if t.executed_at <= now]
    settled = [s for s in SETTLEMENTS if s.settled_at <= now]
    assert dollar_days(rows, settled, now) == expected


def test_dollar_days_are_exact_in_seconds() -> None:
    """Time is exact: 6 hours of a 100 USD position is 25 dollar-days."""
    trade = _trade(1, Side.BUY, "A", "200", "100", "0", T0)
    assert dollar_days([trade], [], T0 + timedelta(hours=6)) == D(25)


def test_capital_use_per_strategy() -> None:
    """P&L, return on balance and per dollar-day; a strategy without trades has no ratio."""
    rows = capital_use(
        TRADES,
        SETTLEMENTS,
        starting_balances_usd={"default": D(1000), "contrarian60": D(500)},
        marks=MARKS,
        now=NOW,
    )
    assert [r.strategy for r in rows] == ["default", "contrarian60"]  # display order
    used, idle = rows
    assert idle == CapitalUse(
        strategy="contrarian60",
        starting_balance_usd=D(500),
        realized_pnl_usd=D(0),
        unrealized_pnl_usd=D(0),
        pnl_usd=D(0),
        fees_usd=D(0),
        return_on_balance=D(0),
        dollar_days=D(0),
        return_per_dollar_day=None,
        annualized_return=None,
        capital_locked_usd=D(0),
        average_locked_usd=None,
        trade_count=0,
        open_positions=0,
        unmarked_positions=0,
    )
    assert (used.realized_pnl_usd, used.unrealized_pnl_usd, used.pnl_usd) == (35, 4, 39)
    assert used.return_on_balance == D("0.039")  # 39 / 1000
    assert used.dollar_days == D("279.5")
    assert used.return_per_dollar_day == D(78) / D(559)
    assert used.annualized_return == D(78) / D(559) * 365
    assert round(used.annualized_return, 6) == D("50.930233")  # 28470 / 559
    assert used.capital_locked_usd == D(31)  # B still open
    assert used.average_locked_usd == D("279.5") / 6  # over the 6 days since the first trade
    assert (used.fees_usd, used.trade_count, used.open_positions) == (1, 3, 1)


def test_unmarked_position_is_valued_at_cost() -> None:
    """Without a mark, an open position adds no unrealized P&L and is counted as unmarked."""
    (row,) = capital_use(
        TRADES, SETTLEMENTS, starting_balances_usd={"default": D(1000)}, marks={}, now=NOW
    )
    assert (row.pnl_usd, row.unmarked_positions) == (35, 1)


def test_strategies_fold_their_own_rows() -> None:
    """Tagged rows split into accounts; the same token held by two strategies stays apart."""
    other = TaggedTrade(_trade(5, Side.BUY, "B", "10", "6", "0", T0 + 3 * DAY), "contrarian60")
    tagged_settlement = TaggedSettlement(SETTLEMENTS[0])  # default
    rows = capital_use(
        [*TRADES, other],
        [tagged_settlement],
        starting_balances_usd={"default": D(1000), "contrarian60": D(500)},
        marks=MARKS,
        now=NOW,
    )
    by_name = {r.strategy: r for r in rows}
    # contrarian60: 10 x 0.70 - 6 = 1 unrealized; 6 USD locked for 3 days = 18 dollar-days
    assert (by_name["contrarian60"].pnl_usd, by_name["contrarian60"].dollar_days) == (1, 18)
    assert by_name["default"].pnl_usd == 39


def test_trades_without_balance_are_refused() -> None:
    """A strategy with trades but no starting balance is a clear error, not a silent zero."""
    with pytest.raises(ValueError, match="no starting balance"):
        capital_use(TRADES, SETTLEMENTS, starting_balances_usd={}, marks=MARKS, now=NOW)


V1 = ConfigVersion(1, T0 - timedelta(hours=1))
V2 = ConfigVersion(2, T0 + DAY, ("strategy.threshold",))


@pytest.mark.parametrize(
    ("at", "expected"),
    [(T0 - 2 * DAY, None), (T0, V1), (T0 + DAY, V2), (T0 + 3 * DAY, V2)],
)
def test_version_in_force(at: datetime, expected: ConfigVersion | None) -> None:
    """The latest version loaded at or before the moment; None before the first."""
    assert version_in_force([V2, V1], at) == expected


def test_pnl_by_version() -> None:
    """Each buy's P&L goes to the version it was made under; the versions add up to the total."""
    rows = pnl_by_version(
        TRADES,
        SETTLEMENTS,
        starting_balances_usd={"default": D(1000)},
        marks=MARKS,
        versions=[V1, V2],
    )
    # v1: the A buy (cost 40): sale +5 and settlement +30 = 35 realized, return 35 / 40
    # v2: the B buy (cost 31, fee 1) and the A sale (fee 0): B open, 35 - 31 = +4 unrealized
    got = [
        (
            r.config_version,
            r.changed_keys,
            r.entries,
            r.trade_count,
            r.cost_usd,
            r.fees_usd,
            r.realized_pnl_usd,
            r.unrealized_pnl_usd,
            r.pnl_usd,
            r.return_on_cost,
        )
        for r in rows
    ]
    assert got == [
        (1, (), 1, 1, 40, 0, 35, 0, 35, D("0.875")),
        (2, ("strategy.threshold",), 1, 2, 31, 1, 0, 4, 4, D(4) / 31),
    ]
    assert sum(r.pnl_usd for r in rows) == 39


def test_version_tag_wins_and_unknown_version_comes_first() -> None:
    """An explicit config_version is used as is; a trade before any version has version None."""
    early = _trade(1, Side.BUY, "A", "100", "40", "0", T0 - 2 * DAY)
    tagged = TaggedTrade(TRADES[1], config_version=1)  # executed under v2 by time
    rows = pnl_by_version(
        [early, tagged],
        [],
        starting_balances_usd={"default": D(1000)},
        marks={"A": D("0.5"), "B": D("0.70")},
        versions=[V1, V2],
    )
    # early: 100 x 0.5 - 40 = +10; tagged B: 50 x 0.70 - 31 = +4
    assert [(r.config_version, r.loaded_at, r.pnl_usd) for r in rows] == [
        (None, None, 10),
        (1, V1.loaded_at, 4),
    ]


def test_average_cost_shares_a_position_between_versions() -> None:
    """Two buys of one token under two versions share its averaged cost and P&L by shares."""
    trades = [
        _trade(1, Side.BUY, "A", "100", "40", "0", T0),  # v1, 0.40
        _trade(2, Side.BUY, "A", "100", "60", "0", T0 + 2 * DAY),  # v2, 0.60
        # sell 100 of 200 for 70: removes 100 x 100/200 = 50 of cost, realized +20, 10 per buy
        _trade(3, Side.SELL, "A", "100", "70", "0", T0 + 3 * DAY),
    ]
    rows = pnl_by_version(
        trades,
        [],
        starting_balances_usd={"default": D(1000)},
        marks={"A": D("0.8")},
        versions=[V1, V2],
    )
    # left: 100 sh costing 50, 50 sh per buy; marked 0.8: 50 x 0.8 - 25 = +15 each
    assert [(r.config_version, r.realized_pnl_usd, r.unrealized_pnl_usd) for r in rows] == [
        (1, 10, 15),
        (2, 10, 15),
    ]
