"""A deterministic universe of Polymarket events and markets, built from recorded payload templates.

`generate_universe(seed, n_events, now)` is pure: the same inputs give identical objects. Every
market and event carries its ground truth (kind, flags, liquidity, dates, tags, token ids, fees,
price parameters) and renders its Gamma/CLOB JSON by overriding a copy of a recorded object
(`templates.json`), so keys, types and encoding quirks match live payloads.
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from typing import Any

from prescientd.sim.books import PRICE_STR, SCALE, PriceParams, Quote, quote_at

JsonDict = dict[str, Any]
QuotesOf = Callable[["SimMarket"], "tuple[Quote, ...] | None"]


def _load_templates() -> JsonDict:
    text = resources.files("prescientd.sim").joinpath("templates.json").read_text("utf-8")
    loaded: JsonDict = json.loads(text)
    return loaded


TEMPLATES: JsonDict = _load_templates()
"""Verbatim recorded objects (see `_provenance` inside the file)."""

MARKETS_KEYSET_SCHEMA: str = TEMPLATES["market_keyset_schema"]
# Only the markets keyset schema URL was recorded; the events one is assumed by analogy.
EVENTS_KEYSET_SCHEMA = "https://gamma-api.polymarket.com/schemas/EventsKeysetListResponse.json"
MARKET_SCHEMA: str = TEMPLATES["market_single_schema"]
EVENT_SCHEMA = "https://gamma-api.polymarket.com/schemas/Event.json"


def _merge_key_orders(*orders: Iterable[str]) -> tuple[str, ...]:
    """One key order with every key, each new key placed after its predecessor in its source."""
    merged: list[str] = []
    for order in orders:
        previous: str | None = None
        for key in order:
            if key not in merged:
                merged.insert(merged.index(previous) + 1 if previous else len(merged), key)
            previous = key
    return tuple(merged)


_EXTRA_MARKET_KEYS = ("sportsMarketType", "gameStartTime", "eventStartTime")
MARKET_KEY_ORDER = _merge_key_orders(
    TEMPLATES["market"],
    TEMPLATES["market_negrisk"],
    TEMPLATES["market_resolved"],
    _EXTRA_MARKET_KEYS,
)
EVENT_KEY_ORDER = _merge_key_orders(TEMPLATES["event"], TEMPLATES["event_closed"])


def _without(obj: JsonDict, *keys: str) -> JsonDict:
    return {k: v for k, v in obj.items() if k not in keys}


_T_MARKET = _without(TEMPLATES["market"], "events", "positionIds", "feeSchedule")
_T_EVENT_SUMMARY = _without(TEMPLATES["market"]["events"][0], "series", "seriesSlug")
_T_EVENT = _without(
    TEMPLATES["event"], "markets", "tags", "countryName", "electionType", "negRiskMarketID"
)
_T_TAG: JsonDict = TEMPLATES["event"]["tags"][3]
_T_CLOB_MARKET: JsonDict = TEMPLATES["clob_market"]


class MarketKind(StrEnum):
    """Ground-truth label a market was generated as (runtime resolution does not change it)."""

    OPEN = "open"
    OTHER_OUTCOMES = "other_outcomes"
    NEG_RISK = "neg_risk"
    NEG_RISK_PLACEHOLDER = "neg_risk_placeholder"
    RESOLVED = "resolved"
    PROPOSED = "proposed"
    CLOSED_ACCEPTING = "closed_accepting"
    EXPIRED = "expired"
    NO_ORDERBOOK = "no_orderbook"
    MULTI_OUTCOME = "multi_outcome"
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class SimTag:
    """A Gamma tag (id, label, slug)."""

    id: str
    label: str
    slug: str


TAGS: dict[str, SimTag] = {
    t.slug: t
    for t in (
        SimTag("2", "Politics", "politics"),
        SimTag("144", "Elections", "elections"),
        SimTag("1", "Sports", "sports"),
        SimTag("100350", "Soccer", "soccer"),
        SimTag("21", "Crypto", "crypto"),
        SimTag("100328", "Economy", "economics"),
        SimTag("100265", "Geopolitics", "geopolitics"),
        SimTag("596", "Culture", "culture"),
    )
}


@dataclass(frozen=True, slots=True)
class SimFeeSchedule:
    """A Gamma `feeSchedule` object."""

    rate: float
    exponent: int = 1
    taker_only: bool = True
    rebate_rate: float = 0.25

    def to_json(self) -> JsonDict:
        """Render as Gamma does."""
        return {
            "exponent": self.exponent,
            "rate": self.rate,
            "takerOnly": self.taker_only,
            "rebateRate": self.rebate_rate,
        }


@dataclass(slots=True)
class SimMarket:
    """One market: ground truth plus the mutable lifecycle state the control API changes."""

    id: str
    event_id: str
    kind: MarketKind
    question: str
    slug: str
    description: str
    condition_id: str
    question_id: str
    outcomes: tuple[str, ...]
    token_ids: tuple[str, ...]
    prices: tuple[PriceParams, ...]
    """Binary: one entry (outcome 0; outcome 1 is its mirror); otherwise one per outcome."""
    tick_units: int
    group_item_title: str
    group_item_threshold: str
    neg_risk: bool
    neg_risk_market_id: str | None
    neg_risk_request_id: str
    neg_risk_other: bool
    active: bool
    closed: bool
    accepting_orders: bool
    enable_order_book: bool
    uma_resolution_status: str | None
    uma_resolution_statuses: list[str]
    frozen_prices: tuple[str, ...] | None
    """`outcomePrices` when no live book drives them (closed, proposed, placeholder, no book)."""
    stale_quote: tuple[float | None, float | None, float | None] | None
    """(bestBid, bestAsk, lastTradePrice) Gamma shows without a live book; None = omitted."""
    winner_index: int | None
    is_50_50: bool
    liquidity: float | None
    volume: float
    volume_24h: float | None
    start_date: datetime
    end_date: datetime
    created_at: datetime
    updated_at: datetime
    closed_time: datetime | None
    uma_end_date: datetime | None
    tags: tuple[SimTag, ...]
    fees_enabled: bool
    fee_type: str | None
    fee_schedule: SimFeeSchedule | None
    fee_schedule_null: bool
    """When fees are off: render `"feeSchedule": null` (True) or leave the key out (False)."""
    position_ids: tuple[str, ...] | None
    sports_market_type: str | None
    game_start_time: datetime | None
    competitive: float
    rewards_min_size: int
    rewards_max_spread: float
    one_day_price_change: float

    @property
    def is_binary(self) -> bool:
        """Exactly two outcomes (and two tokens)."""
        return len(self.outcomes) == 2

    @property
    def has_book(self) -> bool:
        """Whether the CLOB serves books for this market's tokens right now."""
        return (
            self.active
            and not self.closed
            and self.accepting_orders
            and self.enable_order_book
            and self.uma_resolution_status is None
        )

    @property
    def tradable(self) -> bool:
        """Real API rule: active, not closed, accepting orders, book on, no UMA status, binary."""
        return self.has_book and self.is_binary

    @property
    def tick_size(self) -> str:
        """Minimum tick as decimal text."""
        return PRICE_STR[self.tick_units]

    @property
    def resolved(self) -> bool:
        """UMA resolution finished (closed with a final price pair)."""
        return self.uma_resolution_status == "resolved"

    def mark_proposed(self, frozen_prices: tuple[str, ...], now: datetime) -> None:
        """A resolution was proposed: orders stop, the book vanishes, prices freeze."""
        self.uma_resolution_status = "proposed"
        self.uma_resolution_statuses.append("proposed")
        self.accepting_orders = False
        self.frozen_prices = frozen_prices
        self.updated_at = now

    def mark_resolved(
        self, winner_index: int | None, now: datetime, stale: tuple[float, float, float] | None
    ) -> None:
        """Resolution final: closed, 1/0 prices (0.5/0.5 for a 50-50), no liquidity."""
        if self.uma_resolution_status != "proposed":
            self.uma_resolution_statuses.append("proposed")
        self.uma_resolution_statuses.append("resolved")
        self.uma_resolution_status = "resolved"
        self.closed = True
        self.accepting_orders = False
        self.winner_index = winner_index
        self.is_50_50 = winner_index is None
        if winner_index is None:
            self.frozen_prices = tuple("0.5" for _ in self.outcomes)
        else:
            self.frozen_prices = tuple(
                "1" if i == winner_index else "0" for i in range(len(self.outcomes))
            )
        if stale is not None:
            self.stale_quote = stale
        self.liquidity = None
        self.volume_24h = None
        self.closed_time = now
        self.uma_end_date = now
        self.updated_at = now


@dataclass(slots=True)
class SimEvent:
    """One event with all its child markets (closed and placeholder ones included)."""

    id: str
    slug: str
    ticker: str
    title: str
    description: str
    category: str
    tags: tuple[SimTag, ...]
    active: bool
    closed: bool
    closed_time: datetime | None
    neg_risk: bool
    neg_risk_market_id: str | None
    start_date: datetime
    end_date: datetime
    created_at: datetime
    updated_at: datetime
    comment_count: int
    competitive: float
    markets: list[SimMarket] = field(default_factory=list)

    @property
    def liquidity(self) -> float | None:
        """Sum of child liquidity; None (omitted) once the event is closed."""
        if self.closed:
            return None
        return round(sum(m.liquidity or 0.0 for m in self.markets), 5)

    @property
    def volume(self) -> float:
        """Sum of child volume."""
        return round(sum(m.volume for m in self.markets), 6)

    @property
    def volume_24h(self) -> float | None:
        """Sum of child 24 h volume; None (omitted) once the event is closed."""
        if self.closed:
            return None
        return round(sum(m.volume_24h or 0.0 for m in self.markets), 6)

    @property
    def tag_slugs(self) -> tuple[str, ...]:
        """Slugs of the event's tags."""
        return tuple(t.slug for t in self.tags)


@dataclass(slots=True)
class Universe:
    """All events and markets of one seed, with lookup tables."""

    seed: int
    now: datetime
    events: list[SimEvent]
    markets: list[SimMarket] = field(init=False)
    event_by_id: dict[str, SimEvent] = field(init=False)
    event_by_slug: dict[str, SimEvent] = field(init=False)
    market_by_id: dict[str, SimMarket] = field(init=False)
    market_by_slug: dict[str, SimMarket] = field(init=False)
    market_by_condition_id: dict[str, SimMarket] = field(init=False)
    token_index: dict[str, tuple[SimMarket, int]] = field(init=False)

    def __post_init__(self) -> None:
        self.markets = [m for e in self.events for m in e.markets]
        self.event_by_id = {e.id: e for e in self.events}
        self.event_by_slug = {e.slug: e for e in self.events}
        self.market_by_id = {m.id: m for m in self.markets}
        self.market_by_slug = {m.slug: m for m in self.markets}
        self.market_by_condition_id = {m.condition_id: m for m in self.markets}
        self.token_index = {t: (m, i) for m in self.markets for i, t in enumerate(m.token_ids)}


# ------------------------------------------------------------------------------------------------
# Formatting helpers


@functools.lru_cache(maxsize=1 << 16)
def rfc3339(dt: datetime, digits: int = 0) -> str:
    """RFC3339 UTC with `Z` and 0, 3 or 6 fractional digits, as Gamma writes dates."""
    dt = dt.astimezone(UTC)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if digits == 3:
        base += f".{dt.microsecond // 1000:03d}"
    elif digits == 6:
        base += f".{dt.microsecond:06d}"
    return base + "Z"


def _pg_time(dt: datetime) -> str:
    """Postgres-style time of market `closedTime`/`gameStartTime` ("2024-12-25 00:28:03+00")."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")


def _num(x: float) -> int | float:
    """Gamma numbers flip between int and float (`"bestAsk": 1`)."""
    return int(x) if float(x).is_integer() else x


def _num_text(x: float) -> str:
    """Market `volume`/`liquidity` are decimal strings."""
    return str(int(x)) if float(x).is_integer() else repr(x)


def _plain(d: Decimal) -> str:
    return format(d.normalize(), "f")


def _ordered(values: JsonDict, order: Sequence[str]) -> JsonDict:
    out = {k: values[k] for k in order if k in values}
    if len(out) != len(values):
        out.update((k, v) for k, v in values.items() if k not in out)
    return out


def _image(slug: str) -> str:
    return f"https://sim.invalid/images/{slug}.png"


_SLUG_RE = re.compile(r"[^a-z0-9]+")


def _slugify(text: str) -> str:
    return _SLUG_RE.sub("-", text.lower()).strip("-")


# ------------------------------------------------------------------------------------------------
# Rendering


def _live_price_fields(m: SimMarket, quotes: tuple[Quote, ...] | None) -> JsonDict:
    fields: JsonDict = {}
    if quotes is not None:
        q = quotes[0]
        if m.is_binary:
            yes = q.display
            outcome_prices = [_plain(yes), _plain(1 - yes)]
        else:
            outcome_prices = [qq.display_text() for qq in quotes]
        fields["outcomePrices"] = json.dumps(outcome_prices)
        fields["spread"] = _num(float(q.spread))
        fields["lastTradePrice"] = _num(float(q.last_trade))
        fields["bestBid"] = _num(float(q.best_bid))
        fields["bestAsk"] = _num(float(q.best_ask))
        return fields
    fields["outcomePrices"] = json.dumps(list(m.frozen_prices or ()))
    if m.stale_quote is not None:
        bid, ask, last = m.stale_quote
        if bid is not None and ask is not None:
            fields["spread"] = _num(round(ask - bid, 6))
        if last is not None:
            fields["lastTradePrice"] = _num(last)
        if bid is not None:
            fields["bestBid"] = _num(bid)
        if ask is not None:
            fields["bestAsk"] = _num(ask)
    return fields


def _optional_market_fields(m: SimMarket) -> JsonDict:
    """Keys Gamma only sends in some states (absent rather than null)."""
    d: JsonDict = {}
    if m.neg_risk_market_id is not None:
        d["negRiskMarketID"] = m.neg_risk_market_id
    if m.position_ids is not None:
        d["positionIds"] = list(m.position_ids)
    if m.fee_schedule is not None:
        d["feeSchedule"] = m.fee_schedule.to_json()
    elif m.fee_schedule_null:
        d["feeSchedule"] = None
    if m.uma_resolution_status is not None:
        d["umaResolutionStatus"] = m.uma_resolution_status
    if m.closed_time is not None:
        d["closedTime"] = _pg_time(m.closed_time)
    if m.uma_end_date is not None:
        d["umaEndDate"] = rfc3339(m.uma_end_date)
    if m.resolved:
        d["automaticallyResolved"] = True
    if m.sports_market_type is not None:
        d["sportsMarketType"] = m.sports_market_type
    if m.game_start_time is not None:
        d["gameStartTime"] = _pg_time(m.game_start_time)
    return d


def render_market(
    m: SimMarket,
    event: SimEvent,
    quotes: tuple[Quote, ...] | None,
    *,
    include_events: bool,
) -> JsonDict:
    """Gamma market object; `events` (parent summary) only where Gamma embeds it."""
    d = dict(_T_MARKET)
    for key in ("bestBid", "bestAsk", "spread", "lastTradePrice", "oneYearPriceChange"):
        d.pop(key, None)
    volume_24h = m.volume_24h or 0.0
    volume_1wk = min(m.volume, max(volume_24h * 3.0, round(m.volume * 0.1, 6)))
    d.update(
        id=m.id,
        question=m.question,
        conditionId=m.condition_id,
        slug=m.slug,
        endDate=rfc3339(m.end_date),
        startDate=rfc3339(m.start_date, 3),
        image=_image(m.slug),
        icon=_image(m.slug),
        description=m.description,
        outcomes=json.dumps(list(m.outcomes)),
        volume=_num_text(m.volume),
        active=m.active,
        closed=m.closed,
        createdAt=rfc3339(m.created_at, 6),
        updatedAt=rfc3339(m.updated_at, 6),
        groupItemTitle=m.group_item_title,
        groupItemThreshold=m.group_item_threshold,
        questionID=m.question_id,
        enableOrderBook=m.enable_order_book,
        orderPriceMinTickSize=_num(float(Decimal(m.tick_size))),
        orderMinSize=5,
        volumeNum=_num(m.volume),
        endDateIso=m.end_date.date().isoformat(),
        startDateIso=m.start_date.date().isoformat(),
        volume1wk=_num(volume_1wk),
        volume1mo=_num(min(m.volume, max(volume_1wk, round(m.volume * 0.4, 6)))),
        volume1yr=_num(m.volume),
        clobTokenIds=json.dumps(list(m.token_ids)),
        volume1wkClob=_num(volume_1wk),
        volume1moClob=_num(min(m.volume, max(volume_1wk, round(m.volume * 0.4, 6)))),
        volume1yrClob=_num(m.volume),
        volumeClob=_num(m.volume),
        acceptingOrders=m.accepting_orders,
        negRisk=m.neg_risk,
        negRiskRequestID=m.neg_risk_request_id,
        acceptingOrdersTimestamp=rfc3339(m.start_date),
        competitive=m.competitive,
        clobRewards=[
            {
                "id": str(int(m.id) * 3 % 900_000 + 1000),
                "conditionId": m.condition_id,
                "assetAddress": "0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174",
                "rewardsAmount": 0,
                "rewardsDailyRate": 1 if m.rewards_min_size < 100 else 100,
                "startDate": m.start_date.date().isoformat(),
                "endDate": "2500-12-31",
            }
        ],
        rewardsMinSize=m.rewards_min_size,
        rewardsMaxSpread=m.rewards_max_spread,
        oneDayPriceChange=m.one_day_price_change,
        oneWeekPriceChange=round(m.one_day_price_change * 2.5, 4),
        oneMonthPriceChange=round(m.one_day_price_change * -1.5, 4),
        negRiskOther=m.neg_risk_other,
        umaResolutionStatuses=json.dumps(m.uma_resolution_statuses),
        deployingTimestamp=rfc3339(m.created_at, 6),
        feesEnabled=m.fees_enabled,
        feeType=m.fee_type,
    )
    d.update(_live_price_fields(m, None if not m.has_book else quotes))
    if m.liquidity is None:
        for key in ("liquidity", "liquidityNum", "liquidityClob"):
            d.pop(key, None)
    else:
        d.update(
            liquidity=_num_text(m.liquidity),
            liquidityNum=_num(m.liquidity),
            liquidityClob=_num(m.liquidity),
        )
    if m.volume_24h is None:
        d.pop("volume24hr", None)
        d.pop("volume24hrClob", None)
    else:
        d.update(volume24hr=_num(m.volume_24h), volume24hrClob=_num(m.volume_24h))
    d.update(_optional_market_fields(m))
    if include_events:
        d["events"] = [render_event_summary(event)]
    return _ordered(d, MARKET_KEY_ORDER)


def _event_numbers(e: SimEvent) -> JsonDict:
    volume = e.volume
    numbers: JsonDict = {
        "volume": _num(volume),
        "openInterest": _num(round(volume * 0.07, 6)) if not e.closed else 0,
        "volume1wk": _num(round(volume * 0.1, 6)) if not e.closed else 0,
        "volume1mo": _num(round(volume * 0.4, 6)) if not e.closed else 0,
        "volume1yr": _num(volume) if not e.closed else 0,
    }
    if e.liquidity is not None:
        numbers["liquidity"] = _num(e.liquidity)
        numbers["liquidityClob"] = _num(e.liquidity)
    if e.volume_24h is not None:
        numbers["volume24hr"] = _num(e.volume_24h)
    if not e.closed:
        numbers["competitive"] = e.competitive
    return numbers


def _apply_event_lifecycle(d: JsonDict, e: SimEvent) -> None:
    if e.closed:
        for key in ("liquidity", "liquidityClob", "volume24hr", "competitive"):
            if key not in _event_numbers(e):
                d.pop(key, None)
        if e.closed_time is not None:
            d["closedTime"] = rfc3339(e.closed_time)
    d["enableNegRisk"] = e.neg_risk
    d["negRiskAugmented"] = e.neg_risk


def render_event_summary(e: SimEvent) -> JsonDict:
    """The parent-event summary Gamma embeds in a market's `events` array."""
    d = dict(_T_EVENT_SUMMARY)
    d.update(
        id=e.id,
        ticker=e.ticker,
        slug=e.slug,
        title=e.title,
        description=e.description,
        startDate=rfc3339(e.start_date, 3),
        creationDate=rfc3339(e.created_at, 6),
        endDate=rfc3339(e.end_date),
        image=_image(e.slug),
        icon=_image(e.slug),
        active=e.active,
        closed=e.closed,
        createdAt=rfc3339(e.created_at, 6),
        updatedAt=rfc3339(e.updated_at, 6),
        commentCount=e.comment_count,
    )
    d.update(_event_numbers(e))
    _apply_event_lifecycle(d, e)
    if e.neg_risk:
        d["negRisk"] = True
        d["negRiskMarketID"] = e.neg_risk_market_id
    return d


def render_tag(tag: SimTag) -> JsonDict:
    """Gamma tag object."""
    d = dict(_T_TAG)
    d.update(id=tag.id, label=tag.label, slug=tag.slug)
    return d


def render_event(e: SimEvent, quotes_of: QuotesOf) -> JsonDict:
    """Gamma event object embedding ALL child markets (without their `events` key)."""
    d = dict(_T_EVENT)
    d.update(
        id=e.id,
        ticker=e.ticker,
        slug=e.slug,
        title=e.title,
        description=e.description,
        startDate=rfc3339(e.start_date, 6),
        creationDate=rfc3339(e.created_at, 6),
        endDate=rfc3339(e.end_date),
        image=_image(e.slug),
        icon=_image(e.slug),
        active=e.active,
        closed=e.closed,
        createdAt=rfc3339(e.created_at, 6),
        updatedAt=rfc3339(e.updated_at, 6),
        negRisk=e.neg_risk,
        commentCount=e.comment_count,
        markets=[render_market(m, e, quotes_of(m), include_events=False) for m in e.markets],
        tags=[render_tag(t) for t in e.tags],
        startTime=rfc3339(e.end_date),
        deployingTimestamp=rfc3339(e.created_at, 6),
    )
    d.update(_event_numbers(e))
    _apply_event_lifecycle(d, e)
    if e.neg_risk:
        d["negRiskMarketID"] = e.neg_risk_market_id
    if e.closed:
        d.update(automaticallyResolved=True, live=False, ended=True)
    return _ordered(d, EVENT_KEY_ORDER)


def render_clob_market(m: SimMarket, quotes: tuple[Quote, ...] | None) -> JsonDict:
    """CLOB `GET /markets/{conditionId}` object (tokens with price and winner)."""
    tokens: list[JsonDict] = []
    for i, (token, outcome) in enumerate(zip(m.token_ids, m.outcomes, strict=True)):
        price: int | float
        if m.has_book and quotes is not None:
            if m.is_binary:
                yes = quotes[0].display
                price = _num(float(yes if i == 0 else 1 - yes))
            else:
                price = _num(float(quotes[i].display))
        else:
            price = _num(float(Decimal((m.frozen_prices or ("0",) * len(m.outcomes))[i])))
        tokens.append(
            {"outcome": outcome, "price": price, "token_id": token, "winner": m.winner_index == i}
        )
    d = dict(_T_CLOB_MARKET)
    d.update(
        accepting_order_timestamp=rfc3339(m.start_date),
        accepting_orders=m.accepting_orders,
        active=m.active,
        archived=False,
        closed=m.closed,
        condition_id=m.condition_id,
        description=m.description,
        enable_order_book=m.enable_order_book and not m.resolved,
        end_date_iso=rfc3339(m.end_date),
        game_start_time=rfc3339(m.game_start_time) if m.game_start_time else None,
        icon=_image(m.slug),
        image=_image(m.slug),
        is_50_50_outcome=m.is_50_50,
        maker_base_fee=1000 if m.fees_enabled else 0,
        market_slug=m.slug,
        minimum_order_size=5,
        minimum_tick_size=_num(float(Decimal(m.tick_size))),
        neg_risk=m.neg_risk,
        neg_risk_market_id=m.neg_risk_market_id or "",
        neg_risk_request_id=m.neg_risk_request_id,
        question=m.question,
        question_id=m.question_id,
        rewards={"max_spread": m.rewards_max_spread, "min_size": m.rewards_min_size, "rates": None},
        tags=[t.label for t in m.tags],
        taker_base_fee=1000 if m.fees_enabled else 0,
        tokens=tokens,
    )
    return d


# ------------------------------------------------------------------------------------------------
# Generation

_POLITICIANS = (
    "Gavin Newsom", "Gretchen Whitmer", "Josh Shapiro", "Pete Buttigieg", "JD Vance", "Marco Rubio",
    "Ron DeSantis", "Nikki Haley", "Andy Beshear", "Wes Moore", "J.B. Pritzker", "Cory Booker",
    "Glenn Youngkin", "Vivek Ramaswamy", "Alexandria Ocasio-Cortez", "Stephen A. Smith",
)  # fmt: skip
_COUNTRIES = (
    "France", "Germany", "Brazil", "Japan", "Canada", "India", "Mexico", "Italy", "Spain", "Poland",
    "Chile", "Kenya", "Colombia", "Portugal",
)  # fmt: skip
_SOCCER = (
    "Real Madrid", "Barcelona", "Arsenal", "Liverpool", "Bayern München", "PSG", "Inter",
    "Juventus",
    "Benfica", "Ajax", "Atlético Madrid", "Borussia Dortmund", "Spain", "Argentina",
)  # fmt: skip
_US_TEAMS = (
    "Lakers", "Celtics", "Warriors", "Knicks", "Chiefs", "Eagles", "Yankees", "Dodgers", "Oilers",
)  # fmt: skip
_ESPORTS = ("FaZe", "NAVI", "Vitality", "G2", "Spirit", "MOUZ", "illwill")
_COINS = ("Bitcoin", "Ethereum", "Solana", "XRP", "Dogecoin")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_CULTURE = (
    "@elonmusk tweet 200+ times this week?",
    "Will the new Nolan film gross over $150M opening weekend?",
    "Taylor Swift album announced by {month}?",
    "Will 'Oppenheimer 2' be announced by {month}?",
    "#1 song on the Hot 100 this week by a K-pop act?",
)
_ECONOMICS = (
    "Will the Fed cut rates in {month}?",
    "US CPI above 3.0% in {month}?",
    "-0.5% US GDP growth in Q{quarter}?",
    "US recession declared by {month}?",
    "Will the ECB hike rates in {month}?",
)
_GEOPOLITICS = (
    "{a} x {b} ceasefire by {month}?",
    "Will {a} and {b} sign a trade deal by {month}?",
    "{a} election called early by {month}?",
)

_CATEGORY_TAGS: dict[str, tuple[tuple[str, ...], ...]] = {
    "politics": (("politics",), ("politics", "elections")),
    "elections": (("elections", "politics"),),
    "sports": (("sports",), ("sports", "soccer")),
    "crypto": (("crypto",),),
    "economics": (("economics",), ("economics", "politics")),
    "geopolitics": (("geopolitics",), ("geopolitics", "politics")),
    "culture": (("culture",),),
}

_EVENT_TYPES = ("binary", "sports", "updown", "neg_risk", "closed", "inactive")
_EVENT_TYPE_WEIGHTS = (84, 6, 2, 3, 4, 1)
# Kind mix inside plain binary events; the remainder is `open`.
_BINARY_SPECIAL_KINDS: tuple[tuple[MarketKind, float], ...] = (
    (MarketKind.EXPIRED, 0.05),
    (MarketKind.PROPOSED, 0.02),
    (MarketKind.RESOLVED, 0.03),
    (MarketKind.CLOSED_ACCEPTING, 0.015),
    (MarketKind.NO_ORDERBOOK, 0.02),
    (MarketKind.MULTI_OUTCOME, 0.012),
)
# Every kind appears at least once in any universe of >= len(_FORCED) events.
_FORCED: tuple[tuple[str, MarketKind | None], ...] = (
    ("binary", MarketKind.MULTI_OUTCOME),
    ("binary", MarketKind.PROPOSED),
    ("neg_risk", None),
    ("binary", MarketKind.CLOSED_ACCEPTING),
    ("sports", None),
    ("binary", MarketKind.EXPIRED),
    ("closed", None),
    ("binary", MarketKind.NO_ORDERBOOK),
    ("binary", MarketKind.RESOLVED),
    ("updown", None),
    ("inactive", None),
    ("binary", MarketKind.MULTI_OUTCOME),
)


def _hex32(rng: random.Random) -> str:
    return f"0x{rng.getrandbits(256):064x}"


def _token_id(rng: random.Random) -> str:
    # Real ids are uint256 values printed in decimal: 76-78 digits (resample the rare shorter ones).
    while True:
        value = rng.getrandbits(256)
        if value >= 10**75:
            return str(value)


def _log_uniform(rng: random.Random, lo: float, hi: float, skew: float = 1.0) -> float:
    u = rng.random() ** skew
    return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))


def _fee(rng: random.Random, category: str) -> tuple[bool, str | None, SimFeeSchedule | None]:
    if category in ("politics", "elections"):
        if rng.random() < 0.8:
            return True, "politics_fees", SimFeeSchedule(rate=0.04)
    elif category == "sports":
        if rng.random() < 0.6:
            return True, "sports_fees_v3", SimFeeSchedule(rate=0.05)
        return True, "sports_fees_v2", SimFeeSchedule(rate=0.03)
    elif category == "crypto":
        return True, "crypto_fees_v2", SimFeeSchedule(rate=0.07, exponent=1, rebate_rate=0.2)
    elif category in ("economics", "culture") and rng.random() < 0.7:
        # Category default 0.05; the feeType names for these categories were not recorded.
        return True, f"{category}_fees", SimFeeSchedule(rate=0.05)
    return False, None, None


def _price_params(
    rng: random.Random, base: float, tick_units: int, now_ms: int, *, wide: bool | None = None
) -> PriceParams:
    if wide is None:
        wide = rng.random() < 0.1
    if wide:
        spread_price = rng.uniform(0.11, 0.3)
        spread_ticks = math.floor(0.10 * SCALE / tick_units) + 1
        spread_ticks = max(spread_ticks, math.ceil(spread_price * SCALE / tick_units))
    else:
        spread_ticks = 1
    return PriceParams(
        seed=rng.getrandbits(63),
        base=base,
        amplitude=rng.uniform(0.0, 0.06),
        period_steps=rng.randint(20, 720),
        phase=rng.uniform(0.0, 2 * math.pi),
        noise=rng.uniform(0.002, 0.02),
        tick_units=tick_units,
        spread_ticks=spread_ticks,
        wide=wide,
        levels=rng.randint(5, 15),
        moves=rng.random() < 0.85,
        static_ts_ms=now_ms - rng.randint(60_000, 6 * 3_600_000),
    )


def _base_price(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.15:
        return rng.uniform(0.004, 0.06)
    if r < 0.3:
        return rng.uniform(0.94, 0.996)
    return rng.uniform(0.06, 0.94)


def _tick_units(rng: random.Random, base: float, *, soccer: bool) -> int:
    if base < 0.06 or base > 0.94:
        return 10  # extreme prices trade on the 0.001 grid
    if soccer and rng.random() < 0.5:
        return 25  # 0.0025, World Cup style
    return 100 if rng.random() < 0.62 else 10


@dataclass(slots=True)
class _Ctx:
    """Per-event generation context."""

    rng: random.Random
    now: datetime
    now_ms: int
    event_id: str
    next_market_id: int
    category: str
    tags: tuple[SimTag, ...]
    start: datetime
    end: datetime


def _description(question: str, outcomes: Sequence[str], fifty_fifty: bool) -> str:
    first, second = outcomes[0], outcomes[1]
    if len(outcomes) > 2:
        names = ", ".join(f'"{o}"' for o in outcomes)
        return (
            f"This market will resolve to the outcome among {names} that wins. The primary "
            "resolution source for this market will be a consensus of credible reporting."
        )
    text = (
        f'This market will resolve to "{first}" if the answer to "{question}" is yes within the '
        f'market\'s timeframe. Otherwise, this market will resolve to "{second}".\n\n'
        "The primary resolution source for this market will be a consensus of credible reporting."
    )
    if fifty_fifty:
        text += "\n\nIf the event is canceled or ends in a tie, this market will resolve to 50-50."
    return text


def _new_market(
    c: _Ctx,
    *,
    kind: MarketKind,
    question: str,
    outcomes: tuple[str, ...],
    base: float,
    group_item_title: str = "",
    group_item_threshold: str = "0",
    neg_risk_market_id: str | None = None,
    question_id: str | None = None,
    end: datetime | None = None,
    sports_market_type: str | None = None,
    game_start_time: datetime | None = None,
    soccer: bool = False,
) -> SimMarket:
    rng = c.rng
    market_id = str(c.next_market_id)
    c.next_market_id += rng.randint(1, 2)
    tick_units = _tick_units(rng, base, soccer=soccer)
    if len(outcomes) == 2:
        prices: tuple[PriceParams, ...] = (_price_params(rng, base, tick_units, c.now_ms),)
    else:
        raw = [rng.uniform(0.1, 1.0) for _ in outcomes]
        prices = tuple(
            _price_params(rng, r / sum(raw), tick_units, c.now_ms, wide=False) for r in raw
        )
    liquidity = round(_log_uniform(rng, 10.0, 1_000_000.0, skew=0.6), 5)
    volume = round(liquidity * math.exp(rng.uniform(0.0, 4.0)), 6)
    volume_24h = 0.0 if rng.random() < 0.1 else round(min(volume, _log_uniform(rng, 1.0, 1e6)), 6)
    fees_enabled, fee_type, fee_schedule = _fee(rng, c.category)
    start = c.start + timedelta(seconds=rng.randint(0, 600), microseconds=rng.randint(0, 999_999))
    created = start - timedelta(minutes=rng.randint(1, 30), microseconds=rng.randint(0, 999_999))
    slug = f"{_slugify(question)[:80]}-{rng.randint(100, 999)}"
    m = SimMarket(
        id=market_id,
        event_id=c.event_id,
        kind=kind,
        question=question,
        slug=slug,
        description=_description(question, outcomes, fifty_fifty=sports_market_type is not None),
        condition_id=_hex32(rng),
        question_id=question_id or _hex32(rng),
        outcomes=outcomes,
        token_ids=tuple(_token_id(rng) for _ in outcomes),
        prices=prices,
        tick_units=tick_units,
        group_item_title=group_item_title,
        group_item_threshold=group_item_threshold,
        neg_risk=neg_risk_market_id is not None,
        neg_risk_market_id=neg_risk_market_id,
        neg_risk_request_id=_hex32(rng) if neg_risk_market_id else "",
        neg_risk_other=False,
        active=True,
        closed=False,
        accepting_orders=True,
        enable_order_book=True,
        uma_resolution_status=None,
        uma_resolution_statuses=[],
        frozen_prices=None,
        stale_quote=None,
        winner_index=None,
        is_50_50=False,
        liquidity=liquidity,
        volume=volume,
        volume_24h=volume_24h,
        start_date=start,
        end_date=end or c.end,
        created_at=created,
        updated_at=c.now
        - timedelta(seconds=rng.randint(1, 86_400), microseconds=rng.randint(0, 999_999)),
        closed_time=None,
        uma_end_date=None,
        tags=c.tags,
        fees_enabled=fees_enabled,
        fee_type=fee_type,
        fee_schedule=fee_schedule,
        fee_schedule_null=rng.random() < 0.5,
        position_ids=(
            tuple(str(rng.getrandbits(249)) for _ in outcomes) if rng.random() < 0.3 else None
        ),
        sports_market_type=sports_market_type,
        game_start_time=game_start_time,
        competitive=round(rng.uniform(0.5, 1.0), 16),
        rewards_min_size=rng.choice((20, 50, 200)),
        rewards_max_spread=rng.choice((2.5, 3.5, 4.5)),
        one_day_price_change=round(rng.uniform(-0.03, 0.03), 4),
    )
    _apply_kind(c, m, kind)
    return m


def _freeze_from_book(m: SimMarket) -> tuple[str, ...]:
    quotes = [quote_at(p, 0) for p in m.prices]
    if m.is_binary:
        yes = quotes[0].display
        return (_plain(yes), _plain(1 - yes))
    return tuple(q.display_text() for q in quotes)


def _apply_kind(c: _Ctx, m: SimMarket, kind: MarketKind) -> None:
    rng = c.rng
    if kind == MarketKind.EXPIRED:
        m.end_date = c.now - timedelta(minutes=rng.randint(60, 60 * 24 * 60))
    elif kind in (MarketKind.RESOLVED, MarketKind.CLOSED_ACCEPTING):
        winner = rng.randrange(2)
        closed_at = c.now - timedelta(hours=rng.uniform(1, 24 * 200))
        closed_at = closed_at.replace(microsecond=0)
        m.closed = True
        m.closed_time = closed_at
        m.frozen_prices = (
            ("1", "0") if winner == 0 or kind == MarketKind.CLOSED_ACCEPTING else ("0", "1")
        )
        m.liquidity = None
        m.volume_24h = None
        if rng.random() < 0.7:
            m.end_date = min(m.end_date, closed_at + timedelta(hours=rng.uniform(0, 48)))
        if kind == MarketKind.RESOLVED:
            m.accepting_orders = False
            m.winner_index = winner
            m.uma_resolution_status = "resolved"
            m.uma_resolution_statuses = rng.choice(
                (
                    ["proposed", "resolved"],
                    ["proposed"],
                    [],
                    ["proposed", "disputed", "proposed", "resolved"],
                )
            )
            m.uma_end_date = closed_at
            # Resolved markets keep a stale top of book; bestBid often missing, bestAsk may be 1.
            if winner == 0:
                bid = None if rng.random() < 0.3 else 0.998
                m.stale_quote = (bid, 1.0 if rng.random() < 0.3 else 0.999, 0.999)
            else:
                m.stale_quote = (None, 0.001, 0.005)
        else:
            m.stale_quote = (0.69, 0.71, 0.7)
    elif kind == MarketKind.PROPOSED:
        m.uma_resolution_status = "proposed"
        m.uma_resolution_statuses = ["proposed"]
        m.accepting_orders = False
        yes = "0.9985" if rng.random() < 0.5 else "0.0015"
        m.frozen_prices = (yes, _plain(1 - Decimal(yes)))
        m.stale_quote = (float(yes) - 0.001, float(yes) + 0.001, float(yes))
        m.end_date = c.now - timedelta(hours=rng.uniform(1, 72))
    elif kind == MarketKind.NO_ORDERBOOK:
        m.enable_order_book = False
        m.frozen_prices = _freeze_from_book(m)
    elif kind == MarketKind.NEG_RISK_PLACEHOLDER:
        m.neg_risk_other = True
        m.accepting_orders = False
        m.frozen_prices = ("0", "0")
        m.liquidity = 0.0
        m.volume = 0.0
        m.volume_24h = 0.0
    elif kind == MarketKind.INACTIVE:
        m.active = False
        m.accepting_orders = False
        m.frozen_prices = _freeze_from_book(m)
        m.liquidity = 0.0
        m.volume = 0.0
        m.volume_24h = 0.0


def _end_date(rng: random.Random, now: datetime) -> datetime:
    days = _log_uniform(rng, 0.2, 1095.0)
    end = now + timedelta(days=days)
    return end.replace(minute=rng.choice((0, 0, 59)), second=0, microsecond=0)


def _question(c: _Ctx, i: int) -> str:
    rng = c.rng
    month = rng.choice(_MONTHS)
    if c.category in ("politics", "elections"):
        race = rng.choice(("Senate race", "governor race", "presidential nomination"))
        return f"Will {rng.choice(_POLITICIANS)} win the {rng.choice((2026, 2028))} {race}?"
    if c.category == "crypto":
        coin = rng.choice(_COINS)
        return (
            f"Will {coin} be above ${rng.randint(1, 200) * 1000:,} on {month} {rng.randint(1, 28)}?"
        )
    if c.category == "economics":
        return rng.choice(_ECONOMICS).format(month=month, quarter=rng.randint(1, 4))
    if c.category == "geopolitics":
        a, b = rng.sample(_COUNTRIES, 2)
        return rng.choice(_GEOPOLITICS).format(a=a, b=b, month=month)
    if c.category == "culture":
        return rng.choice(_CULTURE).format(month=month)
    return f"Will {rng.choice(_US_TEAMS)} win game {i + 1}?"


def _binary_event(
    c: _Ctx, forced: MarketKind | None, only_kind: MarketKind | None
) -> tuple[str, list[SimMarket]]:
    rng = c.rng
    n = 1 if rng.random() < 0.6 else rng.randint(2, 4)
    title = _question(c, 0)
    markets: list[SimMarket] = []
    forced_at = rng.randrange(n)
    for j in range(n):
        kind = MarketKind.OPEN
        r = rng.random()
        for special, p in _BINARY_SPECIAL_KINDS:
            if r < p:
                kind = special
                break
            r -= p
        if j == forced_at and forced is not None:
            kind = forced
        if only_kind is not None:
            kind = only_kind
        question = title if n == 1 else f"{title.rstrip('?')} (#{j + 1})?"
        if kind == MarketKind.MULTI_OUTCOME:
            names = (*rng.sample(_POLITICIANS, 2), "Other")
            markets.append(
                _new_market(
                    c, kind=kind, question=f"Who will win: {question}", outcomes=names, base=0.5
                )
            )
            continue
        markets.append(
            _new_market(
                c,
                kind=kind,
                question=question,
                outcomes=("Yes", "No"),
                base=_base_price(rng),
                group_item_title="" if n == 1 else f"#{j + 1}",
                group_item_threshold=str(j),
            )
        )
    return title, markets


def _sports_event(c: _Ctx) -> tuple[str, list[SimMarket]]:
    rng = c.rng
    soccer = any(t.slug == "soccer" for t in c.tags)
    pool = _SOCCER if soccer else rng.choice((_US_TEAMS, _ESPORTS))
    a, b = rng.sample(pool, 2)
    game = c.now + timedelta(hours=rng.uniform(2, 24 * 14))
    game = game.replace(minute=0, second=0, microsecond=0)
    end = game + timedelta(hours=2)
    title = f"{a} vs. {b}"
    common: JsonDict = {"end": end, "game_start_time": game, "soccer": soccer}
    markets = [
        _new_market(
            c,
            kind=MarketKind.OTHER_OUTCOMES,
            question=title,
            outcomes=(a, b),
            base=rng.uniform(0.2, 0.8),
            group_item_title="Match Winner",
            sports_market_type="moneyline",
            **common,
        )
    ]
    if rng.random() < 0.6:
        markets.append(
            _new_market(
                c,
                kind=MarketKind.OTHER_OUTCOMES,
                question=f"{title}: O/U 2.5",
                outcomes=("Over", "Under"),
                base=rng.uniform(0.3, 0.7),
                group_item_title="O/U 2.5",
                sports_market_type="totals",
                **common,
            )
        )
    if rng.random() < 0.4:
        markets.append(
            _new_market(
                c,
                kind=MarketKind.OPEN,
                question=f"Will {a} win?",
                outcomes=("Yes", "No"),
                base=rng.uniform(0.2, 0.8),
                group_item_title=a,
                **common,
            )
        )
    return title, markets


def _updown_event(c: _Ctx) -> tuple[str, list[SimMarket]]:
    rng = c.rng
    coin = rng.choice(_COINS[:3])
    end = (c.now + timedelta(minutes=rng.randint(5, 24 * 60))).replace(second=0, microsecond=0)
    title = f"{coin} Up or Down - {end.strftime('%B %d, %H:%M')} ET"
    m = _new_market(
        c,
        kind=MarketKind.OTHER_OUTCOMES,
        question=title,
        outcomes=("Up", "Down"),
        base=0.5,
        end=end,
    )
    return title, [m]


def _neg_risk_event(c: _Ctx, neg_risk_market_id: str) -> tuple[str, list[SimMarket]]:
    rng = c.rng
    if c.category == "sports":
        title = (
            f"{rng.choice(('Champions League', 'Premier League', 'La Liga'))} Winner {c.end.year}"
        )
        names: Sequence[str] = rng.sample(_SOCCER, rng.randint(3, 5))
        template = "Will {name} win the " + title.rsplit(" ", 2)[0] + "?"
    else:
        country = rng.choice(_COUNTRIES)
        title = f"{country} Presidential Election {c.end.year}"
        names = rng.sample(_POLITICIANS, rng.randint(3, 5))
        template = "Will {name} win the " + title + "?"
    favourite = rng.randrange(len(names))
    markets: list[SimMarket] = []
    for j, name in enumerate(names):
        base = rng.uniform(0.3, 0.6) if j == favourite else rng.uniform(0.003, 0.15)
        kind = MarketKind.NEG_RISK
        if j != favourite and rng.random() < 0.08:
            kind = MarketKind.RESOLVED
        markets.append(
            _new_market(
                c,
                kind=kind,
                question=template.format(name=name),
                outcomes=("Yes", "No"),
                base=base,
                group_item_title=name,
                group_item_threshold=str(j),
                neg_risk_market_id=neg_risk_market_id,
                question_id=f"{neg_risk_market_id[:-2]}{j:02x}",
                soccer=c.category == "sports",
            )
        )
    j = len(names)
    markets.append(
        _new_market(
            c,
            kind=MarketKind.NEG_RISK_PLACEHOLDER,
            question=template.format(name=f"Person {chr(ord('A') + rng.randrange(26))}"),
            outcomes=("Yes", "No"),
            base=0.5,
            group_item_title="Person X",
            group_item_threshold=str(j),
            neg_risk_market_id=neg_risk_market_id,
            question_id=f"{neg_risk_market_id[:-2]}{j:02x}",
        )
    )
    return title, markets


def _category_for(rng: random.Random, event_type: str) -> str:
    if event_type == "sports":
        return "sports"
    if event_type == "updown":
        return "crypto"
    if event_type == "neg_risk":
        return rng.choice(("elections", "elections", "sports"))
    return rng.choices(
        ("politics", "elections", "crypto", "economics", "geopolitics", "culture"),
        weights=(30, 12, 18, 15, 12, 13),
    )[0]


def _make_event(
    seed: int, index: int, event_type: str, forced: MarketKind | None, now: datetime
) -> SimEvent:
    rng = random.Random(f"prescientd-sim:{seed}:{index}")
    category = _category_for(rng, event_type)
    tags = tuple(TAGS[s] for s in rng.choice(_CATEGORY_TAGS[category]))
    if event_type == "sports" and rng.random() < 0.5:
        tags = (TAGS["sports"], TAGS["soccer"])
    start = (now - timedelta(days=rng.uniform(2, 400))).replace(microsecond=rng.randint(0, 999_999))
    c = _Ctx(
        rng=rng,
        now=now,
        now_ms=int(now.timestamp() * 1000),
        event_id=str(40_000 + index * 10 + rng.randint(1, 9)),
        next_market_id=600_000 + index * 20 + rng.randint(0, 2),
        category=category,
        tags=tags,
        start=start,
        end=_end_date(rng, now),
    )
    neg_risk_market_id: str | None = None
    if event_type == "sports":
        title, markets = _sports_event(c)
    elif event_type == "updown":
        title, markets = _updown_event(c)
    elif event_type == "neg_risk":
        neg_risk_market_id = f"0x{rng.getrandbits(248):062x}00"
        title, markets = _neg_risk_event(c, neg_risk_market_id)
    else:
        forced_kind = forced
        if event_type == "closed":
            c.end = now - timedelta(days=rng.uniform(1, 300))
            forced_kind = None
        only_kind = {"closed": MarketKind.RESOLVED, "inactive": MarketKind.INACTIVE}.get(event_type)
        title, markets = _binary_event(c, forced_kind, only_kind)
    closed = event_type == "closed"
    event = SimEvent(
        id=c.event_id,
        slug=f"{_slugify(title)[:80]}-{c.event_id}",
        ticker=f"{_slugify(title)[:80]}-{c.event_id}",
        title=title,
        description=markets[0].description,
        category=category,
        tags=tags,
        active=event_type != "inactive",
        closed=closed,
        closed_time=max((m.closed_time for m in markets if m.closed_time), default=None)
        if closed
        else None,
        neg_risk=neg_risk_market_id is not None,
        neg_risk_market_id=neg_risk_market_id,
        start_date=start,
        end_date=max(m.end_date for m in markets),
        created_at=start - timedelta(minutes=rng.randint(1, 60), microseconds=rng.randint(0, 999)),
        updated_at=now
        - timedelta(seconds=rng.randint(1, 86_400), microseconds=rng.randint(0, 999_999)),
        comment_count=rng.randint(0, 5000),
        competitive=round(rng.uniform(0.5, 1.0), 16),
        markets=markets,
    )
    return event


def _event_plan(seed: int, n_events: int) -> list[tuple[str, MarketKind | None]]:
    rng = random.Random(f"prescientd-sim-plan:{seed}")
    plan: list[tuple[str, MarketKind | None]] = [
        (t, None) for t in rng.choices(_EVENT_TYPES, weights=_EVENT_TYPE_WEIGHTS, k=n_events)
    ]
    if n_events == 0:
        return plan
    for j, forced in enumerate(_FORCED[:n_events]):
        plan[(j * n_events) // min(n_events, len(_FORCED))] = forced
    return plan


def generate_universe(seed: int, n_events: int, now: datetime) -> Universe:
    """The universe of `seed` with `n_events` events as seen at `now` (pure, deterministic)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if n_events < 0:
        raise ValueError("n_events must be >= 0")
    now = now.astimezone(UTC)
    events = [
        _make_event(seed, i, event_type, forced, now)
        for i, (event_type, forced) in enumerate(_event_plan(seed, n_events))
    ]
    return Universe(seed=seed, now=now, events=events)
