"""Prometheus metrics of DESIGN.md §8, on a registry of their own, served at /metrics.

The daemon pushes what it already computes: a job outcome when a job ends, the portfolio's
figures after each valuation, one count per Polymarket HTTP response and retry, the config version
and each reload's outcome. Pushing (rather than a collector that reads SQLite at scrape time) costs
nothing extra, because every poll already values the portfolio, and keeps scrapes free of database
reads; prometheus_client collectors are synchronous, so they could not await the async store anyway.
The one figure that must move between pushes, the age of the newest prices, is computed at scrape
time from the last poll's timestamp and the clock, so it keeps growing while polls fail.

Other components expose plain counters through `add_stats(prefix, fn)`: `fn()` returns a mapping
of counter names to numbers, exported as `prescientd_<prefix>_<name>` (a counter when the name ends
in `_total`, else a gauge). The WebSocket stream hands its stats this way (`prescientd_stream_*`),
and the web layer its own (`prescientd_sse_*`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import prometheus_client
import structlog
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)

PREFIX = "prescientd_"
JOB_OUTCOMES = ("ok", "failed")
RELOAD_OUTCOMES = ("applied", "unchanged", "rejected")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")
# a poll takes seconds; a morning refresh of the whole universe can take minutes
JOB_DURATION_BUCKETS_S = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
# a streamed change is traded within a second (DESIGN §9); the tail shows a waiting evaluation
STREAM_LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# `*_created` series double every counter for no use on a dashboard
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

Number = Decimal | float | int


@dataclass(frozen=True, slots=True)
class PortfolioFigures:
    """One strategy's account after a valuation (the ledger totals only ever grow)."""

    equity_usd: Number
    cash_usd: Number
    open_positions: int
    realized_pnl_usd: Number
    unrealized_pnl_usd: Number
    fees_usd: Number
    trade_count: int
    settlement_count: int


_GAUGES = {
    "equity_usd": "Cash plus open positions marked at the best bid, USD.",
    "cash_usd": "Cash of the paper account, USD.",
    "open_positions": "Positions currently held.",
    "realized_pnl_usd": "Realized profit and loss since the start, USD.",
    "unrealized_pnl_usd": "Unrealized profit and loss of open positions at the mark, USD.",
}
_COUNTERS = {
    "fees_usd": ("fees_usd", "Fees paid since the start, USD."),
    "trade_count": ("trades", "Paper trades executed since the start."),
    "settlement_count": ("settlements", "Positions settled since the start."),
}


def status_class(status: int | None) -> str:
    """2xx/3xx/4xx/5xx for an HTTP status; "error" when no response arrived."""
    if status is None or not 100 <= status <= 599:
        return "error"
    return f"{status // 100}xx"


class _PortfolioCollector(Collector):
    """Portfolio gauges and ledger counters, one series per strategy."""

    def __init__(self) -> None:
        self.figures: dict[str, PortfolioFigures] = {}

    def collect(self) -> Iterable[Metric]:
        gauges = {
            name: GaugeMetricFamily(PREFIX + name, doc, labels=["strategy"])
            for name, doc in _GAUGES.items()
        }
        counters = {
            attr: CounterMetricFamily(PREFIX + name, doc, labels=["strategy"])
            for attr, (name, doc) in _COUNTERS.items()
        }
        for strategy, figures in sorted(self.figures.items()):
            for name, family in gauges.items():
                family.add_metric([strategy], float(getattr(figures, name)))
            for attr, counter in counters.items():
                counter.add_metric([strategy], float(getattr(figures, attr)))
        yield from gauges.values()
        yield from counters.values()


class _StatsCollector(Collector):
    """Counters handed over as a callable returning {name: number}."""

    def __init__(self, prefix: str, stats: Callable[[], Mapping[str, float]]) -> None:
        self.prefix = prefix
        self.stats = stats
        self._warned = False

    def collect(self) -> Iterable[Metric]:
        try:
            values = dict(self.stats())
        except Exception as exc:  # noqa: BLE001 - a broken source must not break the scrape
            self._warn(f"stats source failed: {type(exc).__name__}: {exc}")
            return
        for key, value in sorted(values.items()):
            if not _NAME.match(key) or not isinstance(value, int | float | Decimal):
                self._warn(f"bad stat {key!r}")
                continue
            name = f"{PREFIX}{self.prefix}_{key}"
            doc = f"{self.prefix} {key.replace('_', ' ')}"
            if key.endswith("_total"):
                yield CounterMetricFamily(name.removesuffix("_total"), doc, value=float(value))
            else:
                yield GaugeMetricFamily(name, doc, value=float(value))

    def _warn(self, error: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("metrics_stats_skipped", source=self.prefix, error=error)


class Metrics:
    """Every prescientd_* metric, with the small API the daemon calls."""

    def __init__(
        self,
        *,
        jobs: Sequence[str] = ("morning", "poll", "evening"),
        apis: Sequence[str] = ("gamma", "clob"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = CollectorRegistry()
        self._clock = clock
        self._started_at_s = clock()
        self._prices_fetched_at_s: float | None = None
        reg = self.registry
        self._job_runs = Counter(
            PREFIX + "job_runs", "Job runs by outcome.", ["job", "outcome"], registry=reg
        )
        self._job_duration = Histogram(
            PREFIX + "job_duration_seconds",
            "Wall time of a job run.",
            ["job"],
            buckets=JOB_DURATION_BUCKETS_S,
            registry=reg,
        )
        self._job_last_success = Gauge(
            PREFIX + "job_last_success_timestamp_seconds",
            "Unix time of the job's last successful run.",
            ["job"],
            registry=reg,
        )
        prices_age = Gauge(
            PREFIX + "prices_age_seconds",
            "Seconds since the newest successful price poll (since start-up before the first).",
            registry=reg,
        )
        prices_age.set_function(self._prices_age_s)
        self._http_requests = Counter(
            PREFIX + "http_requests",
            "Polymarket HTTP responses by API and status class (error = no response).",
            ["api", "status_class"],
            registry=reg,
        )
        self._http_retries = Counter(
            PREFIX + "http_retries", "Polymarket HTTP retries by API.", ["api"], registry=reg
        )
        self._config_version = Gauge(
            PREFIX + "config_version", "Version number of the active config.", registry=reg
        )
        self._config_reloads = Counter(
            PREFIX + "config_reloads", "Config reloads by outcome.", ["outcome"], registry=reg
        )
        self._stream_latency = Histogram(
            PREFIX + "stream_signal_to_trade_seconds",
            "From the receipt of a streamed change to the commit of the trade it caused.",
            buckets=STREAM_LATENCY_BUCKETS_S,
            registry=reg,
        )
        self._portfolio = _PortfolioCollector()
        reg.register(self._portfolio)
        self._stats: dict[str, _StatsCollector] = {}
        self._initialise(jobs, apis)

    def _initialise(self, jobs: Sequence[str], apis: Sequence[str]) -> None:
        # series exist from the first scrape, so rate() and alerts see a 0 before the first event
        for job in jobs:
            for outcome in JOB_OUTCOMES:
                self._job_runs.labels(job, outcome)
            self._job_duration.labels(job)
        for api in apis:
            for cls in STATUS_CLASSES:
                self._http_requests.labels(api, cls)
            self._http_retries.labels(api)
        for outcome in RELOAD_OUTCOMES:
            self._config_reloads.labels(outcome)

    # -- the daemon's API -----------------------------------------------------------------------
    def observe_job(
        self, job: str, outcome: str, duration_s: float, finished_at_s: float | None = None
    ) -> None:
        """Count one finished job run ("ok" or "failed") and its duration."""
        self._job_runs.labels(job, outcome).inc()
        if math.isfinite(duration_s) and duration_s >= 0:
            self._job_duration.labels(job).observe(duration_s)
        if outcome == "ok":
            done = finished_at_s if finished_at_s is not None else self._clock()
            self._job_last_success.labels(job).set(done)

    def set_job_last_success(self, job: str, finished_at_s: float) -> None:
        """Seed a job's last success at start-up (from the stored job runs)."""
        self._job_last_success.labels(job).set(finished_at_s)

    def set_portfolio(self, strategy: str, figures: PortfolioFigures) -> None:
        """Publish one strategy's figures after a valuation."""
        self._portfolio.figures[strategy] = figures

    def forget_strategy(self, strategy: str) -> None:
        """Stop exporting a strategy's series."""
        self._portfolio.figures.pop(strategy, None)

    def set_prices_fetched_at(self, fetched_at_s: float) -> None:
        """Record the Unix time of the newest successful price poll."""
        self._prices_fetched_at_s = fetched_at_s

    def count_http(self, api: str, status: int | None) -> None:
        """Count one Polymarket HTTP response (status None = no response)."""
        self._http_requests.labels(api, status_class(status)).inc()

    def count_retry(self, api: str) -> None:
        """Count one retried Polymarket request."""
        self._http_retries.labels(api).inc()

    def set_config_version(self, version: int) -> None:
        """The active config version."""
        self._config_version.set(version)

    def count_reload(self, outcome: str) -> None:
        """Count one reload: applied, unchanged or rejected."""
        self._config_reloads.labels(outcome).inc()

    def observe_stream_latency(self, seconds: float) -> None:
        """One stream trade's signal-to-trade latency (change received -> trade committed)."""
        if math.isfinite(seconds) and seconds >= 0:
            self._stream_latency.observe(seconds)

    def add_stats(self, prefix: str, stats: Callable[[], Mapping[str, float]]) -> None:
        """Export stats()'s counters as prescientd_<prefix>_<name> at every scrape (replacing)."""
        if not _NAME.match(prefix):
            raise ValueError(f"bad metrics prefix {prefix!r}")
        old = self._stats.pop(prefix, None)
        if old is not None:
            self.registry.unregister(old)
        self._stats[prefix] = _StatsCollector(prefix, stats)
        self.registry.register(self._stats[prefix])

    def handler(self) -> Handler:
        """The aiohttp handler serving this registry in the Prometheus text format."""
        return make_aiohttp_handler(self.registry)

    def _prices_age_s(self) -> float:
        since = self._prices_fetched_at_s
        return max(0.0, self._clock() - (since if since is not None else self._started_at_s))
