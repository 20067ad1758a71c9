"""Which Gamma events and markets are eligible for tracking, and their flat mirror rows.

Pure: values and `now` in, values out. Each child market is judged by its own flags, because events
nest closed children and inactive placeholders next to live markets.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from prescientd.config import FiltersConfig
from prescientd.models import Event, Market
from prescientd.vocabulary import number, timestamp

NOT_TRADABLE = "not_tradable"
NOT_BINARY = "not_binary"
MISSING_TOKENS = "missing_tokens"
NEG_RISK_OTHER = "neg_risk_other"
NO_END_DATE = "no_end_date"
EXPIRED = "expired"
ENDS_TOO_SOON = "ends_too_soon"
ENDS_TOO_FAR = "ends_too_far"
LOW_LIQUIDITY = "low_liquidity"
LOW_VOLUME = "low_volume"
EXCLUDED_TAG = "excluded_tag"
MISSING_TAG = "missing_tag"
DUPLICATE = "duplicate"
OVER_MAX_MARKETS = "over_max_markets"


@dataclass(frozen=True, slots=True)
class FilterResult:
    """Eligible events (each with only its eligible markets), eligible pairs, rejection counts."""

    events: tuple[Event, ...]
    markets: tuple[tuple[Event, Market], ...]
    rejections: Mapping[str, int]


def is_tradable(market: Market) -> bool:
    """True when the market's own flags say its order book takes orders and it is not resolving."""
    return (
        market.active
        and not market.closed
        and market.accepting_orders
        and market.enable_order_book
        and not market.uma_resolution_status
    )


def is_binary(market: Market) -> bool:
    """True when the market has exactly two outcomes and two (non-empty) token ids."""
    return len(market.outcomes) == 2 and len(market.token_ids) == 2 and all(market.token_ids)


def id_key(market_id: str) -> tuple[int, str]:
    """Sort key for Gamma ids: numeric ids in numeric order, anything else after them as text."""
    if market_id.isdigit():
        return (len(market_id.lstrip("0")), market_id.lstrip("0"))
    return (1 << 30, market_id)


def _has_tag(event_tags: Sequence[str], wanted: Sequence[str]) -> bool:
    tags = {tag.casefold() for tag in event_tags}
    return any(tag.casefold() in tags for tag in wanted)


def judge_market(market: Market, event: Event, cfg: FiltersConfig, now: datetime) -> str | None:
    """None when the market is eligible, else a short reason code saying why not."""
    if not is_tradable(market):
        return NOT_TRADABLE
    if not is_binary(market):
        return NOT_BINARY if len(market.outcomes) != 2 else MISSING_TOKENS
    if market.neg_risk_other:
        # The "Other" market of an augmented neg-risk event changes meaning as candidates are added.
        return NEG_RISK_OTHER
    if market.end_date is None:
        return NO_END_DATE
    if market.end_date <= now:
        return EXPIRED
    if market.end_date < now + timedelta(hours=cfg.min_hours_to_end):
        return ENDS_TOO_SOON
    if market.end_date > now + timedelta(days=cfg.max_days_to_end):
        return ENDS_TOO_FAR
    if market.liquidity_usd < cfg.min_liquidity_usd:
        return LOW_LIQUIDITY
    if market.volume_24h_usd < cfg.min_volume_24h_usd:
        return LOW_VOLUME
    if cfg.exclude_tags and _has_tag(event.tags, cfg.exclude_tags):
        return EXCLUDED_TAG
    if cfg.include_tags and not _has_tag(event.tags, cfg.include_tags):
        return MISSING_TAG
    return None


def filter_events(events: Sequence[Event], cfg: FiltersConfig, now: datetime) -> FilterResult:
    """Keep the eligible markets of each event, capped at cfg.max_markets by 24 h volume."""
    collector = EligibleCollector(cfg, now)
    collector.add(events)
    return collector.result()


_Rank = tuple[Decimal, tuple[int, str], int]


class EligibleCollector:
    """`filter_events` over events arriving page by page, in memory bounded by max_markets.

    Each event is judged as it arrives and kept only as a shell with its eligible markets; when
    the candidates exceed twice max_markets, the lower-ranked ones are dropped for good (the
    ranking -- 24 h volume, then id, then arrival -- is a total order, so pruning early keeps the
    same markets as one sort at the end). `result()` equals `filter_events` over all the events.
    """

    def __init__(self, cfg: FiltersConfig, now: datetime) -> None:
        self._cfg = cfg
        self._now = now
        self._seen: set[str] = set()
        self._rejections: Counter[str] = Counter()
        self._events: dict[int, Event] = {}  # arrival index -> event shell (no markets)
        # (rank, arrival index of the event, market); rank = (-24 h volume, id, arrival order)
        self._eligible: list[tuple[_Rank, int, Market]] = []
        self._next_event = 0
        self._next_market = 0

    def add(self, events: Iterable[Event]) -> None:
        """Judge more events (in arrival order)."""
        for event in events:
            index = self._next_event
            self._next_event += 1
            kept = False
            for market in event.markets:
                # A market repeated across pages or events is judged once.
                reason = (
                    DUPLICATE
                    if market.market_id in self._seen
                    else judge_market(market, event, self._cfg, self._now)
                )
                self._seen.add(market.market_id)
                if reason is not None:
                    self._rejections[reason] += 1
                    continue
                rank = (-market.volume_24h_usd, id_key(market.market_id), self._next_market)
                self._next_market += 1
                self._eligible.append((rank, index, market))
                kept = True
            if kept:
                self._events[index] = dataclasses.replace(event, markets=())
        if len(self._eligible) > 2 * self._cfg.max_markets:
            self._prune()

    def _prune(self) -> None:
        cap = self._cfg.max_markets
        if len(self._eligible) <= cap:
            return
        ranked = sorted(self._eligible, key=lambda entry: entry[0])
        self._rejections[OVER_MAX_MARKETS] += len(ranked) - cap
        self._eligible = sorted(ranked[:cap], key=lambda entry: entry[0][2])  # arrival order
        alive = {index for _, index, _ in self._eligible}
        self._events = {i: e for i, e in self._events.items() if i in alive}

    def result(self) -> FilterResult:
        """The eligible events and markets so far, with the rejection counts."""
        self._prune()
        kept_by_event: dict[int, list[Market]] = {}
        for _, index, market in self._eligible:
            kept_by_event.setdefault(index, []).append(market)
        kept_events: list[Event] = []
        pairs: list[tuple[Event, Market]] = []
        for index in sorted(kept_by_event):  # arrival order
            markets = kept_by_event[index]
            kept = dataclasses.replace(self._events[index], markets=tuple(markets))
            kept_events.append(kept)
            pairs.extend((kept, market) for market in markets)
        return FilterResult(
            events=tuple(kept_events),
            markets=tuple(pairs),
            rejections=dict(sorted(self._rejections.items())),
        )


def market_row(event: Event, market: Market) -> dict[str, object]:
    """One flat row per market for filtered_markets.json and markets_extracted.csv."""
    fees = market.fee_schedule
    return {
        "event_id": event.event_id,
        "market_id": market.market_id,
        "condition_id": market.condition_id,
        "slug": market.slug,
        "question": market.question,
        "event_title": event.title,
        "outcome_yes": market.outcomes[0] if len(market.outcomes) > 0 else None,
        "outcome_no": market.outcomes[1] if len(market.outcomes) > 1 else None,
        "yes_token_id": market.token_ids[0] if len(market.token_ids) > 0 else None,
        "no_token_id": market.token_ids[1] if len(market.token_ids) > 1 else None,
        "tick_size": number(market.tick_size),
        "min_order_size": number(market.min_order_size),
        "fee_rate": number(fees.rate) if fees is not None else None,
        "fee_exponent": number(fees.exponent) if fees is not None else None,
        "fees_enabled": market.fees_enabled,
        "end_date": timestamp(market.end_date),
        "liquidity_usd": number(market.liquidity_usd),
        "volume_usd": number(market.volume_usd),
        "volume_24h_usd": number(market.volume_24h_usd),
        "neg_risk": market.neg_risk,
        "tags": ";".join(event.tags),
    }


def event_row(event: Event) -> dict[str, object]:
    """One flat row per event for filtered_events.json and events_filtered.csv."""
    return {
        "event_id": event.event_id,
        "slug": event.slug,
        "title": event.title,
        "tags": ";".join(event.tags),
        "end_date": timestamp(event.end_date),
        "liquidity_usd": number(event.liquidity_usd),
        "volume_usd": number(event.volume_usd),
        "volume_24h_usd": number(event.volume_24h_usd),
        "neg_risk": event.neg_risk,
        "market_count": len(event.markets),
    }
