"""What the web layer needs from the daemon: a read model, a control surface, and their documents.

The daemon implements `ReadModel` over the same portfolio/store reads as the mirrors and `status`
(never by parsing mirror files), and `Control` over its scheduler and reload path. Every document is
JSON-ready (str, int, float, bool, None, lists, dicts) and uses the one vocabulary of DESIGN.md §7:
money `*_usd` in USD, prices 0..1, returns and rates as fractions (0.05 = 5 %), timestamps ISO-8601
UTC with `Z`, ids as strings. The keys listed below are the ones the dashboard and the README rely
on; a document may carry more.

Several strategies (DESIGN.md §10): each is its own paper account. The list reads and `portfolio`
take `strategy`: None means every strategy (each row naming its `strategy`), a name means that
strategy's rows only. The web layer checks a name against `strategy_names()` first (404 when
unknown), so a read is only ever asked for a strategy it knows.
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
    - `strategy_names()`: every strategy the API answers for: each account (active or retired)
      and each strategy the running config names, "default" first, then by name.
    - `strategies(page)`: the rows of exports/strategies.csv (the same builder as the file and
      `status`'s `strategies`): `strategy`, `status` ("active" | "retired"),
      `starting_balance_usd`, `equity_usd`, `cumulative_return`, `max_drawdown`, `win_rate`,
      `trade_count`, `fees_usd`, `capital_locked_usd`, `total_pnl_usd`, `realized_pnl_usd`,
      `unrealized_pnl_usd`, `cash_usd`, `positions_value_usd`, `open_positions`,
      `settled_positions`, `settled_wins`. Natural key: display order; default order asc.
    - `portfolio(strategy)`: as trades/portfolio.json: the default account's money fields and
      `positions` at the top level and every account (with `status` and `positions`) in
      `strategies`. With a strategy: the same document with that account at the top level and
      only it in `strategies`.
    - `positions(page, strategy)`: items as positions_current.csv rows: `strategy`, `market_id`,
      `question`, `outcome`, `token_id`, `shares`, `avg_entry_price`, `cost_usd`, `fees_usd`,
      `best_bid`, `display_price`, `mark_price`, `value_usd`, `unrealized_pnl_usd`,
      `stale`, `book_missing`, `opened_at`. Natural key: opened_at (then strategy); default
      order asc.
    - `trades(page, kind, strategy)`: ledger entries as paper_trades.json: `seq`, `strategy`,
      `kind` ("trade" | "settlement"), `trade_id` or `settlement_id`, `time`, `market_id`,
      `question`, `outcome`, `side` (trades), `shares`, `avg_price`, `notional_usd`,
      `fees_usd`, `cash_delta_usd`, `payout_usd` and `realized_pnl_usd` (settlements). `kind`
      None = both. Natural key: seq; default order desc (newest first).
    - `trade(trade_id)`: one trade entry, or None when there is no such trade (404).
    - `trades_csv()`: the bytes of exports/trades_summary.csv, rendered from SQLite with the
      mirrors' own CSV writer (so the download and the file are the same).
    - `signals(page, strategy)`: the latest poll's evaluations, items as current_signals.json
      `signals`: `strategy`, `market_id`, `question`, `status`, `skip_reason`, `reason`,
      `action`, `outcome`, `yes_price`, `threshold`, `confidence`, `stake_usd`; meta as its
      header: `evaluation_id`, `evaluated_at`, `config_version`, `markets_considered`,
      `actionable`, `skipped` (totals of the strategies listed) and `strategies` (each
      evaluation's `strategy`, `evaluation_id`, `markets_considered`, `actionable`, `skipped`).
      A strategy the latest poll did not evaluate (retired) has no signals. Default order asc
      (as evaluated, strategy by strategy).
    - `markets(page)`: items as markets_current.csv rows: `market_id`, `question`, `yes_bid`,
      `yes_ask`, `no_bid`, `no_ask`, `display_price`, `spread`, `age_s`, `stale`; meta:
      `generated_at`, `max_price_age_s`. Natural key: market_id.
    - `market(market_id)`: one markets row, or None when the market is not tracked (404).
    - `equity(page, strategy)`: points `{"strategy", "time", "equity_usd", "cash_usd",
      "drawdown", "source": "poll" | "evening"}`, one per poll valuation and evening snapshot of
      each account, drawdown measured against the running peak of that account's whole history.
      Natural key: time (then strategy); default order asc.
    - `performance(page, strategy)`: rows as performance_daily.csv: `strategy`, `date`,
      `equity_usd`, `daily_pnl_usd`, `daily_return`, `cumulative_return`, `drawdown`,
      `max_drawdown`, `realized_pnl_usd`, `unrealized_pnl_usd`, `fees_usd`, `trade_count`,
      `open_positions`, `settled_positions`, `win_rate`. Natural key: date (then strategy);
      default order asc.
    - `config_versions(page)`: `{"version", "loaded_at", "source": "start" | "reload",
      "changed_keys": [str], "sha256"}`. Natural key: version; default order desc.
    - `report(strategy)`: the analytics report, the same document as `prescientd report --json`
      (reporting.report_document): `generated_at`, `strategy`, `calibration` (`bucket_width`,
      `confidence`, `resolved_markets`, `split_markets`, `buckets` as report_calibration.csv
      rows, `brier` as report_brier.csv rows), `capital`, `events`, `versions` (rows of
      report_capital/events/versions.csv), `depth` (report_depth_summary.csv's figures plus
      `histogram` and `fills`) and `resolutions` (`total`, `settlement`, `evening`). With a
      strategy, only that strategy's money (calibration is every tracked market's).
    """

    async def health(self) -> JsonObject:
        """Liveness and data freshness: status ok or degraded, with the problems."""
        ...

    async def status(self) -> JsonObject:
        """The `prescientd status --json` document."""
        ...

    async def strategy_names(self) -> list[str]:
        """Every strategy with an account or named by the config, in display order."""
        ...

    async def strategies(self, page: PageRequest) -> Listing:
        """Every account side by side, as exports/strategies.csv."""
        ...

    async def portfolio(self, strategy: str | None = None) -> JsonObject:
        """Cash, equity, P&L and positions, as trades/portfolio.json."""
        ...

    async def positions(self, page: PageRequest, strategy: str | None = None) -> Listing:
        """Open positions, marked to market."""
        ...

    async def trades(
        self,
        page: PageRequest,
        kind: Literal["trade", "settlement"] | None,
        strategy: str | None = None,
    ) -> Listing:
        """Ledger entries (trades and settlements)."""
        ...

    async def trade(self, trade_id: int) -> JsonObject | None:
        """One trade, or None."""
        ...

    async def trades_csv(self) -> bytes:
        """exports/trades_summary.csv, rendered now from SQLite."""
        ...

    async def signals(self, page: PageRequest, strategy: str | None = None) -> Listing:
        """The latest evaluation's signals, with skip reasons."""
        ...

    async def markets(self, page: PageRequest) -> Listing:
        """Current prices of the tracked markets."""
        ...

    async def market(self, market_id: str) -> JsonObject | None:
        """One tracked market's current prices, or None."""
        ...

    async def equity(self, page: PageRequest, strategy: str | None = None) -> Listing:
        """Equity points for the curve."""
        ...

    async def performance(self, page: PageRequest, strategy: str | None = None) -> Listing:
        """Daily performance rows."""
        ...

    async def config_versions(self, page: PageRequest) -> Listing:
        """Config version history."""
        ...

    async def report(self, strategy: str | None = None) -> JsonObject:
        """The analytics report (`prescientd report --json`)."""
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
