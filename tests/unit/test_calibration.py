"""Calibration of the market's own price: buckets, Wilson intervals, Brier scores (by hand)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from prescientd.core.calibration import (
    Calibration,
    CalibrationBucket,
    ObservationKind,
    ResolvedMarket,
    bucket_bounds,
    calibrate,
    wilson_interval,
)

D = Decimal
FIRST = ObservationKind.FIRST_SIGHTING
EVENING = ObservationKind.EVENING


def _m(
    market_id: str, tags: tuple[str, ...], first: str | None, evenings: tuple[str, ...], yes: str
) -> ResolvedMarket:
    return ResolvedMarket(
        market_id=market_id,
        tags=tags,
        first_yes_price=None if first is None else D(first),
        evening_yes_prices=tuple(D(p) for p in evenings),
        yes_payout=D(yes),
    )


P, S, C = "Politics", "Sports", "Crypto"
MARKETS = [
    _m("m1", (P,), "0.62", ("0.70", "0.80"), "1"),
    _m("m2", (P,), "0.64", ("0.55",), "0"),
    _m("m3", (S,), "0.61", (), "1"),
    _m("m4", (S,), "0.95", ("0.97",), "1"),
    _m("m5", (), "1", (), "1"),  # price exactly 1: the top bucket [0.95, 1]
    _m("m6", (P, S), "0", ("0.02", "0"), "0"),  # price 0: the bottom bucket
    _m("m7", (P,), "0.30", ("0.5",), "0.5"),  # 50-50: excluded and counted
    _m("m8", (C,), "1.2", ("0.20",), "0"),  # a first price out of range: skipped and counted
]

# Wilson score interval, z = 1.959963984540054 (95%), z^2 = 3.841458820694124:
#   d = 1 + z^2/n, centre c = (p + z^2/(2n)) / d, half h = z/d * sqrt(p(1-p)/n + z^2/(4n^2))
#   k=2 n=3: d = 2.280486, c = (0.666667 + 0.640243) / d = 0.573084, h = 0.365424
#            -> [0.207660, 0.938508]
#   k=0 n=1: d = 4.841459, c = 1.920729 / d = 0.396725, h = 0.396725 -> [0, 0.793451]
#   k=2 n=2: d = 2.920729, c = 1.960365 / d = 0.671190, h = 0.328810 -> [0.342380, 1]
#   k=0 n=2: d = 2.920729, c = 0.960365 / d = 0.328810, h = 0.328810 -> [0, 0.657620]
#   k=1 n=1: d = 4.841459, c = 2.920729 / d = 0.603275, h = 0.396725 -> [0.206549, 1]
EXPECTED_BUCKETS: list[
    tuple[ObservationKind, str, str, int, int, int, Decimal | str, Decimal | str, float, float]
] = [
    # kind, low, high, count, markets, yes, implied, realized, wilson_low, wilson_high
    (FIRST, "0", "0.05", 1, 1, 0, "0", "0", 0.0, 0.7935),  # m6 at 0
    # m1 0.62, m2 0.64, m3 0.61: implied 1.87 / 3, realized 2 / 3
    (FIRST, "0.60", "0.65", 3, 3, 2, D("1.87") / 3, D(2) / 3, 0.2077, 0.9385),
    (FIRST, "0.95", "1.00", 2, 2, 2, "0.975", "1", 0.3424, 1.0),  # m4 0.95, m5 1: (0.95+1)/2
    (EVENING, "0", "0.05", 2, 1, 0, "0.01", "0", 0.0, 0.6576),  # m6 0.02 and 0: one market
    (EVENING, "0.20", "0.25", 1, 1, 0, "0.20", "0", 0.0, 0.7935),  # m8 (its evening is valid)
    (EVENING, "0.55", "0.60", 1, 1, 0, "0.55", "0", 0.0, 0.7935),  # m2
    (EVENING, "0.70", "0.75", 1, 1, 1, "0.70", "1", 0.2065, 1.0),  # m1
    (EVENING, "0.80", "0.85", 1, 1, 1, "0.80", "1", 0.2065, 1.0),  # m1
    (EVENING, "0.95", "1.00", 1, 1, 1, "0.97", "1", 0.2065, 1.0),  # m4
]

# Brier = mean of (price - outcome)^2, exact in Decimal.
# first sighting: m1 0.38^2 = 0.1444, m2 0.64^2 = 0.4096, m3 0.39^2 = 0.1521, m4 0.05^2 = 0.0025,
#                 m5 0, m6 0; all: 0.7086 / 6 = 0.1181
#   Politics m1 m2 m6: 0.554 / 3;  Sports m3 m4 m6: 0.1546 / 3
# evening: m1 0.3^2 = 0.09 and 0.2^2 = 0.04, m2 0.55^2 = 0.3025, m4 0.03^2 = 0.0009,
#          m6 0.02^2 = 0.0004 and 0, m8 0.2^2 = 0.04; all: 0.4738 / 7
#   Crypto m8: 0.04;  Politics m1 m1 m2 m6 m6: 0.4329 / 5 = 0.08658;  Sports m4 m6 m6: 0.0013 / 3
EXPECTED_BRIER = [
    (FIRST, None, 6, D("0.1181")),
    (FIRST, P, 3, D("0.554") / 3),
    (FIRST, S, 3, D("0.1546") / 3),
    (EVENING, None, 7, D("0.4738") / 7),
    (EVENING, C, 1, D("0.04")),
    (EVENING, P, 5, D("0.08658")),
    (EVENING, S, 3, D("0.0013") / 3),
]


@pytest.fixture(scope="module")
def table() -> Calibration:
    """The calibration of MARKETS at the default 0.05 width."""
    return calibrate(MARKETS)


@pytest.mark.parametrize("index", range(len(EXPECTED_BUCKETS)))
def test_bucket(table: Calibration, index: int) -> None:
    """Each non-empty bucket: bounds, counts, implied vs realized, Wilson bounds to 4 decimals."""
    kind, low, high, count, markets, yes, implied, realized, w_low, w_high = EXPECTED_BUCKETS[index]
    bucket: CalibrationBucket = table.buckets[index]
    assert (bucket.kind, bucket.low, bucket.high) == (kind, D(low), D(high))
    assert (bucket.count, bucket.market_count, bucket.yes_count) == (count, markets, yes)
    assert bucket.implied_probability == D(implied)
    assert bucket.realized_frequency == D(realized)
    assert (round(bucket.wilson_low, 4), round(bucket.wilson_high, 4)) == (w_low, w_high)


def test_only_non_empty_buckets(table: Calibration) -> None:
    """Empty buckets are omitted: nine buckets hold observations, nine are returned."""
    assert len(table.buckets) == len(EXPECTED_BUCKETS)


@pytest.mark.parametrize("index", range(len(EXPECTED_BRIER)))
def test_brier(table: Calibration, index: int) -> None:
    """Brier score overall (tag None) then per tag in name order, for each kind."""
    kind, tag, count, score = EXPECTED_BRIER[index]
    brier = table.brier[index]
    assert (brier.kind, brier.tag, brier.count, brier.brier_score) == (kind, tag, count, score)


def test_counts_of_markets(table: Calibration) -> None:
    """7 markets used (m7 is 50-50, excluded), 1 split, 1 invalid price (m8's first sighting)."""
    assert (table.resolved_markets, table.split_markets, table.invalid_observations) == (7, 1, 1)
    assert len(table.brier) == len(EXPECTED_BRIER)


@pytest.mark.parametrize(
    ("price", "width", "low", "high"),
    [
        ("0", "0.05", "0", "0.05"),
        ("0.05", "0.05", "0.05", "0.10"),  # a boundary belongs to the bucket above it
        ("0.0499", "0.05", "0", "0.05"),
        ("0.95", "0.05", "0.95", "1.00"),
        ("1", "0.05", "0.95", "1.00"),  # 1 is in the top bucket, not in [1, 1.05)
        ("1", "0.1", "0.9", "1.0"),
        ("0.5", "1", "0", "1"),
    ],
)
def test_bucket_bounds(price: str, width: str, low: str, high: str) -> None:
    """Buckets are [low, high), except that 1 falls in the top bucket."""
    assert bucket_bounds(D(price), D(width)) == (D(low), D(high))


@pytest.mark.parametrize("width", ["0", "-0.05", "0.03", "1.5"])
def test_bad_width_is_refused(width: str) -> None:
    """A width that does not divide 1 into whole buckets is refused with a clear message."""
    with pytest.raises(ValueError, match="bucket width"):
        calibrate(MARKETS, bucket_width=D(width))


def test_wider_buckets() -> None:
    """At width 0.5 the first sightings fall into two buckets: m6 below 0.5, five above."""
    table = calibrate(MARKETS, bucket_width=D("0.5"))
    first = [b for b in table.buckets if b.kind is FIRST]
    # [0, 0.5): m6 at 0, NO.  [0.5, 1]: m1 m2 m3 m4 m5 = 0.62+0.64+0.61+0.95+1 = 3.82, 4 YES of 5
    assert [(b.low, b.count, b.yes_count) for b in first] == [(D(0), 1, 0), (D("0.5"), 5, 4)]
    assert first[1].implied_probability == D("0.764")
    assert first[1].realized_frequency == D("0.8")


def test_market_without_first_sighting() -> None:
    """A market never priced at first sighting still counts in the evening table."""
    table = calibrate([_m("x", (), None, ("0.3",), "1")])
    assert [(b.kind, b.count) for b in table.buckets] == [(EVENING, 1)]
    assert [(s.kind, s.brier_score) for s in table.brier] == [(EVENING, D("0.49"))]  # 0.7^2


def test_nothing_resolved() -> None:
    """No resolved market gives empty tables, not an error."""
    table = calibrate([])
    assert (table.buckets, table.brier, table.resolved_markets) == ((), (), 0)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (2, 3, 0.2077, 0.9385),  # see the hand computation above
        (0, 1, 0.0, 0.7935),
        (1, 1, 0.2065, 1.0),
        # k=5 n=10: p=0.5, d = 1.384146, c = 0.5, h = 1.416010 * sqrt(0.025 + 0.009604) = 0.263407
        (5, 10, 0.2366, 0.7634),
    ],
)
def test_wilson_interval(k: int, n: int, low: float, high: float) -> None:
    """Wilson score interval at 95%, to 4 decimals."""
    got_low, got_high = wilson_interval(k, n, 0.95)
    assert (round(got_low, 4), round(got_high, 4)) == (low, high)


@pytest.mark.parametrize(("k", "n"), [(0, 0), (3, 2), (-1, 2)])
def test_wilson_rejects_impossible_counts(k: int, n: int) -> None:
    """No trials, or successes outside 0..n, is an error."""
    with pytest.raises(ValueError, match=r"trial|successes"):
        wilson_interval(k, n, 0.95)
