"""The daemon's live feed: what jobs, HTTP clients and reloads report becomes events and metrics.

`LiveFeed` is the daemon's JobObserver and HttpObserver (prescientd.observe): each report is
published to the EventHub (`/api/v1/stream`) and pushed into Metrics (`/metrics`) at once; no
report waits for a client or touches the database. Event data use the vocabulary of the files: a
`paper_trade` is the trade's paper_trades.json entry, a `position_settled` the settlement's, plus
the market's question.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog

from prescientd.clock import iso_utc
from prescientd.mirrors import rows
from prescientd.models import (
    JOB_CANCELLED_ERROR,
    JobOutcome,
    Portfolio,
    Settlement,
    Trade,
    Valuation,
)
from prescientd.observe import PricesPolled
from prescientd.vocabulary import plain
from prescientd.web.events import EventHub, EventKind
from prescientd.web.metrics import Metrics, PortfolioFigures

log = structlog.get_logger(__name__)


class LiveFeed:
    """Turns the daemon's reports into stream events and metric updates."""

    def __init__(self, hub: EventHub, metrics: Metrics) -> None:
        self.hub = hub
        self.metrics = metrics

    def _publish(self, kind: EventKind, data: dict[str, Any]) -> None:
        try:
            self.hub.publish(kind, plain(data))
        except Exception as exc:  # noqa: BLE001 - a report must never fail the job reporting it
            log.error("event_not_published", kind=kind, error=f"{type(exc).__name__}: {exc}")

    # -- JobObserver -----------------------------------------------------------------------------
    def job_finished(self, outcome: JobOutcome, duration_s: float) -> None:
        """Count the run and its duration; publish `job_finished`."""
        result = "ok" if outcome.ok else "failed"
        self.metrics.observe_job(outcome.job, result, duration_s, outcome.finished_at.timestamp())
        self._publish(
            "job_finished",
            {
                "job": outcome.job,
                "run_id": outcome.run_id,
                "outcome": result,
                "cancelled": outcome.error == JOB_CANCELLED_ERROR,
                "started_at": iso_utc(outcome.started_at),
                "finished_at": iso_utc(outcome.finished_at),
                "duration_s": round(duration_s, 3),
                "config_version": outcome.config_version,
                "error": outcome.error,
                "counts": {k: v for k, v in outcome.counts.items() if _scalar(v)},
            },
        )

    def paper_traded(self, trade: Trade) -> None:
        """Publish `paper_trade`: the trade's paper_trades.json entry (without its book levels)."""
        entry = rows.ledger_entries([trade], [], {})[0]
        entry.pop("levels", None)
        self._publish("paper_trade", entry)

    def position_settled(self, settlement: Settlement, question: str) -> None:
        """Publish `position_settled`: the settlement's paper_trades.json entry and question."""
        entry = rows.ledger_entries([], [settlement], {})[0]
        self._publish("position_settled", {**entry, "question": question})

    def prices_polled(self, polled: PricesPolled) -> None:
        """Note the prices' time for prices_age_seconds; publish a small `prices` summary."""
        self.metrics.set_prices_fetched_at(polled.fetched_at.timestamp())
        self._publish(
            "prices",
            {
                "fetched_at": iso_utc(polled.fetched_at),
                "tokens": polled.tokens,
                "books": polled.books,
                "missing": polled.missing,
                "rejected": polled.rejected,
                "stale": polled.missing + polled.rejected,
                "changed": polled.snapshots,
                "requests": polled.requests,
            },
        )

    def portfolio_valued(
        self, strategy: str, portfolio: Portfolio, valuation: Valuation, at: datetime
    ) -> None:
        """Push the strategy's account figures into the portfolio metrics."""
        self.metrics.set_portfolio(strategy, figures(portfolio, valuation))

    # -- HttpObserver ----------------------------------------------------------------------------
    def http_response(self, api: str, status: int | None) -> None:
        """Count one Polymarket response by status class."""
        self.metrics.count_http(api, status)

    def http_retry(self, api: str) -> None:
        """Count one Polymarket retry."""
        self.metrics.count_retry(api)

    # -- the daemon's own reports ----------------------------------------------------------------
    def config_loaded(self, version: int) -> None:
        """The config version in force at start-up."""
        self.metrics.set_config_version(version)

    def config_reloaded(
        self, outcome: str, version: int, previous_version: int, changed_keys: Sequence[str]
    ) -> None:
        """A reload ended (applied, unchanged or rejected): count it, publish `config_reloaded`."""
        self.metrics.count_reload(outcome)
        self.metrics.set_config_version(version)
        self._publish(
            "config_reloaded",
            {
                "outcome": outcome,
                "version": version,
                "previous_version": previous_version,
                "changed_keys": list(changed_keys),
            },
        )


def figures(portfolio: Portfolio, valuation: Valuation) -> PortfolioFigures:
    """The metrics' view of a valued portfolio (the same figures as portfolio.json)."""
    return PortfolioFigures(
        equity_usd=valuation.equity_usd,
        cash_usd=valuation.cash_usd,
        open_positions=len(valuation.positions),
        realized_pnl_usd=valuation.realized_pnl_usd,
        unrealized_pnl_usd=valuation.unrealized_pnl_usd,
        fees_usd=valuation.fees_usd,
        trade_count=portfolio.trade_count,
        settlement_count=portfolio.settled_positions,
    )


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
