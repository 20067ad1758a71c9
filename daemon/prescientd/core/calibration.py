"""Calibration of the market's own price: is a YES price of p followed by YES about p of the time?

Inputs are tracked markets that resolved (held or not), each with its YES price at first sighting
and at every evening before resolution. Observations are bucketed by price; each bucket compares
the implied probability (mean price) with the realized YES frequency, with a Wilson score interval.

Conventions:
- Buckets are [low, high) of `bucket_width` (1 / width must be a whole number); a price of
  exactly 1 falls in the top bucket [1 - width, 1], 0 in the bottom one. Empty buckets are omitted.
- A market resolved 50-50 is excluded and counted (`split_markets`): it is neither a YES nor a NO,
  and counting it as 0.5 would pull every bucket toward 0.5 and break the binomial interval.
- Prices and frequencies are Decimal and the Brier score is exact Decimal (squares of Decimals);
  only the Wilson bounds are float, because they need a square root and a normal quantile.
- Every evening is one observation, so a long-lived market weighs more in the evening table than a
  short one and its observations are correlated: read its Wilson intervals as too narrow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from statistics import NormalDist

from prescientd.models import ONE, ZERO

DEFAULT_BUCKET_WIDTH = Decimal("0.05")
DEFAULT_CONFIDENCE = 0.95
HALF = Decimal("0.5")


class ObservationKind(StrEnum):
    """When a price was observed: once at first sighting, or every evening until resolution."""

    FIRST_SIGHTING = "first_sighting"
    EVENING = "evening"


@dataclass(frozen=True, slots=True)
class ResolvedMarket:
    """A tracked market that resolved, with the YES prices seen before its resolution.

    yes_payout is what one YES share paid: 1 (YES won), 0 (NO won) or 0.5 (a 50-50 resolution).
    first_yes_price is None when the market was never priced (it is then only in the evening kind).
    """

    market_id: str
    tags: tuple[str, ...]
    first_yes_price: Decimal | None
    evening_yes_prices: tuple[Decimal, ...]
    yes_payout: Decimal


@dataclass(frozen=True, slots=True)
class CalibrationBucket:
    """One price bucket of one observation kind. Wilson bounds are floats (a square root)."""

    kind: ObservationKind
    low: Decimal
    high: Decimal
    count: int
    market_count: int
    yes_count: int
    implied_probability: Decimal
    realized_frequency: Decimal
    wilson_low: float
    wilson_high: float


@dataclass(frozen=True, slots=True)
class BrierScore:
    """Mean squared error of the price as a forecast of the outcome; tag None = all markets."""

    kind: ObservationKind
    tag: str | None
    count: int
    brier_score: Decimal


@dataclass(frozen=True, slots=True)
class Calibration:
    """Calibration tables for both observation kinds."""

    bucket_width: Decimal
    confidence: float
    buckets: tuple[CalibrationBucket, ...]
    brier: tuple[BrierScore, ...]
    resolved_markets: int
    split_markets: int
    invalid_observations: int


@dataclass(frozen=True, slots=True)
class _Observation:
    kind: ObservationKind
    market_id: str
    tags: tuple[str, ...]
    price: Decimal
    outcome: int


def wilson_interval(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion, clipped to [0, 1]."""
    if trials <= 0:
        raise ValueError(f"a Wilson interval needs at least one trial, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within 0..{trials}, got {successes}")
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    n = float(trials)
    p_hat = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    center = (p_hat + z2 / (2 * n)) / denominator
    half_width = z / denominator * math.sqrt(p_hat * (1 - p_hat) / n + z2 / (4 * n * n))
    return max(0.0, center - half_width), min(1.0, center + half_width)


def bucket_bounds(price: Decimal, width: Decimal) -> tuple[Decimal, Decimal]:
    """The [low, high) bucket holding price; 1 belongs to the top bucket [1 - width, 1]."""
    top_index = _bucket_count(width) - 1
    index = min(int(price // width), top_index)
    return index * width, (index + 1) * width


def _bucket_count(width: Decimal) -> int:
    if not ZERO < width <= ONE:
        raise ValueError(f"bucket width must be in (0, 1], got {width}")
    count = ONE / width
    if count != count.to_integral_value():
        raise ValueError(f"1 / bucket width must be a whole number, got width {width}")
    return int(count)


def _observations(markets: Iterable[ResolvedMarket]) -> tuple[list[_Observation], int, int, int]:
    """Binary observations, and counts of resolved markets used, 50-50 markets, invalid prices."""
    observations: list[_Observation] = []
    used = split = invalid = 0
    for market in markets:
        if market.yes_payout == HALF:
            split += 1
            continue
        if market.yes_payout not in (ZERO, ONE):
            invalid += 1  # not a resolution we know how to score
            continue
        used += 1
        outcome = int(market.yes_payout)
        priced: list[tuple[ObservationKind, Decimal]] = [
            (ObservationKind.EVENING, p) for p in market.evening_yes_prices
        ]
        if market.first_yes_price is not None:
            priced.insert(0, (ObservationKind.FIRST_SIGHTING, market.first_yes_price))
        for kind, price in priced:
            if not (price.is_finite() and ZERO <= price <= ONE):
                invalid += 1
                continue
            observations.append(_Observation(kind, market.market_id, market.tags, price, outcome))
    return observations, used, split, invalid


def _bucket(
    kind: ObservationKind,
    bounds: tuple[Decimal, Decimal],
    members: Sequence[_Observation],
    confidence: float,
) -> CalibrationBucket:
    count = len(members)
    yes_count = sum(o.outcome for o in members)
    wilson_low, wilson_high = wilson_interval(yes_count, count, confidence)
    return CalibrationBucket(
        kind=kind,
        low=bounds[0],
        high=bounds[1],
        count=count,
        market_count=len({o.market_id for o in members}),
        yes_count=yes_count,
        implied_probability=sum((o.price for o in members), ZERO) / count,
        realized_frequency=Decimal(yes_count) / count,
        wilson_low=wilson_low,
        wilson_high=wilson_high,
    )


def _brier(kind: ObservationKind, tag: str | None, members: Sequence[_Observation]) -> BrierScore:
    total = sum(((o.price - o.outcome) ** 2 for o in members), ZERO)
    return BrierScore(kind, tag, len(members), total / len(members))


def calibrate(
    markets: Iterable[ResolvedMarket],
    *,
    bucket_width: Decimal = DEFAULT_BUCKET_WIDTH,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Calibration:
    """Bucket every observed YES price against its market's outcome; Brier overall and by tag."""
    _bucket_count(bucket_width)  # validates the width before any work
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    observations, used, split, invalid = _observations(markets)
    buckets: list[CalibrationBucket] = []
    scores: list[BrierScore] = []
    for kind in ObservationKind:
        of_kind = [o for o in observations if o.kind is kind]
        if not of_kind:
            continue
        by_bucket: dict[tuple[Decimal, Decimal], list[_Observation]] = {}
        by_tag: dict[str, list[_Observation]] = {}
        for o in of_kind:
            by_bucket.setdefault(bucket_bounds(o.price, bucket_width), []).append(o)
            for tag in dict.fromkeys(o.tags):  # a tag listed twice still counts once
                by_tag.setdefault(tag, []).append(o)
        buckets += [_bucket(kind, b, by_bucket[b], confidence) for b in sorted(by_bucket)]
        scores.append(_brier(kind, None, of_kind))
        scores += [_brier(kind, tag, by_tag[tag]) for tag in sorted(by_tag)]
    return Calibration(
        bucket_width=bucket_width,
        confidence=confidence,
        buckets=tuple(buckets),
        brier=tuple(scores),
        resolved_markets=used,
        split_markets=split,
        invalid_observations=invalid,
    )
