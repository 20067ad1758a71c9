"""A plausible analytics report document (the shape of `prescientd report --json`) for the fakes.

Two strategies: "default" holds two events (one negRisk with three candidates) and made entries
under two config versions; "contrarian60" one event. Calibration has both observation kinds, with
one bucket whose implied probability lies outside its Wilson interval. Depth headroom has fills.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

JsonObject = dict[str, Any]
GENERATED_AT = "2026-10-06T14:00:00.000000Z"


def _bucket(kind: str, low: float, implied: float, realized: float, n: int) -> JsonObject:
    spread = 1.96 * (max(realized * (1 - realized), 0.04) / n) ** 0.5
    return {
        "kind": kind,
        "bucket_low": low,
        "bucket_high": round(low + 0.05, 2),
        "implied_probability": implied,
        "realized_frequency": realized,
        "wilson_low": round(max(0.0, realized - spread), 6),
        "wilson_high": round(min(1.0, realized + spread), 6),
        "observation_count": n,
        "yes_count": round(realized * n),
        "market_count": n if kind == "first_sighting" else max(1, n // 4),
    }


_BUCKETS = [
    _bucket("first_sighting", 0.05, 0.072, 0.05, 40),
    _bucket("first_sighting", 0.5, 0.524, 0.5, 20),
    _bucket("first_sighting", 0.9, 0.931, 0.95, 40),
    _bucket("evening", 0.05, 0.071, 0.0, 160),
    _bucket("evening", 0.55, 0.573, 0.3, 60),  # implied outside the interval
    _bucket("evening", 0.9, 0.936, 0.95, 120),
]
_CAPITAL = {
    "default": {
        "strategy": "default",
        "pnl_usd": 234.56,
        "return_on_balance": 0.023456,
        "return_per_dollar_day": 0.000412345,
        "annualized_return": 0.150506,
        "dollar_days": 568843.1,
        "average_locked_usd": 4062.4,
        "capital_locked_usd": 648.57,
        "starting_balance_usd": 10000,
        "realized_pnl_usd": 120,
        "unrealized_pnl_usd": 114.56,
        "fees_usd": 12.3,
        "trade_count": 31,
        "open_positions": 3,
        "unmarked_positions": 0,
    },
    "contrarian60": {
        "strategy": "contrarian60",
        "pnl_usd": -20.5,
        "return_on_balance": -0.00205,
        "return_per_dollar_day": -0.000201,
        "annualized_return": -0.073365,
        "dollar_days": 101990.0,
        "average_locked_usd": 1200.0,
        "capital_locked_usd": 98.0,
        "starting_balance_usd": 10000,
        "realized_pnl_usd": 0,
        "unrealized_pnl_usd": -20.5,
        "fees_usd": 1.1,
        "trade_count": 2,
        "open_positions": 1,
        "unmarked_positions": 0,
    },
}


def _event(strategy: str, event_id: str, title: str, worst: str, loss: float) -> JsonObject:
    return {
        "strategy": strategy,
        "title": title,
        "worst_outcome": worst,
        "worst_loss_usd": loss,
        "worst_loss_vs_value_usd": round(loss * 0.8, 2),
        "worst_payout_usd": 0,
        "cost_usd": loss,
        "value_usd": round(loss * 0.8, 2),
        "open_positions": 1,
        "scenario_count": 2,
        "neg_risk": False,
        "worst_market_id": "5001" if worst else "",
        "event_id": event_id,
    }


_EVENTS = [
    {
        **_event("default", "900", "Who will win the Ohio race?", "Will X win Ohio?", 210.0),
        "open_positions": 2,
        "scenario_count": 3,
        "neg_risk": True,
    },
    _event("contrarian60", "902", "Will it rain in Paris?", "Will it rain in Paris?", 98.0),
    _event("default", "901", "Fed cut in December?", "Fed cut in December?", 104.2),
]
_VERSIONS = [
    {
        "strategy": "default",
        "config_version": 1,
        "loaded_at": "2026-09-30T14:00:00.000000Z",
        "changed_keys": [],
        "pnl_usd": 200.0,
        "return_on_cost": 0.08,
        "realized_pnl_usd": 120,
        "unrealized_pnl_usd": 80.0,
        "cost_usd": 2500.0,
        "fees_usd": 10.0,
        "entries": 25,
        "trade_count": 27,
    },
    {
        "strategy": "default",
        "config_version": 2,
        "loaded_at": "2026-10-05T14:00:00.000000Z",
        "changed_keys": ["strategy.threshold", "strategy.stake_usd"],
        "pnl_usd": 34.56,
        "return_on_cost": 0.0864,
        "realized_pnl_usd": 0,
        "unrealized_pnl_usd": 34.56,
        "cost_usd": 400.0,
        "fees_usd": 2.3,
        "entries": 4,
        "trade_count": 4,
    },
    {
        "strategy": "contrarian60",
        "config_version": 2,
        "loaded_at": "2026-10-05T14:00:00.000000Z",
        "changed_keys": ["strategy.threshold", "strategy.stake_usd"],
        "pnl_usd": -20.5,
        "return_on_cost": -0.205,
        "realized_pnl_usd": 0,
        "unrealized_pnl_usd": -20.5,
        "cost_usd": 100.0,
        "fees_usd": 1.1,
        "entries": 1,
        "trade_count": 2,
    },
]
_HISTOGRAM = [
    {"depth_used_low": 0, "depth_used_high": 0.1, "fill_count": 18},
    {"depth_used_low": 0.1, "depth_used_high": 0.25, "fill_count": 7},
    {"depth_used_low": 0.25, "depth_used_high": 0.5, "fill_count": 3},
    {"depth_used_low": 0.5, "depth_used_high": 0.75, "fill_count": 1},
    {"depth_used_low": 0.75, "depth_used_high": 1, "fill_count": 1},
]


def fake_report(strategy: str | None) -> JsonObject:
    """The document for every strategy (None) or one strategy's money."""
    keep = [strategy] if strategy is not None else ["default", "contrarian60"]
    doc: JsonObject = {
        "generated_at": GENERATED_AT,
        "strategy": strategy,
        "calibration": {
            "bucket_width": 0.05,
            "confidence": 0.95,
            "resolved_markets": 100,
            "split_markets": 1,
            "invalid_observations": 0,
            "buckets": _BUCKETS,
            "brier": [
                {
                    "kind": "first_sighting",
                    "scope": "all",
                    "tag": None,
                    "brier_score": 0.0612,
                    "observation_count": 100,
                },
                {
                    "kind": "evening",
                    "scope": "all",
                    "tag": None,
                    "brier_score": 0.0487,
                    "observation_count": 340,
                },
                {
                    "kind": "evening",
                    "scope": "tag",
                    "tag": "politics",
                    "brier_score": 0.052,
                    "observation_count": 200,
                },
            ],
        },
        "capital": [_CAPITAL[name] for name in keep if name in _CAPITAL],
        "events": [e for e in _EVENTS if e["strategy"] in keep],
        "versions": [v for v in _VERSIONS if v["strategy"] in keep],
        "depth": {
            "fill_count": 30,
            "fills_without_book": 3,
            "depth_used_min": 0.01,
            "depth_used_median": 0.08,
            "depth_used_p90": 0.41,
            "depth_used_max": 0.82,
            "depth_used_mean": 0.14,
            "histogram": _HISTOGRAM,
            "fills": [],
        },
        "resolutions": {"total": 101, "settlement": 9, "evening": 92},
    }
    return deepcopy(doc)
