"""A fake ReadModel and Control with plausible, internally consistent figures, and a test server.

The figures are chosen so every dashboard panel has something to show: three open positions with
gains and losses, trades and a settlement, actionable and skipped signals, a week of equity and
performance, two config versions, and one failed job. Two strategies: "default" holds all of
that, and the variant "contrarian60" (a younger account) one position, two trades, its own
signals, a day of equity and three days of performance. Each row names its `strategy`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp import web

from prescientd.config import HttpConfig
from prescientd.web.app import make_app
from prescientd.web.contract import (
    ControlRejected,
    JsonObject,
    Listing,
    PageRequest,
    ReadUnavailable,
    TradeKind,
)
from prescientd.web.events import EventHub
from prescientd.web.metrics import Metrics
from prescientd.web.server import serving

from .fake_report import fake_report

T0 = datetime(2026, 10, 6, 14, 0, tzinfo=UTC)
TOKEN = "test-token-0123456789abcdef"
DEFAULT = "default"
VARIANT = "contrarian60"
STRATEGIES = (DEFAULT, VARIANT)
START_USD = 10000.0


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with Z, as the daemon writes it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _positions() -> list[JsonObject]:
    rows = [
        (DEFAULT, "501", "Will the Fed cut rates in December?", 180.0, 0.52, 0.47, -9.0),
        (DEFAULT, "502", "Will <b>BTC</b> close above $100k?", 250.0, 0.38, 0.44, 15.0),
        (DEFAULT, "503", "Will it snow in Paris on Christmas?", 120.0, 0.80, 0.79, -1.2),
        (VARIANT, "601", "Will the bill pass the Senate?", 277.0, 0.36, 0.39, 8.31),
    ]
    out = []
    for i, (strategy, market_id, question, shares, entry, mark, pnl) in enumerate(rows):
        out.append(
            {
                "strategy": strategy,
                "market_id": market_id,
                "question": question,
                "outcome": "No",
                "token_id": f"{market_id}{'7' * 70}",
                "event_id": f"9{market_id}",
                "shares": shares,
                "avg_entry_price": entry,
                "cost_usd": round(shares * entry, 2),
                "fees_usd": 0.5,
                "best_bid": mark,
                "display_price": mark + 0.01,
                "mark_price": mark,
                "value_usd": round(shares * mark, 2),
                "unrealized_pnl_usd": pnl,
                "stale": i == 2,
                "opened_at": iso(T0 - timedelta(days=3 - i, minutes=i)),
            }
        )
    return out


def _ledger() -> list[JsonObject]:
    entries: list[JsonObject] = []
    for strategy, seq, market_id, question, price in (
        (DEFAULT, 1, "500", "Will the election be called by midnight?", 0.61),
        (DEFAULT, 2, "501", "Will the Fed cut rates in December?", 0.52),
        (DEFAULT, 3, "502", "Will <b>BTC</b> close above $100k?", 0.38),
        (DEFAULT, 4, "503", "Will it snow in Paris on Christmas?", 0.80),
        (VARIANT, 6, "601", "Will the bill pass the Senate?", 0.36),
        (VARIANT, 7, "602", "Will the match end in a draw?", 0.29),
    ):
        shares = round(100 / price, 2)
        entries.append(
            {
                "strategy": strategy,
                "seq": seq,
                "kind": "trade",
                "trade_id": seq if seq < 5 else seq - 1,
                # the variant's trades come after the default's settlement (6 hours ago)
                "time": iso(
                    T0 - (timedelta(days=5 - seq) if seq < 5 else timedelta(hours=11 - seq))
                ),
                "market_id": market_id,
                "question": question,
                "outcome": "No",
                "side": "buy",
                "shares": shares,
                "avg_price": price,
                "notional_usd": 100.0,
                "fees_usd": 0.5,
                "cash_delta_usd": -100.5,
            }
        )
    entries.append(
        {
            "strategy": DEFAULT,
            "seq": 5,
            "kind": "settlement",
            "settlement_id": 1,
            "time": iso(T0 - timedelta(hours=6)),
            "market_id": "500",
            "question": "Will the election be called by midnight?",
            "outcome": "No",
            "shares": 163.93,
            "payout_per_share": 1.0,
            "payout_usd": 163.93,
            "cash_delta_usd": 163.93,
            "realized_pnl_usd": 63.43,
        }
    )
    return entries


def _signals() -> list[JsonObject]:
    default: list[JsonObject] = [
        {
            "market_id": "601",
            "question": "Will the bill pass the Senate?",
            "status": "actionable",
            "skip_reason": None,
            "reason": "YES 0.640 > 0.500: buy NO",
            "action": "buy_no",
            "outcome": "No",
            "yes_price": 0.64,
            "threshold": 0.5,
            "confidence": 0.14,
            "stake_usd": 100.0,
        },
        {
            "market_id": "501",
            "question": "Will the Fed cut rates in December?",
            "status": "skipped",
            "skip_reason": "already_held",
            "reason": "a position in this market is open",
            "action": "buy_no",
            "outcome": "No",
            "yes_price": 0.53,
            "threshold": 0.5,
            "confidence": 0.03,
            "stake_usd": 100.0,
        },
        {
            "market_id": "602",
            "question": "Will the match end in a draw?",
            "status": "skipped",
            "skip_reason": "spread_too_wide",
            "reason": "spread 0.140 > 0.100",
            "action": "buy_no",
            "outcome": "No",
            "yes_price": 0.71,
            "threshold": 0.5,
            "confidence": 0.21,
            "stake_usd": 100.0,
        },
    ]
    variant: list[JsonObject] = [
        {**row, "threshold": 0.6, "confidence": round(row["yes_price"] - 0.6, 2)}
        for row in default
        if row["market_id"] != "501"
    ]
    variant[0].update(status="skipped", skip_reason="already_held", reason="a position is open")
    return [{"strategy": DEFAULT, **row} for row in default] + [
        {"strategy": VARIANT, **row} for row in variant
    ]


def _equity() -> list[JsonObject]:
    """Hourly points: the default account's last 48 hours, the variant's last 24 (same polls)."""
    points: list[JsonObject] = []
    for strategy, hours, step in ((DEFAULT, 48, 6.0), (VARIANT, 24, -2.5)):
        points += _curve(strategy, hours, step)
    return points


def _curve(strategy: str, hours: int, step: float) -> list[JsonObject]:
    points, peak = [], START_USD
    for i in range(hours):
        equity = START_USD + step * i - (40.0 if 20 <= i < 30 else 0.0)
        peak = max(peak, equity)
        points.append(
            {
                "strategy": strategy,
                "time": iso(T0 - timedelta(hours=hours - 1 - i)),
                "equity_usd": equity,
                "cash_usd": 9600.0,
                "drawdown": equity / peak - 1,
                "source": "poll",
            }
        )
    return points


def _performance() -> list[JsonObject]:
    rows: list[JsonObject] = []
    for strategy, pnls in (
        (DEFAULT, (12.0, -30.5, 44.0, 5.25, -8.0, 61.0, 19.4)),
        (VARIANT, (-3.0, 7.5, -11.25)),
    ):
        rows += _daily(strategy, pnls)
    return rows


def _daily(strategy: str, pnls: tuple[float, ...]) -> list[JsonObject]:
    rows, previous = [], START_USD
    for i, pnl in enumerate(pnls):
        equity = previous + pnl
        rows.append(
            {
                "strategy": strategy,
                "date": (T0 - timedelta(days=len(pnls) - 1 - i)).date().isoformat(),
                "equity_usd": equity,
                "daily_pnl_usd": pnl,
                "daily_return": pnl / previous,
                "cumulative_return": equity / 10000.0 - 1,
                "drawdown": 0.0,
                "max_drawdown": -0.003,
                "trade_count": i + 1,
                "win_rate": None,
            }
        )
        previous = equity
    return rows


@dataclass
class FakeReads:
    """A ReadModel over fixed, editable documents; `unavailable` makes every read fail."""

    positions_rows: list[JsonObject] = field(default_factory=_positions)
    ledger_rows: list[JsonObject] = field(default_factory=_ledger)
    signal_rows: list[JsonObject] = field(default_factory=_signals)
    equity_rows: list[JsonObject] = field(default_factory=_equity)
    performance_rows: list[JsonObject] = field(default_factory=_performance)
    degraded: bool = False
    unavailable: bool = False
    calls: list[str] = field(default_factory=list)

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.unavailable:
            raise ReadUnavailable("database is locked")

    async def health(self) -> JsonObject:
        """ok, or degraded with one problem."""
        self._check("health")
        problems = ["prices are stale: last successful poll 912 s ago"] if self.degraded else []
        return {
            "status": "degraded" if self.degraded else "ok",
            "problems": problems,
            "checked_at": iso(T0),
            "last_poll_at": iso(T0 - timedelta(seconds=42)),
            "prices_age_s": 42.0,
            "max_price_age_s": 600.0,
        }

    def _account(self, strategy: str) -> JsonObject:
        """One strategy's money figures, consistent with its positions and ledger rows."""
        positions = [p for p in self.positions_rows if p["strategy"] == strategy]
        ledger = [e for e in self.ledger_rows if e["strategy"] == strategy]
        trades = [e for e in ledger if e["kind"] == "trade"]
        settled = [e for e in ledger if e["kind"] == "settlement"]
        value = round(sum(p["value_usd"] for p in positions), 2)
        cash = round(START_USD + sum(e["cash_delta_usd"] for e in ledger), 2)
        equity = round(cash + value, 2)
        return {
            "strategy": strategy,
            "starting_balance_usd": START_USD,
            "cash_usd": cash,
            "positions_value_usd": value,
            "equity_usd": equity,
            "total_pnl_usd": round(equity - START_USD, 2),
            "realized_pnl_usd": sum(e["realized_pnl_usd"] for e in settled),
            "unrealized_pnl_usd": round(sum(p["unrealized_pnl_usd"] for p in positions), 2),
            "fees_usd": round(sum(e["fees_usd"] for e in trades), 2),
            "trade_count": len(trades),
            "open_positions": len(positions),
            "settled_positions": len(settled),
            "settled_wins": len(settled),
            "capital_locked_usd": round(sum(p["cost_usd"] for p in positions), 2),
        }

    def _comparison(self, strategy: str) -> JsonObject:
        """One strategies.csv row."""
        account = self._account(strategy)
        worst = min(r["drawdown"] for r in self.equity_rows if r["strategy"] == strategy)
        return {
            **account,
            "status": "active",
            "cumulative_return": round(account["equity_usd"] / START_USD - 1, 6),
            "max_drawdown": round(worst, 6),
            "win_rate": 1.0 if account["settled_positions"] else None,
        }

    async def status(self) -> JsonObject:
        """A status document: the default account, consistent with its positions and ledger."""
        self._check("status")
        account = self._account(DEFAULT)
        return {
            "generated_at": iso(T0),
            "timezone": "America/New_York",
            "config_version": 2,
            **{k: v for k, v in account.items() if k != "strategy"},
            "total_return": round(account["equity_usd"] / START_USD - 1, 6),
            "daily_pnl_usd": 19.4,
            "win_rate": 1.0 if account["settled_positions"] else None,
            "max_drawdown": self._comparison(DEFAULT)["max_drawdown"],
            "positions": [p for p in self.positions_rows if p["strategy"] == DEFAULT],
            "strategies": [self._comparison(name) for name in STRATEGIES],
            "last_poll_at": iso(T0 - timedelta(seconds=42)),
            "prices_age_s": 42.0,
            "jobs": {
                "morning": {
                    "outcome": "ok",
                    "finished_at": iso(T0 - timedelta(hours=5)),
                    "age_s": 18000,
                    "error": None,
                    "next_run_at": iso(T0 + timedelta(hours=19)),
                },
                "poll": {
                    "outcome": "ok",
                    "finished_at": iso(T0 - timedelta(seconds=42)),
                    "age_s": 42,
                    "error": None,
                    "next_run_at": iso(T0 + timedelta(seconds=258)),
                },
                "evening": {
                    "outcome": "failed",
                    "finished_at": iso(T0 - timedelta(hours=20)),
                    "age_s": 72000,
                    "error": "database is locked",
                    "next_run_at": iso(T0 + timedelta(hours=4)),
                },
            },
            "warnings": [],
        }

    async def strategy_names(self) -> list[str]:
        """The two strategies."""
        self._check("strategy_names")
        return list(STRATEGIES)

    async def strategies(self, page: PageRequest) -> Listing:
        """One comparison row per strategy, in display order."""
        self._check("strategies")
        rows = [self._comparison(name) for name in STRATEGIES]
        return _page(rows, page, None)

    async def portfolio(self, strategy: str | None = None) -> JsonObject:
        """portfolio.json's shape: one account at the top level, the accounts in `strategies`."""
        self._check("portfolio")
        names = STRATEGIES if strategy is None else (strategy,)
        listed = [
            {
                **self._account(name),
                "status": "active",
                "positions": [p for p in self.positions_rows if p["strategy"] == name],
            }
            for name in names
        ]
        top = {k: v for k, v in listed[0].items() if k != "status"}
        return {"generated_at": iso(T0), **top, "strategies": listed}

    async def positions(self, page: PageRequest, strategy: str | None = None) -> Listing:
        """Positions by opened_at."""
        self._check("positions")
        return _page(_of(self.positions_rows, strategy), page, "opened_at")

    async def trades(
        self, page: PageRequest, kind: TradeKind | None, strategy: str | None = None
    ) -> Listing:
        """Ledger entries by seq, optionally one kind."""
        self._check("trades")
        rows = [e for e in _of(self.ledger_rows, strategy) if kind is None or e["kind"] == kind]
        return _page(rows, page, "seq")

    async def trade(self, trade_id: int) -> JsonObject | None:
        """One trade by id."""
        self._check("trade")
        return next(
            (e for e in self.ledger_rows if e["kind"] == "trade" and e["trade_id"] == trade_id),
            None,
        )

    async def trades_csv(self) -> bytes:
        """A tiny CSV with a BOM."""
        self._check("trades_csv")
        lines = ["time,trade_id,question"] + [
            f'{e["time"]},{e["trade_id"]},"{e["question"]}"'
            for e in self.ledger_rows
            if e["kind"] == "trade"
        ]
        return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()

    async def signals(self, page: PageRequest, strategy: str | None = None) -> Listing:
        """Signals as evaluated, with the evaluation header."""
        self._check("signals")
        rows = _of(self.signal_rows, strategy)
        listing = _page(rows, page, None)
        listing.meta.update(
            evaluated_at=iso(T0 - timedelta(seconds=42)),
            config_version=2,
            markets_considered=212,
            actionable=sum(s["status"] == "actionable" for s in rows),
            skipped=sum(s["status"] == "skipped" for s in rows),
        )
        return listing

    async def markets(self, page: PageRequest) -> Listing:
        """Two tracked markets."""
        self._check("markets")
        rows = [{"market_id": m, "question": f"market {m}", "yes_bid": 0.5} for m in ("7", "8")]
        listing = _page(rows, page, "market_id")
        listing.meta.update(generated_at=iso(T0), max_price_age_s=600.0)
        return listing

    async def market(self, market_id: str) -> JsonObject | None:
        """Market 7 or 8."""
        self._check("market")
        return {"market_id": market_id, "yes_bid": 0.5} if market_id in ("7", "8") else None

    async def equity(self, page: PageRequest, strategy: str | None = None) -> Listing:
        """Hourly equity points (ties by strategy, in display order)."""
        self._check("equity")
        return _page(_of(self.equity_rows, strategy), page, "time")

    async def performance(self, page: PageRequest, strategy: str | None = None) -> Listing:
        """Daily rows (ties by strategy, in display order)."""
        self._check("performance")
        return _page(_of(self.performance_rows, strategy), page, "date")

    async def report(self, strategy: str | None = None) -> JsonObject:
        """The analytics report (web/fake_report.py), every strategy's or one's."""
        self._check("report")
        return fake_report(strategy)

    async def config_versions(self, page: PageRequest) -> Listing:
        """Two versions: start and one reload."""
        self._check("config_versions")
        rows: list[JsonObject] = [
            {"version": 1, "loaded_at": iso(T0 - timedelta(days=6)), "source": "start"},
            {"version": 2, "loaded_at": iso(T0 - timedelta(days=1)), "source": "reload"},
        ]
        rows[0]["changed_keys"] = []
        rows[1]["changed_keys"] = ["strategy.threshold", "strategy.stake_usd"]
        return _page(rows, page, "version")


def _of(rows: list[JsonObject], strategy: str | None) -> list[JsonObject]:
    return [r for r in rows if strategy in (None, r["strategy"])]


def _page(rows: list[JsonObject], page: PageRequest, key: str | None) -> Listing:
    rank = {name: i for i, name in enumerate(STRATEGIES)}
    by = (lambda r: (r[key], rank.get(r.get("strategy", DEFAULT), 0))) if key else None
    ordered = sorted(rows, key=by) if by else list(rows)
    if page.order == "desc":
        ordered.reverse()
    return Listing(items=ordered[page.offset : page.offset + page.limit], total=len(rows))


@dataclass
class FakeControl:
    """Records control requests; `stopping` makes them fail with 409."""

    cycles: int = 0
    reloads: int = 0
    stopping: bool = False

    async def request_cycle(self) -> JsonObject:
        """Count a cycle request."""
        if self.stopping:
            raise ControlRejected("the daemon is stopping")
        self.cycles += 1
        return {"queued": True, "position": self.cycles}

    async def request_reload(self) -> JsonObject:
        """Count a reload request."""
        if self.stopping:
            raise ControlRejected("the daemon is stopping")
        self.reloads += 1
        return {"queued": True}


@dataclass
class Served:
    """A running app with its fakes and a client session whose base URL is the app."""

    client: aiohttp.ClientSession
    port: int
    reads: FakeReads
    control: FakeControl
    hub: EventHub
    metrics: Metrics
    app: web.Application

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def serve(
    *,
    token: str | None = TOKEN,
    settings: HttpConfig | None = None,
    reads: FakeReads | None = None,
    hub: EventHub | None = None,
) -> AsyncIterator[Served]:
    """The web app over the fakes, served as the daemon serves it, on 127.0.0.1 (a free port)."""
    settings = settings or HttpConfig(port=0)
    reads = reads or FakeReads()
    control = FakeControl()
    hub = hub or EventHub.from_config(settings)
    metrics = Metrics()
    app = make_app(reads, control, hub, metrics, settings, token=token)
    async with serving(app, "127.0.0.1", settings.port) as listening:
        base = f"http://127.0.0.1:{listening.port}"
        async with aiohttp.ClientSession(base_url=base) as client:
            yield Served(client, listening.port, reads, control, hub, metrics, app)
