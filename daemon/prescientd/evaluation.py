"""The evaluation step: every strategy decides on fresh portfolios and the ledger records it.

A poll runs it on the books it fetched; the stream (streamer.py) on the live local books of the
markets that changed. Both go through this one function — the same exits, `accounts.evaluate`,
fills, fees and idempotency keys — while holding the store's trade lock (trade_guard.py), so the
two never decide on the same portfolio at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog

from prescientd.core import accounts, filters
from prescientd.models import (
    Book,
    EvaluationBatch,
    Market,
    Portfolio,
    Quote,
    SignalStatus,
    Trade,
)
from prescientd.store.db import ExecutionResult

if TYPE_CHECKING:
    from prescientd.jobs import JobContext

log = structlog.get_logger(__name__)

POLL = "poll"  # the source of a poll's evaluation
STREAM = "stream"  # the source of an evaluation of a streamed change

Counts = dict[str, Any]


async def trade_step(
    ctx: JobContext,
    eligible: Sequence[Market],
    markets: Mapping[str, Market],
    quotes: Mapping[str, Quote],
    books: Mapping[str, Book],
    now: datetime,
    *,
    source: str = POLL,
) -> Counts:
    """The evaluation step of a poll and of a stream change (the caller holds
    `ctx.trade_guard.lock`): every portfolio read now, each active strategy's exits on `books`,
    then its entries into `eligible` on the same quotes and books; each step one transaction.

    `source` other than "poll" (the stream) notes itself in every reason and records only the
    strategies that trade (the poll records every verdict anyway).
    """
    cfg = ctx.config
    portfolios = await ctx.portfolio.read_all()
    exits = accounts.plan_exits(
        cfg.strategy_specs(),
        portfolios,
        books,
        markets,
        max_slippage=cfg.paper.max_slippage,
        fees_enabled=cfg.paper.fees_enabled,
    )
    counts: Counts = {}
    if exits:
        if source != POLL:
            exits = accounts.with_source(exits, source)
        exit_trades, _ = await ctx.store.record_trades(exits, now)
        counts["exits"] = len(exit_trades)
        _report_trades(ctx, exit_trades, source)
        portfolios = await ctx.portfolio.read_all()
    counts.update(await evaluate_and_trade(ctx, eligible, quotes, books, portfolios, now, source))
    return counts


async def evaluate_and_trade(
    ctx: JobContext,
    markets: Sequence[Market],
    quotes: Mapping[str, Quote],
    books: Mapping[str, Any],
    portfolios: Mapping[str, Portfolio],
    now: datetime,
    source: str = POLL,
) -> Counts:
    """Run every active strategy on the same quotes and books, size fills against the books and
    record all their signals and trades in one transaction."""
    cfg = ctx.config
    # held markets carry fresh lifecycle flags from the settlement check: never buy a closed one
    tradable = [m for m in markets if filters.is_binary(m) and filters.is_tradable(m)]
    # a variant added by a reload trades once the poll has opened its account (its deposit)
    specs = [s for s in cfg.strategy_specs() if s.name in portfolios or source == POLL]
    batches = accounts.evaluate(
        specs,
        portfolios,
        tradable,
        quotes,
        books,
        max_price_age_s=cfg.schedule.price_max_age_s,
        max_slippage=cfg.paper.max_slippage,
        fees_enabled=cfg.paper.fees_enabled,
        now=now,
    )
    recorded = batches if source == POLL else accounts.trading(batches, source)
    results: tuple[ExecutionResult, ...] = ()
    if recorded:
        results = await ctx.store.record_evaluations(
            run_id=ctx.run_id,
            evaluated_at=now,
            local_date=ctx.local_date(now),
            config_version=ctx.config_version,
            batches=recorded,
        )
    _report_trades(ctx, [t for result in results for t in result.trades], source)
    counts = _evaluation_counts(batches, results)
    if len(batches) > 1 and source == POLL:
        counts["strategies"] = {
            b.strategy: _evaluation_counts([b], [r]) for b, r in zip(batches, results, strict=True)
        }
    return counts


def _report_trades(ctx: JobContext, trades: Sequence[Trade], source: str) -> None:
    """One paper_trade line and report per recorded trade (after the commit)."""
    for trade in trades:
        log.info(
            "paper_trade",
            strategy=trade.strategy,
            source=source,
            trade_id=trade.trade_id,
            market_id=trade.market_id,
            question=trade.question,
            outcome=trade.outcome,
            side=trade.side.value,
            shares=str(trade.shares),
            avg_price=str((trade.notional_usd / trade.shares).quantize(Decimal("0.0001"))),
            notional_usd=str(trade.notional_usd),
            fees_usd=str(trade.fees_usd),
        )
        ctx.observer.paper_traded(trade)


def _evaluation_counts(
    batches: Sequence[EvaluationBatch], results: Sequence[ExecutionResult]
) -> Counts:
    signals = [s for b in batches for s in b.signals]
    return {
        "signals": len(signals),
        "actionable": sum(1 for s in signals if s.status is SignalStatus.ACTIONABLE),
        "trades": sum(len(r.trades) for r in results),
        "duplicate_trades": sum(r.duplicates for r in results),
    }
