"""What the web layer needs from the daemon: a read model, a control surface, and their documents.

The daemon implements `ReadModel` over the same portfolio/store reads as the mirrors and `status`
(never by parsing mirror files), and `Control` over its scheduler and reload path. Every document is
JSON-ready (str, int, float, bool, None, lists, dicts) and uses the one vocabulary of DESIGN.md §7:
money `*_usd` in USD, prices 0..1, returns and rates as fractions (0.05 = 5 %), timestamps ISO-8601
UTC with `Z`, ids as strings. The keys listed below are the ones the dashboard and the README rely
on; a document may carry more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

JsonObject = dict[str, Any]
Order = Literal["asc", "desc"]
TradeKind = Literal["trade", "settlement"]


class ReadUnavailable(Exception):
    """The read model cannot answer right now (database not open, locked too long); HTTP 503."""


class ControlRejected(Exception):
    """The daemon refuses a control request (e.g. it is stopping); HTTP 409 with this message."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A validated page of a list: `limit` items after skipping `offset`, in `order`.

    `order` is over the list's natural key (ledger sequence, time, date, version); every list
    route documents its default.
    """

    limit: int
    offset: int
    order: Order


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of a list: the items, the total number of items, and document-level fields.

    `meta` carries the header of list documents that have one (e.g. the evaluation a signal list
    belongs to); the response is `{**meta, "items": items, "total": total, "limit": ...}`.
    """

    items: list[JsonObject]
    total: int
    meta: JsonObject = field(default_factory=dict)


class ReadModel(Protocol):
    """Read-only views of the daemon's state, each a short awaited read (never blocking the loop).

    A method may raise `ReadUnavailable` (answered 503). Documents:

    - `health()`: `{"status": "ok" | "degraded", "problems": [str, ...], "checked_at",
      "last_poll_at", "prices_age_s", "jobs": {job: {"outcome", "finished_at", "age_s"}}}`.
      `problems` names stale prices, failed jobs and a missed watchdog, one clear line each.
    - `status()`: the same document as `prescientd status --json`. The dashboard reads
      `generated_at`, `config_version`, `starting_balance_usd`, `cash_usd`, `equity_usd`,
      `positions_value_usd`, `total_pnl_usd`, `total_return`, `daily_pnl_usd`,
      `realized_pnl_usd`, `unrealized_pnl_usd`, `fees_usd`, `trade_count`, `open_positions`
      (a count), `settled_positions`, `win_rate` (null before the first settlement),
      `max_drawdown`, `last_poll_at`, `prices_age_s`, `jobs` (as in health, plus `error` and
      `next_run_at`) and `warnings`. It also carries `check` ("ok" | "warning" | "critical"),
      `daemon` (`running`, `pid`, ...), `capital_locked_usd`, `settled_wins`, `equity_series`,
      `positions` (as positions() rows, worst unrealized P&L first) and `max_price_age_s`;
      `warnings` items are `{"severity": "warning" | "critical", "code", "message"}`
      (status.py `status_document` builds it; the README lists every key).
    - `portfolio()`: as trades/portfolio.json: the status money fields plus `positions`.
    - `positions(page)`: items as positions_current.csv rows: `market_id`, `question`, `outcome`,
      `token_id`, `shares`, `avg_entry_price`, `cost_usd`, `fees_usd`, `best_bid`,
      `display_price`, `mark_price`, `value_usd`, `unrealized_pnl_usd`, `stale`,
      `opened_at`. Natural key: opened_at; default order asc.
    - `trades(page, kind)`: ledger entries as paper_trades.json: `seq`, `kind` ("trade" |
      "settlement"), `trade_id` or `settlement_id`, `time`, `market_id`, `question`, `outcome`,
      `side` (trades), `shares`, `avg_price`, `notional_usd`, `fees_usd`, `cash_delta_usd`,
      `payout_usd` and `realized_pnl_usd` (settlements). `kind` None = both. Natural key: seq;
      default order desc (newest first).
    - `trade(trade_id)`: one trade entry, or None when there is no such trade (404).
    - `trades_csv()`: the bytes of exports/trades_summary.csv, rendered from SQLite with the
      mirrors' own CSV writer (so the download and the file are the same).
    - `signals(page)`: items as current_signals.json `signals`: `market_id`, `question`,
      `status`, `skip_reason`, `reason`, `action`, `outcome`, `yes_price`, `threshold`,
      `confidence`, `stake_usd`; meta: `evaluated_at`, `config_version`, `markets_considered`,
      `actionable`, `skipped`. Default order asc (as evaluated).
    - `markets(page)`: items as markets_current.csv rows: `market_id`, `question`, `yes_bid`,
      `yes_ask`, `no_bid`, `no_ask`, `display_price`, `spread`, `age_s`, `stale`; meta:
      `generated_at`, `max_price_age_s`. Natural key: market_id.
    - `market(market_id)`: one markets row, or None when the market is not tracked (404).
    - `equity(page)`: points `{"time", "equity_usd", "cash_usd", "drawdown", "source":
      "poll" | "evening"}`, one per poll valuation and evening snapshot, drawdown measured
      against the running peak of the whole history. Natural key: time; default order asc.
    - `performance(page)`: rows as performance_daily.csv: `date`, `equity_usd`,
      `daily_pnl_usd`, `daily_return`, `cumulative_return`, `drawdown`, `max_drawdown`,
      `realized_pnl_usd`, `unrealized_pnl_usd`, `fees_usd`, `trade_count`, `open_positions`,
      `settled_positions`, `win_rate`. Natural key: date; default order asc.
    - `config_versions(page)`: `{"version", "loaded_at", "source": "start" | "reload",
      "changed_keys": [str], "sha256"}`. Natural key: version; default order desc.
    """

    async def health(self) -> JsonObject:
        """Liveness and data freshness: status ok or degraded, with the problems."""
        ...

    async def status(self) -> JsonObject:
        """The `prescientd status --json` document."""
        ...

    async def portfolio(self) -> JsonObject:
        """Cash, equity, P&L and positions, as trades/portfolio.json."""
        ...

    async def positions(self, page: PageRequest) -> Listing:
        """Open positions, marked to market."""
        ...

    async def trades(
        self, page: PageRequest, kind: Literal["trade", "settlement"] | None
    ) -> Listing:
        """Ledger entries (trades and settlements)."""
        ...

    async def trade(self, trade_id: int) -> JsonObject | None:
        """One trade, or None."""
        ...

    async def trades_csv(self) -> bytes:
        """exports/trades_summary.csv, rendered now from SQLite."""
        ...

    async def signals(self, page: PageRequest) -> Listing:
        """The latest evaluation's signals, with skip reasons."""
        ...

    async def markets(self, page: PageRequest) -> Listing:
        """Current prices of the tracked markets."""
        ...

    async def market(self, market_id: str) -> JsonObject | None:
        """One tracked market's current prices, or None."""
        ...

    async def equity(self, page: PageRequest) -> Listing:
        """Equity points for the curve."""
        ...

    async def performance(self, page: PageRequest) -> Listing:
        """Daily performance rows."""
        ...

    async def config_versions(self, page: PageRequest) -> Listing:
        """Config version history."""
        ...


class Control(Protocol):
    """Requests that change what the daemon does; both return at once (HTTP 202).

    A cycle waits its turn behind a running job (jobs never overlap); a reload is exactly a SIGHUP
    (coalesced, applied at the next cycle boundary). The result is merged into the 202 body, e.g.
    `{"queued": true, "position": 1}`. Raise `ControlRejected` to refuse (HTTP 409).
    """

    async def request_cycle(self) -> JsonObject:
        """Queue the brief's full cycle: morning, then poll."""
        ...

    async def request_reload(self) -> JsonObject:
        """Reload the config file, as SIGHUP does."""
        ...
