"""/metrics: every metric name of DESIGN.md §8, with the values the daemon pushed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from prescientd.web.metrics import Metrics, PortfolioFigures, status_class

from .fakes import serve

# DESIGN.md §8, verbatim: name -> the labels it carries
DESIGN_METRICS = {
    "prescientd_equity_usd": {"strategy"},
    "prescientd_cash_usd": {"strategy"},
    "prescientd_open_positions": {"strategy"},
    "prescientd_realized_pnl_usd": {"strategy"},
    "prescientd_unrealized_pnl_usd": {"strategy"},
    "prescientd_fees_usd_total": {"strategy"},
    "prescientd_trades_total": {"strategy"},
    "prescientd_settlements_total": {"strategy"},
    "prescientd_job_runs_total": {"job", "outcome"},
    "prescientd_job_duration_seconds_bucket": {"job", "le"},
    "prescientd_job_duration_seconds_count": {"job"},
    "prescientd_job_duration_seconds_sum": {"job"},
    "prescientd_job_last_success_timestamp_seconds": {"job"},
    "prescientd_prices_age_seconds": set(),
    "prescientd_http_requests_total": {"api", "status_class"},
    "prescientd_http_retries_total": {"api"},
    "prescientd_config_version": set(),
    "prescientd_config_reloads_total": {"outcome"},
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Clock:
    """A settable clock (Unix seconds)."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def samples(text: str) -> Samples:
    """Every sample of an exposition, keyed by (name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(metrics: Metrics) -> Samples:
    """The registry's current exposition, parsed."""
    return samples(generate_latest(metrics.registry).decode())


def value(found: Samples, name: str, **labels: str) -> float:
    """One sample's value."""
    return found[(name, frozenset(labels.items()))]


def figures(equity: str, trades: int) -> PortfolioFigures:
    """Portfolio figures with a given equity and trade count."""
    return PortfolioFigures(
        equity_usd=Decimal(equity),
        cash_usd=Decimal("9500.25"),
        open_positions=3,
        realized_pnl_usd=Decimal("63.43"),
        unrealized_pnl_usd=Decimal("-4.80"),
        fees_usd=Decimal("2.00"),
        trade_count=trades,
        settlement_count=1,
    )


def populate(metrics: Metrics, clock: Clock) -> None:
    """What a daemon pushes over a few minutes."""
    metrics.set_config_version(3)
    metrics.count_reload("applied")
    metrics.count_reload("rejected")
    metrics.count_reload("rejected")
    metrics.observe_job("poll", "ok", 1.5, finished_at_s=clock.now_s - 60)
    metrics.observe_job("poll", "ok", 2.5, finished_at_s=clock.now_s - 5)
    metrics.observe_job("morning", "failed", 40.0)
    metrics.set_prices_fetched_at(clock.now_s - 7)
    for status in (200, 200, 503, 429, None):
        metrics.count_http("clob", status)
    metrics.count_retry("clob")
    metrics.set_portfolio("default", figures("10234.5", 4))
    metrics.set_portfolio("contrarian60", figures("9990", 1))


async def test_every_design_metric_is_exported_with_its_labels() -> None:
    """/metrics has every DESIGN.md name with exactly its labels, and no per-market label."""
    clock = Clock(1_800_000_000.0)
    async with serve() as s:
        populate(s.metrics, clock)
        response = await s.client.get("/metrics")
        text = await response.text()
    assert response.status == 200
    assert response.content_type == "text/plain"
    found = samples(text)
    for name, labels in DESIGN_METRICS.items():
        label_sets = [dict(key[1]) for key in found if key[0] == name]
        assert label_sets, f"{name} is missing"
        assert all(set(ls) == labels for ls in label_sets), f"{name}: {label_sets}"
    every_label = {k for key in found for k, _ in key[1]}
    assert not every_label & {"market", "market_id", "token", "token_id", "question"}
    assert all(key[0].startswith("prescientd_") for key in found)


def test_values_are_what_was_pushed() -> None:
    """Counters count, gauges hold the last value, per strategy; the histogram sums durations."""
    clock = Clock(1_800_000_000.0)
    metrics = Metrics(clock=clock)
    populate(metrics, clock)
    found = scrape(metrics)
    assert value(found, "prescientd_equity_usd", strategy="default") == 10234.5
    assert value(found, "prescientd_equity_usd", strategy="contrarian60") == 9990.0
    assert value(found, "prescientd_trades_total", strategy="default") == 4
    assert value(found, "prescientd_unrealized_pnl_usd", strategy="default") == -4.8
    assert value(found, "prescientd_job_runs_total", job="poll", outcome="ok") == 2
    assert value(found, "prescientd_job_runs_total", job="morning", outcome="failed") == 1
    assert value(found, "prescientd_job_runs_total", job="evening", outcome="ok") == 0
    assert value(found, "prescientd_job_duration_seconds_count", job="poll") == 2
    assert value(found, "prescientd_job_duration_seconds_sum", job="poll") == 4.0
    assert value(found, "prescientd_job_duration_seconds_bucket", job="poll", le="2.5") == 2
    assert value(found, "prescientd_job_duration_seconds_bucket", job="poll", le="1.0") == 0
    assert (
        value(found, "prescientd_job_last_success_timestamp_seconds", job="poll") == clock.now_s - 5
    )
    assert (
        "prescientd_job_last_success_timestamp_seconds",
        frozenset({("job", "morning")}),
    ) not in found
    assert value(found, "prescientd_prices_age_seconds") == 7
    assert value(found, "prescientd_http_requests_total", api="clob", status_class="2xx") == 2
    assert value(found, "prescientd_http_requests_total", api="clob", status_class="5xx") == 1
    assert value(found, "prescientd_http_requests_total", api="clob", status_class="error") == 1
    assert value(found, "prescientd_http_requests_total", api="gamma", status_class="2xx") == 0
    assert value(found, "prescientd_http_retries_total", api="clob") == 1
    assert value(found, "prescientd_config_version") == 3
    assert value(found, "prescientd_config_reloads_total", outcome="rejected") == 2
    assert value(found, "prescientd_config_reloads_total", outcome="unchanged") == 0


def test_prices_age_grows_between_polls() -> None:
    """The price age is computed at scrape time: it grows while no poll succeeds."""
    clock = Clock(1000.0)
    metrics = Metrics(clock=clock)
    clock.now_s = 1030.0
    before_first_poll = value(scrape(metrics), "prescientd_prices_age_seconds")
    metrics.set_prices_fetched_at(1040.0)
    clock.now_s = 1100.0
    later = value(scrape(metrics), "prescientd_prices_age_seconds")
    assert (before_first_poll, later) == (30.0, 60.0)


def test_forget_strategy_removes_its_series() -> None:
    """A retired strategy's series disappear."""
    metrics = Metrics()
    metrics.set_portfolio("default", figures("1", 0))
    metrics.set_portfolio("old", figures("2", 0))
    metrics.forget_strategy("old")
    found = scrape(metrics)
    strategies = {dict(k[1]).get("strategy") for k in found if k[0] == "prescientd_equity_usd"}
    assert strategies == {"default"}


def test_stats_sources() -> None:
    """add_stats exports counters (*_total) and gauges; bad keys and failing sources are skipped."""
    metrics = Metrics()
    metrics.add_stats("stream", lambda: {"connections": 3, "frames_total": 10, "Bad-Key": 1})

    def broken() -> dict[str, float]:
        raise RuntimeError("boom")

    metrics.add_stats("other", broken)
    text = generate_latest(metrics.registry).decode()
    found = samples(text)
    assert value(found, "prescientd_stream_connections") == 3
    assert value(found, "prescientd_stream_frames_total") == 10
    assert "# TYPE prescientd_stream_frames_total counter" in text
    assert "# TYPE prescientd_stream_connections gauge" in text
    assert not [k for k in found if "bad" in k[0].lower() or "other" in k[0]]
    metrics.add_stats("stream", lambda: {"connections": 5})  # replacing a source is allowed
    assert value(scrape(metrics), "prescientd_stream_connections") == 5
    with pytest.raises(ValueError, match="bad metrics prefix"):
        metrics.add_stats("Stream!", dict)


async def test_sse_stats_are_exported_by_the_app() -> None:
    """The app exports its event stream counters as prescientd_sse_*."""
    async with serve() as s:
        s.hub.publish("prices", {"tokens": 1})
        found = samples(await (await s.client.get("/metrics")).text())
    assert value(found, "prescientd_sse_events_published_total") == 1
    assert value(found, "prescientd_sse_clients") == 0


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "2xx"),
        (204, "2xx"),
        (301, "3xx"),
        (404, "4xx"),
        (429, "4xx"),
        (503, "5xx"),
        (None, "error"),
        (99, "error"),
        (600, "error"),
    ],
)
def test_status_class(status: int | None, expected: str) -> None:
    """HTTP statuses map to their class; no response is "error"."""
    assert status_class(status) == expected
