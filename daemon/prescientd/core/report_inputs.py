"""From what the ledger holds to what the report's sections take (core.report.build_report).

Pure: plain values in, the core's input types out.
- A resolved market's observations: its YES price at first sighting is the open of the YES
  token's first daily bar (the first price ever stored for it); its evening prices are the
  closes of its bars dated before the local day its resolution was learned (the day it resolved,
  or before, so a price after the outcome was known is never an observation).
- A trade's config version is the version of the signal it executed; trades without one (exits)
  are left to `core.capital.version_in_force` (the version loaded at or before the trade).
- An event's scenarios come from every child market Gamma listed when it was last refreshed;
  without that list (events stored before it was kept) only the held markets are known, so the
  event is incomplete and "no market resolves YES" is one of its scenarios.
- A fill's depth headroom needs the book it walked: asks for a buy, bids for a sell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from prescientd.core.calibration import ResolvedMarket
from prescientd.core.capital import TaggedTrade
from prescientd.core.risk import EventMarkets, FillBook, stored_fill_levels
from prescientd.models import Book, Side, Trade

Day = tuple[str, Decimal | None, Decimal | None]  # (local date, open, close)


def resolved_market(
    market_id: str,
    tags: Sequence[str],
    yes_payout: Decimal,
    days: Sequence[Day],
    learned_on: str,
) -> ResolvedMarket:
    """A resolved market's observations from its YES token's days (in date order)."""
    first = next((open_ for _, open_, _ in days if open_ is not None), None)
    evenings = tuple(close for day, _, close in days if day < learned_on and close is not None)
    return ResolvedMarket(market_id, tuple(tags), first, evenings, yes_payout)


def tagged_trades(trades: Iterable[Trade], signal_versions: Mapping[int, int]) -> list[TaggedTrade]:
    """Each trade with its strategy and, when it executed a signal, that signal's version."""
    return [TaggedTrade(t, t.strategy, signal_versions.get(t.trade_id)) for t in trades]


def event_scenarios(
    event_id: str,
    title: str,
    neg_risk: bool,
    children: Sequence[tuple[str, str]],
    complete: bool,
    held_questions: Mapping[str, str],
) -> EventMarkets:
    """The markets of one event that may resolve YES, named for people.

    held_questions: the questions of the event's held markets (they name a winner even when the
    stored child list is missing or predates them).
    """
    questions = {**held_questions, **dict(children)}
    ids = tuple(dict.fromkeys([*(i for i, _ in children), *held_questions]))
    known = bool(children) and complete and set(held_questions) <= {i for i, _ in children}
    return EventMarkets(event_id, title, neg_risk, ids, complete=known, questions=questions)


def fill_book(
    trade: Trade,
    levels: Sequence[Sequence[str]],
    book: Book | None,
    max_slippage: Decimal,
) -> FillBook:
    """One fill with the book side it walked (None when no book was recorded)."""
    side_levels = None
    if book is not None:
        side_levels = book.asks if trade.side is Side.BUY else book.bids
    return FillBook(
        trade_id=trade.trade_id,
        strategy=trade.strategy,
        market_id=trade.market_id,
        executed_at=trade.executed_at,
        side=trade.side,
        levels=stored_fill_levels(levels),
        book_levels=side_levels,
        max_slippage=max_slippage,
    )
