"""The analytics report (DESIGN §11) read from SQLite: one function every consumer calls.

`prescientd report`, the evening's `report_*.csv` files and the workbook's report sheets, and
`/api/v1/report` all build the report here, from the same store reads (store/analytics.py), the
same portfolio service (marks: each position's best bid, as the portfolio values it) and the same
pure core (core/report_inputs.py, core/report.py), so the four show the same figures.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

from prescientd.config import Config
from prescientd.core import accounts, report_inputs
from prescientd.core.calibration import ResolvedMarket
from prescientd.core.capital import ConfigVersion
from prescientd.core.report import Report, build_report, report_json
from prescientd.core.risk import EventMarkets, FillBook, HeldToken, held_tokens
from prescientd.models import ONE, ZERO, Portfolio, Trade, Valuation
from prescientd.portfolio import PortfolioService
from prescientd.report_view import render_report
from prescientd.status_view import missing_database_text
from prescientd.store.db import Store, StoreError
from prescientd.store.safety import check_for_read

YES_PAYOUT = {"yes": ONE, "no": ZERO, "50-50": Decimal("0.5")}


async def read_report(
    store: Store, config: Config, now: datetime, strategy: str | None = None
) -> Report:
    """Every section of the report at `now`, for one strategy's money or every strategy's."""
    cfg = config.report
    valued = await PortfolioService.of(store).valued_all(now, config.schedule.price_max_age_s)
    marks = {mp.position.token_id: mp.mark_price for _, v in valued.values() for mp in v.positions}
    ledger = await store.ledger_with_versions()
    versions = [
        ConfigVersion(v.version, v.loaded_at, v.changed_keys) for v in await store.config_versions()
    ]
    held, events = await _exposure(store, valued, marks)
    # pure but not small (every resolved market's observations): off the event loop
    build = functools.partial(
        build_report,
        now=now,
        resolved_markets=await _resolved_markets(store, config),
        trades=report_inputs.tagged_trades(ledger.trades, ledger.config_versions),
        settlements=ledger.settlements,
        starting_balances_usd=await store.starting_balances(),
        marks=marks,
        versions=versions,
        held=held,
        events=events,
        fills=await _fills(store, ledger.trades, ledger.levels, config.paper.max_slippage),
        strategy=strategy,
        bucket_width=cfg.bucket_width,
        top_events=cfg.top_events,
    )
    return await asyncio.to_thread(build)


async def report_document(
    store: Store, config: Config, now: datetime, strategy: str | None = None
) -> dict[str, Any]:
    """The report as JSON (`prescientd report --json`, `/api/v1/report`), with how many
    resolutions the ledger holds from each source."""
    doc = report_json(await read_report(store, config, now, strategy))
    counts = await store.resolution_counts()
    doc["resolutions"] = {"total": sum(counts.values()), **counts}
    return doc


async def _resolved_markets(store: Store, config: Config) -> list[ResolvedMarket]:
    tz = config.tz
    return [
        report_inputs.resolved_market(
            track.resolution.market_id,
            track.tags,
            YES_PAYOUT.get(track.resolution.resolution, Decimal(-1)),  # unknown: invalid
            [(d.local_date, d.open_price, d.close_price) for d in track.days],
            track.resolution.learned_at.astimezone(tz).date().isoformat(),
        )
        for track in await store.resolved_tracks()
    ]


async def _exposure(
    store: Store,
    valued: dict[str, tuple[Portfolio, Valuation]],
    marks: dict[str, Decimal],
) -> tuple[list[HeldToken], dict[str, EventMarkets]]:
    """Every open position as the event scenarios see it, and the events they are in."""
    positions = {name: list(p.positions.values()) for name, (p, _) in valued.items()}
    markets = await store.markets_by_id({p.market_id for ps in positions.values() for p in ps})
    held: list[HeldToken] = []
    for name, own in positions.items():
        tokens, _ = held_tokens(own, markets, marks, name)
        held += tokens
    stored = await store.event_children({h.event_id for h in held})
    events: dict[str, EventMarkets] = {}
    for event_id in {h.event_id for h in held}:
        own_questions = {
            h.market_id: markets[h.market_id].question for h in held if h.event_id == event_id
        }
        found = stored.get(event_id)
        events[event_id] = report_inputs.event_scenarios(
            event_id,
            found.title if found else "",
            found.neg_risk if found else False,
            found.children if found else (),
            found.complete if found else False,
            own_questions,
        )
    return held, events


async def _fills(
    store: Store,
    trades: list[Trade],
    levels: dict[int, list[list[str]]],
    max_slippage: Decimal,
) -> list[FillBook]:
    """Each fill with the recorded book it walked (None where no book was recorded)."""
    return [
        report_inputs.fill_book(
            trade,
            levels.get(trade.trade_id, []),
            await store.recorded_book(trade.token_id, trade.executed_at),
            max_slippage,
        )
        for trade in trades
    ]


# ------------------------------------------------------------------------------------------------
# `prescientd report`
class UnknownStrategy(Exception):
    """--strategy names no account and no strategy of the config."""


async def known_strategies(store: Store, config: Config) -> list[str]:
    """Every account (active or retired) and every strategy the config names, default first."""
    names = [*(await PortfolioService.of(store).strategies())]
    names += [s.name for s in config.strategy_specs() if s.name not in names]
    return accounts.ordered(names)


async def collect_report(
    config: Config, now: datetime, strategy: str | None = None
) -> dict[str, Any]:
    """The report document read through a read-only connection of its own (safe while the
    daemon runs); StoreError when the database cannot be read, UnknownStrategy for a bad name."""
    store = await Store.open(config.paths.db_path, readonly=True)
    try:
        if await store.schema_version() == 0:
            raise StoreError(f"database {config.paths.db_path} holds no prescientd ledger")
        if strategy is not None:
            known = await known_strategies(store, config)
            if strategy not in known:
                names = ", ".join(known) or "none"
                raise UnknownStrategy(f"no strategy named {strategy!r} (strategies: {names})")
        return await report_document(store, config, now, strategy)
    except sqlite3.Error as exc:
        raise StoreError(f"database {config.paths.db_path} cannot be read: {exc}") from exc
    finally:
        await store.close()


def run_report(
    config: Config,
    now: datetime,
    *,
    as_json: bool,
    strategy: str | None,
    width: int,
    out: TextIO,
    err: TextIO,
    config_option: str = "",
) -> int:
    """Print the report (tables, or the JSON document); the exit status (1: cannot be read)."""
    db_path = config.paths.db_path
    if not db_path.exists():
        err.write(f"prescientd: {missing_database_text(str(db_path), config_option)}\n")
        return 1
    check_for_read(db_path, full=False)  # an empty or foreign file: one line, untouched
    try:
        doc = asyncio.run(collect_report(config, now, strategy))
    except UnknownStrategy as exc:
        err.write(f"prescientd: {exc}\n")
        return 1
    if as_json:
        out.write(json.dumps(doc, indent=1) + "\n")
    else:
        out.write(render_report(doc, width=width, tz=config.tz, database=str(db_path)))
    return 0
