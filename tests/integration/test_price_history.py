"""Price history at scale on a real SQLite file: quote rows written only when they change, day
partitions of snapshots, daily bars kept by every poll, retention that drops whole days.

The bars are checked against an independent model of the v1 evening (OHLC over the snapshot
carried into the day and the day's snapshots), fed the same random polls.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from prescientd.clock import iso_utc
from prescientd.config import parse_config
from prescientd.mirrors.build import MirrorBuilder
from prescientd.models import Quote
from prescientd.store import retention
from prescientd.store.db import PriceBar, Store, connect_sync
from store_checks import ledger_digest

DAY0 = date(2026, 11, 2)
PRICES = [Decimal(p) / 100 for p in range(20, 81, 3)]
TOKENS = [f"{7 * 10**75 + n}" for n in range(6)]


def at(day: date, poll: int) -> datetime:
    """The time of a day's poll (UTC; the store takes the local date as given)."""
    return datetime.combine(day, time(10), tzinfo=UTC) + timedelta(minutes=30 * poll)


def make_quote(
    token: str, bid: Decimal | None, ask: Decimal | None, depth: int, fetched_at: datetime
) -> Quote:
    """A quote whose mid exists only with both sides; display = mid; last trade = bid."""
    mid = (bid + ask) / 2 if bid is not None and ask is not None else None
    return Quote(
        token_id=token,
        best_bid=bid,
        best_ask=ask,
        mid=mid,
        spread=ask - bid if bid is not None and ask is not None else None,
        display=mid,
        last_trade=bid,
        bid_depth_shares=Decimal(depth),
        bid_depth_usd=Decimal(depth) / 2,
        ask_depth_shares=Decimal(100),
        ask_depth_usd=Decimal(50),
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        book_timestamp_ms=depth,
        book_hash=f"{depth:040x}",
        fetched_at=fetched_at,
    )


Prices = tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]  # mid disp bid ask


def ohlc(values: list[Decimal]) -> tuple[Decimal | None, ...]:
    """Open, high, low, close of a series (all None when empty)."""
    return (values[0], max(values), min(values), values[-1]) if values else (None,) * 4


@dataclass
class Model:
    """What the v1 store kept and what its evening computed from it (the oracle)."""

    last_key: dict[str, tuple[object, ...]] = field(default_factory=dict)
    last_prices: dict[str, Prices] = field(default_factory=dict)
    snapshots: list[tuple[date, str, Prices]] = field(default_factory=list)
    fetched_ok: dict[date, set[str]] = field(default_factory=dict)
    last_ok_at: dict[str, datetime] = field(default_factory=dict)
    content: dict[str, tuple[object, ...]] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)

    def poll(self, day: date, when: datetime, quotes: dict[str, Quote], missing: set[str]) -> int:
        """Apply a poll; return how many quote rows it rewrites."""
        rewritten = 0
        for token, q in quotes.items():
            key = (q.best_bid, q.best_ask, q.last_trade, q.display)
            prices = (q.mid, q.display, q.best_bid, q.best_ask)
            if self.last_key.get(token) != key:
                self.snapshots.append((day, token, prices))
                self.last_key[token] = key
                self.last_prices[token] = prices
            body = (q.best_bid, q.best_ask, q.bid_depth_shares, q.book_hash)
            if (
                self.content.get(token) != body
                or self.status.get(token) != "ok"
                or token not in self.live
            ):
                rewritten += 1
            self.content[token], self.status[token] = body, "ok"
            self.fetched_ok.setdefault(day, set()).add(token)
            self.last_ok_at[token] = when
        for token in missing:
            if token in self.status:
                self.status[token] = "missing"
        self.live = set(quotes) | {t for t in missing if t in self.status}
        return rewritten

    def bars(self, day: date) -> dict[str, tuple[object, ...]]:
        """The v1 evening's bars of a day: carried snapshot first, then the day's."""
        out: dict[str, tuple[object, ...]] = {}
        tokens = self.fetched_ok.get(day, set()) | {t for d, t, _ in self.snapshots if d == day}
        for token in tokens:
            before = [p for d, t, p in self.snapshots if t == token and d < day]
            today = [p for d, t, p in self.snapshots if t == token and d == day]
            series = before[-1:] + today
            mids = [p[0] for p in series if p[0] is not None]
            disps = [p[1] for p in series if p[1] is not None]

            last = series[-1]
            out[token] = (*ohlc(mids), *ohlc(disps), last[2], last[3], len(today))
        return out


def random_poll(
    rng: random.Random, previous: dict[str, Quote], when: datetime
) -> tuple[dict[str, Quote], set[str]]:
    """Each token: missing, unchanged, deeper, or moved (sometimes with an empty ask side)."""
    quotes: dict[str, Quote] = {}
    missing: set[str] = set()
    for token in TOKENS:
        draw = rng.random()
        old = previous.get(token)
        if draw < 0.1 and old is not None:
            missing.add(token)
        elif draw < 0.5 and old is not None:
            quotes[token] = make_quote(
                token, old.best_bid, old.best_ask, old.book_timestamp_ms, when
            )
        elif draw < 0.6 and old is not None:
            quotes[token] = make_quote(
                token, old.best_bid, old.best_ask, old.book_timestamp_ms + 1, when
            )
        else:
            bid = rng.choice(PRICES)
            ask = None if rng.random() < 0.15 else bid + Decimal("0.02")
            quotes[token] = make_quote(token, bid, ask, rng.randint(1, 10**6), when)
    return quotes, missing


async def run_days(store: Store, model: Model, days: int, polls: int, seed: int) -> None:
    """Random polls over `days` local days, checking each poll's writes against the model."""
    rng = random.Random(seed)
    previous: dict[str, Quote] = {}
    for d in range(days):
        day = DAY0 + timedelta(days=d)
        for p in range(polls):
            when = at(day, p)
            quotes, missing = random_poll(rng, previous, when)
            previous.update(quotes)
            known = len(model.snapshots)
            rewritten = model.poll(day, when, quotes, missing)
            appended = await store.record_poll(
                run_id=f"{d}-{p}",
                fetched_at=when,
                local_date=day.isoformat(),
                quotes=quotes,
                missing=missing,
                rejected=[],
                requests=1,
                tokens_requested=len(quotes) + len(missing),
            )
            assert appended == len(model.snapshots) - known  # a snapshot per price move
            written = await store.db.read(
                "SELECT COUNT(*) FROM quote_status WHERE fetched_at = ? AND status = 'ok'",
                (iso_utc(when),),
            )
            assert written[0][0] == rewritten  # only the rows that changed
            latest = await store.latest_quotes()
            for token, row in latest.items():
                expected_status = model.status[token]
                assert row.status == expected_status
                assert row.quote.fetched_at == model.last_ok_at[token]


def bar_tuples(bars: list[PriceBar]) -> dict[str, tuple[object, ...]]:
    """daily_bars() as comparable tuples."""
    return {
        b.token_id: (
            *(b.mid.open, b.mid.high, b.mid.low, b.mid.close),
            *(b.display.open, b.display.high, b.display.low, b.display.close),
            *(b.last_bid, b.last_ask, b.snapshots),
        )
        for b in bars
    }


async def test_each_poll_writes_what_changed_and_bars_match_the_v1_evening(store: Store) -> None:
    """Random polls over 3 days: snapshots only on price moves, quote rows only on change, fresh
    times without a write, and each day's bars equal to the v1 evening's computation."""
    model = Model()
    await run_days(store, model, days=3, polls=12, seed=11)
    for d in range(3):
        day = DAY0 + timedelta(days=d)
        got = bar_tuples(await store.daily_bars(day.isoformat()))
        assert got == model.bars(day), day
        table = f"price_snapshots_{day:%Y%m%d}"
        rows = await store.db.read(f"SELECT COUNT(*) FROM {table}")
        assert rows[0][0] == sum(1 for s in model.snapshots if s[0] == day)


async def test_retention_drops_whole_days_and_daily_files_stay_the_same(
    store: Store, tmp_path: Path
) -> None:
    """Days older than keep_days lose their snapshot table, never their bars: the daily_prices
    files rebuilt afterwards are byte for byte the ones written before. The ledger is untouched
    and still append-only; the kept day's table refuses updates and deletes."""
    await store.collapse_legacy_snapshots(ZoneInfo("UTC"))  # at start-up: no v1 table left
    await run_days(store, Model(), days=4, polls=8, seed=5)
    config = parse_config('timezone = "UTC"\n').resolve_paths(tmp_path)
    builder = MirrorBuilder(store, config)
    days = [DAY0 + timedelta(days=d) for d in range(4)]
    for day in days:
        assert await builder.write_daily_prices(day)
    before = {day: builder.layout.daily_prices(day).read_bytes() for day in days}
    digest = await ledger_digest(store)

    today = days[-1]
    first_kept = retention.oldest_kept(today, keep_days=1)
    kept_at = datetime.combine(first_kept, time(0), tzinfo=UTC)
    result = await store.retain_price_history(first_kept, kept_at)
    assert result.dropped == ("price_snapshots_20261102", "price_snapshots_20261103")
    assert result.kept_uncollapsed == () and result.freed_bytes > 0
    assert await store.snapshot_days() == days[2:]
    again = await store.retain_price_history(first_kept, kept_at)
    assert again.dropped == ()  # idempotent

    for day in days:
        builder.layout.daily_prices(day).unlink()
        assert await builder.write_daily_prices(day)
        assert builder.layout.daily_prices(day).read_bytes() == before[day]
    assert await ledger_digest(store) == digest
    conn = connect_sync(store.path)
    try:
        for sql in (
            "DELETE FROM price_snapshots_20261105",
            "UPDATE price_snapshots_20261105 SET mid = 1",
            "DELETE FROM cash_flows",  # the deposit
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
    finally:
        conn.close()


async def test_the_file_stops_growing_once_retention_runs(tmp_path: Path) -> None:
    """With keep_days=1 the freed pages are reused: ten days later the file has grown by the
    bars (kept for ever) and not by the snapshots (several times more)."""
    store = await Store.open(tmp_path / "p.db", starting_balance_usd=Decimal(1000))
    try:
        rng = random.Random(3)
        tokens = [f"{9 * 10**75 + n}" for n in range(400)]
        sizes = []
        for d in range(10):
            day = DAY0 + timedelta(days=d)
            for p in range(16):
                when = at(day, p)
                quotes = {
                    t: make_quote(t, rng.choice(PRICES), Decimal("0.9"), p, when) for t in tokens
                }
                await store.record_poll(
                    run_id=f"{d}-{p}",
                    fetched_at=when,
                    local_date=day.isoformat(),
                    quotes=quotes,
                    missing=[],
                    rejected=[],
                    requests=1,
                    tokens_requested=len(tokens),
                )
            first_kept = retention.oldest_kept(day, keep_days=1)
            kept_at = datetime.combine(first_kept, time(0), tzinfo=UTC)
            await store.retain_price_history(first_kept, kept_at)
            await store.db.read("PRAGMA wal_checkpoint(TRUNCATE)")
            sizes.append(store.path.stat().st_size)
        snapshots_per_day = await store.db.read("SELECT COUNT(*) FROM price_snapshots_20261111")
        assert snapshots_per_day[0][0] > 5000
        day_of_snapshots = sizes[1] - sizes[0]
        assert sizes[-1] - sizes[3] < 2 * day_of_snapshots, sizes
    finally:
        await store.close()


def v2_database(path: Path) -> None:
    """A database at schema v2 (before this change): migrations 0001 and 0002 only."""
    from prescientd.store.connection import MIGRATIONS

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for version, script in MIGRATIONS[:2]:
            conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
    finally:
        conn.close()


async def test_v1_snapshots_are_collapsed_into_bars_then_dropped_whole(tmp_path: Path) -> None:
    """An upgraded database: the v1 table's days become bars at start-up (in the configured
    timezone), equal to the v1 evening's; the table is dropped once older than keep_days."""
    path = tmp_path / "old.db"
    v2_database(path)
    rng = random.Random(8)
    model = Model()
    conn = sqlite3.connect(path, isolation_level=None)
    last_fetch: dict[str, datetime] = {}
    for d in range(3):
        day = DAY0 + timedelta(days=d)
        for p in range(6):
            when = at(day, p)
            for token in TOKENS[: 4 if d < 2 else 3]:  # the 4th token is not polled on day 3
                moved = rng.random() < 0.6 or token not in model.last_key
                if token == TOKENS[2] and d == 2:
                    moved = False  # polled all day 3 without a price move: a carried bar
                old = model.last_prices.get(token)
                bid = rng.choice(PRICES) if moved or old is None else old[2]
                ask = None if moved and rng.random() < 0.2 else Decimal("0.95")
                q = make_quote(token, bid, ask if moved else (old[3] if old else ask), 1, when)
                model.poll(day, when, {token: q}, set())
                last_fetch[token] = when
        # v1 kept no trace of a poll that moved nothing: only the last fetch of each token
        model.fetched_ok[day] = {t for dd, t, _ in model.snapshots if dd == day}
    for token, when in last_fetch.items():
        model.fetched_ok.setdefault(when.date(), set()).add(token)
    for n, (day, token, prices) in enumerate(model.snapshots):
        micro = [None if v is None else int(v * 10**6) for v in prices]
        conn.execute(
            "INSERT INTO price_snapshots (id, token_id, fetched_at, book_ts_ms, book_hash,"
            " best_bid, best_ask, mid, display, bid_depth_shares, bid_depth_usd,"
            " ask_depth_shares, ask_depth_usd) VALUES (?, ?, ?, 1, 'h', ?, ?, ?, ?, 0, 0, 0, 0)",
            (n + 1, token, iso_utc(at(day, 0) + timedelta(seconds=n)), *micro[2:], *micro[:2]),
        )
    for token, when in last_fetch.items():
        conn.execute(
            "INSERT INTO quote_status (token_id, snapshot_id, fetched_at, status, status_at,"
            " book_ts_ms, book_hash, bid_depth_shares, bid_depth_usd, ask_depth_shares,"
            " ask_depth_usd) VALUES (?, 1, ?, 'ok', ?, 1, 'h', 0, 0, 0, 0)",
            (token, iso_utc(when), iso_utc(when)),
        )
    conn.close()

    store = await Store.open(path, starting_balance_usd=Decimal(1000))
    try:
        written = await store.collapse_legacy_snapshots(ZoneInfo("UTC"))
        assert written == sum(len(model.bars(DAY0 + timedelta(days=d))) for d in range(3))
        assert await store.collapse_legacy_snapshots(ZoneInfo("UTC")) == 0  # once
        for d in range(3):
            day = DAY0 + timedelta(days=d)
            got = bar_tuples(await store.daily_bars(day.isoformat()))
            assert got == model.bars(day), day
        assert TOKENS[2] in bar_tuples(await store.daily_bars("2026-11-04"))
        newest = DAY0 + timedelta(days=2)
        kept_at = datetime.combine(newest, time(0), tzinfo=UTC)
        held = await store.retain_price_history(newest, kept_at)
        assert held.dropped == ()  # its newest day is still within keep_days
        later = newest + timedelta(days=1)
        gone = await store.retain_price_history(later, datetime.combine(later, time(0), tzinfo=UTC))
        assert gone.dropped == ("price_snapshots",)
        assert len(await store.daily_bars(newest.isoformat())) == len(model.bars(newest))
    finally:
        await store.close()


V2_FIXTURE = Path(__file__).parents[1] / "fixtures" / "db" / "ledger_v2.sql"
# The v2 evening's queries (store/prices.py before schema 4): the oracle for recorded data.
V2_CARRIED = (
    "SELECT s.token_id, s.mid, s.display, s.best_bid, s.best_ask FROM ("
    " SELECT (SELECT p.id FROM price_snapshots p WHERE p.token_id = t.token_id"
    "  AND p.fetched_at < ? ORDER BY p.id DESC LIMIT 1) AS sid FROM ("
    "  SELECT token_id FROM quote_status WHERE fetched_at >= ?"
    "  UNION SELECT token_id FROM price_snapshots WHERE fetched_at >= ? AND fetched_at < ?"
    " ) t) c JOIN price_snapshots s ON s.id = c.sid"
)
V2_DAY = (
    "SELECT token_id, mid, display, best_bid, best_ask FROM price_snapshots"
    " WHERE fetched_at >= ? AND fetched_at < ? ORDER BY id"
)


def v2_evening_bars(conn: sqlite3.Connection, day: date) -> dict[str, tuple[object, ...]]:
    """The bars the v2 evening computed for a UTC day (its algorithm, rewritten here)."""
    lo = iso_utc(datetime.combine(day, time(0), tzinfo=UTC))
    hi = iso_utc(datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC))
    carried = conn.execute(V2_CARRIED, (lo, lo, lo, hi)).fetchall()
    rows = conn.execute(V2_DAY, (lo, hi)).fetchall()
    series: dict[str, list[tuple[object, ...]]] = {}
    for row in [*carried, *rows]:
        series.setdefault(row[0], []).append(row[1:])
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[0]] = counts.get(row[0], 0) + 1

    def dec(v: object) -> Decimal | None:
        return None if v is None else Decimal(str(v)) / 10**6

    out: dict[str, tuple[object, ...]] = {}
    for token, values in series.items():
        mids = [d for v in values if (d := dec(v[0])) is not None]
        disps = [d for v in values if (d := dec(v[1])) is not None]
        last = values[-1]
        out[token] = (*ohlc(mids), *ohlc(disps), dec(last[2]), dec(last[3]), counts.get(token, 0))
    return out


async def test_a_recorded_v2_database_keeps_its_quotes_and_daily_bars(tmp_path: Path) -> None:
    """The recorded v2 file: after migration 4 every current quote reads back the same, and its
    day's bars (collapsed at start-up) equal what the v2 evening computed from its snapshots."""
    path = tmp_path / "prescient.db"
    conn = sqlite3.connect(path)
    conn.executescript(V2_FIXTURE.read_text(encoding="utf-8"))
    day = date(2026, 12, 3)
    expected = v2_evening_bars(conn, day)
    old_quotes = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT token_id, fetched_at, status, best_bid, best_ask, display, book_hash,"
            " bid_depth_usd FROM quote_status"
        )
    }
    conn.close()
    assert expected and old_quotes

    store = await Store.open(path)
    try:
        await store.collapse_legacy_snapshots(ZoneInfo("UTC"))
        assert bar_tuples(await store.daily_bars(day.isoformat())) == expected
        latest = await store.latest_quotes()
        assert set(latest) == set(old_quotes)
        for token, (at_text, status, bid, ask, disp, book_hash, depth) in old_quotes.items():
            quote = latest[token].quote
            assert (iso_utc(quote.fetched_at), latest[token].status) == (at_text, status)
            assert (quote.best_bid, quote.best_ask, quote.display) == tuple(
                None if v is None else Decimal(v) / 10**6 for v in (bid, ask, disp)
            )
            assert (quote.book_hash, quote.bid_depth_usd) == (book_hash, Decimal(depth) / 10**6)
    finally:
        await store.close()
