"""Sample rows for the CSV and workbook tests: real 77-digit token ids, hostile, accented text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from conftest import FIXTURES


def _recorded_markets() -> list[dict[str, Any]]:
    def load(name: str) -> Any:
        return json.loads((FIXTURES / name).read_text("utf-8"))

    markets = list(load("gamma_markets_keyset_page_2026-10.json")["markets"])
    markets.append(load("gamma_market_sports_moneyline.json"))
    for event in load("gamma_events_list_negrisk_2_markets.json"):
        markets.extend(event["markets"])
    return markets


def real_token_ids() -> list[str]:
    """Every clobTokenIds entry of some recorded Gamma markets (77/78-digit decimal strings)."""
    ids = [t for m in _recorded_markets() for t in json.loads(m.get("clobTokenIds") or "[]")]
    assert len(ids) >= 10 and all(len(t) >= 70 and t.isdigit() for t in ids)
    return ids


def real_condition_ids() -> list[str]:
    """Every conditionId of the same recorded markets (0x + 64 hex digits)."""
    return [m["conditionId"] for m in _recorded_markets()]


QUESTIONS = [
    "Atlético Madrid vs. Bayern München: who wins?",
    '=HYPERLINK("http://evil.example","click")',
    "@elonmusk tweet 200+ times this week?",
    "-5 or fewer goals?",
    "+3 handicap: Borussia Mönchengladbach?",
    'Quotes "inside", commas, and\na newline?',
]
T0 = datetime(2026, 12, 1, 23, 37, 6, 706187, tzinfo=UTC)


def position_rows(count: int = len(QUESTIONS)) -> list[dict[str, Any]]:
    """positions_current-like rows as the builder makes them today (ISO times, floats, strings)."""
    tokens = real_token_ids()
    rows = []
    for i in range(count):
        rows.append(
            {
                "market_id": str(500_000 + i),
                "question": QUESTIONS[i % len(QUESTIONS)],
                "outcome": "No",
                "token_id": tokens[i % len(tokens)],
                "event_id": str(90_000 + i),
                "shares": 181.818181,
                "avg_entry_price": 0.55,
                "cost_usd": Decimal("100.012345"),
                "fees_usd": 0.012345,
                "best_bid": 0.541,
                "display_price": 0.545,
                "mark_price": 0.541,
                "value_usd": 98.363636,
                "value_at_display_usd": 99.09,
                "unrealized_pnl_usd": -1.648709 + i,
                "stale": i % 2 == 0,
                "book_missing": False,
                "opened_at": (T0 + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "as_of": T0 + timedelta(hours=1),
            }
        )
    return rows


def performance_rows(days: int = 7) -> list[dict[str, Any]]:
    """performance_daily-like rows: dates as text, returns and win rate as fractions."""
    rows = []
    for i in range(days):
        rows.append(
            {
                "date": f"2026-10-{6 + i:02d}",
                "equity_usd": 10_000 + 12.5 * i - (40 if i == 3 else 0),
                "daily_return": 0.00125,
                "cumulative_return": 0.0523 if i else None,
                "drawdown": -0.004 if i == 3 else 0.0,
                "max_drawdown": -0.004 if i >= 3 else 0.0,
                "win_rate": 1.0 if i else None,
                "trade_count": 3 * i,
            }
        )
    return rows
