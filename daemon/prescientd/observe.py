"""What jobs and the Polymarket clients report while they work, for whoever listens.

Jobs tell a `JobObserver` when a job ends, when a paper trade or a settlement is recorded, when a
poll has stored prices and when the portfolio was valued; each `HostClient` tells an
`HttpObserver` about every response and retry. The daemon implements both (the web layer's live
feed: events and metrics); `prescientd once` and the tests use the defaults, which do nothing.
Nothing here imports the web layer. Observers are called inside jobs, after the data is
committed: they must return at once and never raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from prescientd.models import DEFAULT_STRATEGY, JobOutcome, Portfolio, Settlement, Trade, Valuation

__all__ = ["DEFAULT_STRATEGY", "NO_OBSERVER", "HttpObserver", "JobObserver", "PricesPolled"]


@dataclass(frozen=True, slots=True)
class PricesPolled:
    """A poll's price fetch, as stored: how many tokens were asked for and what came back."""

    fetched_at: datetime
    tokens: int
    books: int
    missing: int
    rejected: int
    snapshots: int
    requests: int


class JobObserver(Protocol):
    """Told by the jobs what they did (after it is committed)."""

    def job_finished(self, outcome: JobOutcome, duration_s: float) -> None:
        """A job run ended (ok, failed or cancelled) and is recorded."""
        ...

    def paper_traded(self, trade: Trade) -> None:
        """A paper trade was recorded."""
        ...

    def position_settled(self, settlement: Settlement, question: str) -> None:
        """A position was settled; question is its market's."""
        ...

    def prices_polled(self, polled: PricesPolled) -> None:
        """A poll stored its prices."""
        ...

    def portfolio_valued(
        self, strategy: str, portfolio: Portfolio, valuation: Valuation, at: datetime
    ) -> None:
        """A strategy's portfolio was marked to market at `at` (end of a poll, the evening)."""
        ...


class HttpObserver(Protocol):
    """Told by a HostClient about each Polymarket HTTP response and retry."""

    def http_response(self, api: str, status: int | None) -> None:
        """One response of api ("gamma", "clob"); status None when none arrived."""
        ...

    def http_retry(self, api: str) -> None:
        """One retried request of api."""
        ...


class NoObserver:
    """Listens to nothing: the default for `once`, the CLI and tests."""

    def job_finished(self, outcome: JobOutcome, duration_s: float) -> None:
        """Ignore."""

    def paper_traded(self, trade: Trade) -> None:
        """Ignore."""

    def position_settled(self, settlement: Settlement, question: str) -> None:
        """Ignore."""

    def prices_polled(self, polled: PricesPolled) -> None:
        """Ignore."""

    def portfolio_valued(
        self, strategy: str, portfolio: Portfolio, valuation: Valuation, at: datetime
    ) -> None:
        """Ignore."""

    def http_response(self, api: str, status: int | None) -> None:
        """Ignore."""

    def http_retry(self, api: str) -> None:
        """Ignore."""


NO_OBSERVER = NoObserver()
