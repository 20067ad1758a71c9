"""config/grafana/prescientd.json: every query parses as PromQL and names only exported metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
from prometheus_client import generate_latest

from prescientd.web.events import EventHub
from prescientd.web.metrics import Metrics, PortfolioFigures

DASHBOARD = Path(__file__).parents[2] / "config" / "grafana" / "prescientd.json"
# Grafana's built-in interval variables, and the dashboard's own regex variable
VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1d",
    "$strategy": ".*",
}


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def _substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def _metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(_substitute(expr)), visit)
    return names


def _exported_names() -> set[str]:
    """Sample names of a Metrics registry with every kind of series present."""
    metrics = Metrics()
    metrics.set_portfolio("default", PortfolioFigures(1, 1, 1, 1, 1, 1, 1, 1))
    metrics.observe_job("poll", "ok", 1.0)
    metrics.set_config_version(1)
    metrics.add_stats("sse", EventHub().stats)
    text = generate_latest(metrics.registry).decode()
    return {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and line[0] != "#"
    }


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


EXPRS = sorted(set(_exprs(_dashboard())))


def test_dashboard_has_the_panels_the_issue_asks_for() -> None:
    """Equity, cash, P&L, positions, job runs/durations, price age, HTTP and reloads are charted."""
    names = set().union(*(_metric_names(e) for e in EXPRS))
    for wanted in (
        "prescientd_equity_usd",
        "prescientd_cash_usd",
        "prescientd_realized_pnl_usd",
        "prescientd_open_positions",
        "prescientd_job_runs_total",
        "prescientd_job_duration_seconds_bucket",
        "prescientd_prices_age_seconds",
        "prescientd_http_requests_total",
        "prescientd_http_retries_total",
        "prescientd_config_reloads_total",
    ):
        assert wanted in names, wanted
    ids = [p["id"] for p in _dashboard()["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("expr", EXPRS)
def test_query_parses_and_names_exported_metrics(expr: str) -> None:
    """Each panel query is valid PromQL whose metrics the daemon exports."""
    names = _metric_names(expr)
    assert names, f"no metric in {expr}"
    missing = names - _exported_names()
    assert not missing, f"{expr} names metrics that are not exported: {missing}"


def test_template_variable_queries_name_exported_metrics() -> None:
    """label_values(...) in the strategy variable names an exported metric and label."""
    for variable in _dashboard()["templating"]["list"]:
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
        assert match, variable["definition"]
        assert match.group(1) in _exported_names()
        assert match.group(2) == "strategy"


def test_unknown_metric_is_caught() -> None:
    """The check itself rejects a name the daemon does not export."""
    assert (
        _metric_names('rate(prescientd_nonexistent_total{job="x"}[$__rate_interval])')
        - _exported_names()
    )
