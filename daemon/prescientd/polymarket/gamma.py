"""Gamma API: keyset paging over /events/keyset and /markets/keyset, and per-item validation.

Every item is validated on its own: a malformed market is skipped and counted (its event is kept), a
malformed, oversized or too deeply nested event is skipped and counted, and the rest of the page is
processed; the first few skips are logged one by one, then one summary line. Shapes follow the
recorded payloads in fixtures/polymarket (JSON-encoded string arrays, numbers that flip between
int/float/str or are omitted, token ids as 76-78 digit strings). A market fetched by id must be the
market asked for (id, condition id, token ids), or it is rejected as a `RecordMismatch`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, TypeVar
from urllib.parse import quote

import structlog

from prescientd.logs import ItemProblems
from prescientd.models import Event, FeeSchedule, Market
from prescientd.polymarket.http import FetchError, HostClient, PagingError, QueryParams
from prescientd.polymarket.jsonsafe import (
    ONE,
    ZERO,
    ItemError,
    RecordMismatch,
    check_item,
    is_digits,
    parse_json,
    replied_items_cap,
    same_id,
    to_bool,
    to_canonical_price,
    to_datetime,
    to_decimal,
    to_id,
    to_size,
    to_str,
)

__all__ = [
    "EventsFetch",
    "FetchError",
    "GammaClient",
    "ItemError",
    "MarketsById",
    "MarketsFetch",
    "PagingError",
    "PagingSummary",
    "RecordMismatch",
    "parse_event",
    "parse_market",
]

log = structlog.get_logger(__name__)

_RESERVED_PARAMS: Final = frozenset({"limit", "after_cursor", "cursor", "next_cursor", "offset"})
# Polymarket's tick sizes run from 0.1 down to 0.0001; a finer or coarser value is not a tick.
TICK_MIN: Final = Decimal("0.0001")
TICK_MAX: Final = ONE
# Items skipped for these reasons are kept out of the raw backup too (junk of that size or depth).
_NOT_BACKED_UP: Final = frozenset({"oversized", "too_deep"})

T = TypeVar("T")
# ids per batched look-up: Gamma returns at most 100 rows a page, and `condition_ids` is
# documented up to 100 per request; 100 numeric ids keep the URL far below the ~8 KB limit
BATCH_IDS: Final = 100
# items parsed between two yields to the event loop (a page of 100 events takes ~50 ms)
_YIELD_EVERY: Final = 10


# -- item validation ----------------------------------------------------------------------------


def _json_string_list(raw: object, field: str, reason: str) -> list[str] | None:
    """Decode a JSON-encoded array of strings ('["Yes", "No"]'); None when absent/null/""."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, list):
        # Tolerate a real array (positionIds already is one); items are still checked below.
        decoded: object = raw
    elif isinstance(raw, str):
        try:
            decoded = parse_json(raw)
        except ValueError:
            raise ItemError(reason, f"{field} is not JSON") from None
    else:
        raise ItemError(reason, f"{field} is a {type(raw).__name__}")
    if not isinstance(decoded, list) or not all(isinstance(item, str) for item in decoded):
        raise ItemError(reason, f"{field} is not a list of strings")
    return decoded


def _number_or_zero(raw: Mapping[str, Any], *fields: str) -> Decimal:
    """The first present field as a finite non-negative Decimal; 0 when all are absent/null."""
    for field in fields:
        value = raw.get(field)
        if value is not None and value != "":
            return to_size(value, field)
    return ZERO


def _optional_positive(raw: Mapping[str, Any], field: str) -> Decimal | None:
    value = raw.get(field)
    if value is None or value == "":
        return None
    number = to_size(value, field)
    if number <= ZERO:
        raise ItemError(f"bad_field:{field}", "not positive")
    return number


def _tick_size(raw: Mapping[str, Any]) -> Decimal | None:
    tick = _optional_positive(raw, "orderPriceMinTickSize")
    if tick is not None and not TICK_MIN <= tick <= TICK_MAX:
        raise ItemError("bad_field:orderPriceMinTickSize", f"{tick} outside {TICK_MIN}..{TICK_MAX}")
    return tick


def _fee_schedule(raw: Mapping[str, Any]) -> FeeSchedule | None:
    if raw.get("feesEnabled") is False:
        return None
    schedule = raw.get("feeSchedule")
    if schedule is None:
        return None
    if not isinstance(schedule, dict):
        raise ItemError("bad_field:feeSchedule", "not an object")
    rate = to_decimal(schedule.get("rate"), "feeSchedule.rate")
    if not ZERO <= rate <= ONE:
        raise ItemError("bad_field:feeSchedule.rate", f"{rate} outside 0..1")
    exponent_raw = schedule.get("exponent")
    exponent = ONE if exponent_raw is None else to_decimal(exponent_raw, "feeSchedule.exponent")
    if exponent <= ZERO:
        raise ItemError("bad_field:feeSchedule.exponent", "not positive")
    taker_only = to_bool(schedule.get("takerOnly"), "feeSchedule.takerOnly", default=True)
    return FeeSchedule(rate=rate, exponent=exponent, taker_only=taker_only)


def _embedded_event_id(raw: Mapping[str, Any]) -> str:
    events = raw.get("events")
    if isinstance(events, list) and events and isinstance(events[0], dict):
        try:
            return to_id(events[0].get("id"), "events[0].id")
        except ItemError:
            return ""
    return ""


def parse_market(raw: object, event_id: str | None) -> Market:
    """Validate one Gamma market object; raise ItemError(reason) if it cannot be used."""
    if not isinstance(raw, dict):
        raise ItemError("not_an_object", type(raw).__name__)
    market_id = to_id(raw.get("id"), "id")

    outcomes = _json_string_list(raw.get("outcomes"), "outcomes", "bad_outcomes")
    if outcomes is None or len(outcomes) < 2:
        raise ItemError("bad_outcomes", "fewer than two outcomes")
    token_ids = _json_string_list(raw.get("clobTokenIds"), "clobTokenIds", "bad_token_ids")
    if not token_ids:
        raise ItemError("missing_token_ids")
    if not all(is_digits(token) for token in token_ids):
        raise ItemError("bad_token_ids", "a token id is not a decimal digit string")
    price_texts = _json_string_list(raw.get("outcomePrices"), "outcomePrices", "bad_outcome_prices")
    prices = tuple(to_canonical_price(text, "outcomePrices") for text in price_texts or ())
    if len(token_ids) != len(outcomes) or (prices and len(prices) != len(outcomes)):
        raise ItemError(
            "length_mismatch",
            f"{len(outcomes)} outcomes, {len(token_ids)} tokens, {len(prices)} prices",
        )
    statuses = _json_string_list(
        raw.get("umaResolutionStatuses"), "umaResolutionStatuses", "bad_field:umaResolutionStatuses"
    )
    status = to_str(raw.get("umaResolutionStatus"), "umaResolutionStatus") or None

    if event_id is None:
        event_id = _embedded_event_id(raw)
    return Market(
        market_id=market_id,
        event_id=event_id,
        condition_id=to_str(raw.get("conditionId"), "conditionId"),
        slug=to_str(raw.get("slug"), "slug"),
        question=to_str(raw.get("question"), "question"),
        outcomes=tuple(outcomes),
        token_ids=tuple(token_ids),
        outcome_prices=prices,
        active=to_bool(raw.get("active"), "active"),
        closed=to_bool(raw.get("closed"), "closed"),
        accepting_orders=to_bool(raw.get("acceptingOrders"), "acceptingOrders"),
        enable_order_book=to_bool(raw.get("enableOrderBook"), "enableOrderBook"),
        uma_resolution_status=status,
        uma_resolution_statuses=tuple(statuses or ()),
        end_date=to_datetime(raw.get("endDate"), "endDate"),
        # Markets carry numeric liquidityNum/volumeNum and string liquidity/volume; prefer numbers.
        liquidity_usd=_number_or_zero(raw, "liquidityNum", "liquidity"),
        volume_usd=_number_or_zero(raw, "volumeNum", "volume"),
        volume_24h_usd=_number_or_zero(raw, "volume24hr"),
        tick_size=_tick_size(raw),
        min_order_size=_optional_positive(raw, "orderMinSize"),
        fee_schedule=_fee_schedule(raw),
        neg_risk=to_bool(raw.get("negRisk"), "negRisk"),
        neg_risk_other=to_bool(raw.get("negRiskOther"), "negRiskOther"),
        fees_enabled=to_bool(raw.get("feesEnabled"), "feesEnabled"),
    )


def _tag_slugs(raw: object) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ItemError("bad_field:tags", "not a list")
    slugs: list[str] = []
    for tag in raw:
        if not isinstance(tag, dict) or not isinstance(tag.get("slug"), str):
            raise ItemError("bad_field:tags", "a tag without a string slug")
        slugs.append(tag["slug"])
    return tuple(slugs)


def _skips() -> ItemProblems:
    return ItemProblems("gamma_item_skipped", level="info")


def _raw_id(raw: object) -> str | None:
    if isinstance(raw, dict):
        value = raw.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


def _parse_event(
    raw: object, max_market_bytes: int | None, problems: ItemProblems
) -> tuple[Event, Counter[str]]:
    if not isinstance(raw, dict):
        raise ItemError("not_an_object", type(raw).__name__)
    event_id = to_id(raw.get("id"), "id")
    slug = to_str(raw.get("slug"), "slug")
    title = to_str(raw.get("title"), "title")
    tags = _tag_slugs(raw.get("tags"))
    active = to_bool(raw.get("active"), "active")
    closed = to_bool(raw.get("closed"), "closed")
    neg_risk = to_bool(raw.get("negRisk"), "negRisk")
    end_date = to_datetime(raw.get("endDate"), "endDate")
    liquidity = _number_or_zero(raw, "liquidity")
    volume = _number_or_zero(raw, "volume")
    volume_24h = _number_or_zero(raw, "volume24hr")
    raw_markets = raw.get("markets")
    if raw_markets is None:
        raw_markets = []
    if not isinstance(raw_markets, list):
        raise ItemError("bad_field:markets", "not a list")

    skipped: Counter[str] = Counter()
    markets: list[Market] = []
    for raw_market in raw_markets:
        try:
            check_item(raw_market, max_market_bytes)
            markets.append(parse_market(raw_market, event_id))
        except ItemError as exc:
            skipped[exc.reason] += 1
            problems.add(_raw_id(raw_market), exc.reason, kind="market", event_id=event_id)
    event = Event(
        event_id=event_id,
        slug=slug,
        title=title,
        tags=tags,
        active=active,
        closed=closed,
        end_date=end_date,
        liquidity_usd=liquidity,
        volume_usd=volume,
        volume_24h_usd=volume_24h,
        neg_risk=neg_risk,
        markets=tuple(markets),
        children=tuple((m.market_id, m.question) for m in markets),
        children_complete=not skipped,
    )
    return event, skipped


def parse_event(raw: object) -> tuple[Event, Counter[str]]:
    """Validate one Gamma event and each child market; bad children are skipped and counted."""
    problems = _skips()
    parsed = _parse_event(raw, None, problems)
    problems.summarize(kind="market")
    return parsed


# -- client -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventsFetch:
    """The outcome of paging /events/keyset."""

    events: tuple[Event, ...]
    raw_events: tuple[dict[str, Any], ...]
    pages: int
    skipped: Mapping[str, int]
    skipped_total: int


@dataclass(frozen=True, slots=True)
class PagingSummary:
    """What paging an endpoint found, beyond the items handed to the page callback."""

    items: int
    pages: int
    skipped: Mapping[str, int]
    skipped_total: int


OnPage = Callable[[list[Any], list[dict[str, Any]]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class MarketsFetch:
    """The outcome of paging /markets/keyset."""

    markets: tuple[Market, ...]
    raw_markets: tuple[dict[str, Any], ...]
    pages: int
    skipped: Mapping[str, int]
    skipped_total: int


@dataclass(frozen=True, slots=True)
class MarketsById:
    """The outcome of fetching markets by id: found records, and per-id problems.

    An id in neither was not returned by Gamma (unknown, or not listed by keyset).
    """

    found: Mapping[str, Market]
    problems: Mapping[str, str]  # market id -> why its record was rejected or not fetched
    requests: int
    unrequested: int  # records for ids that were not asked for (rejected)


@dataclass(slots=True)
class _Collected:
    parsed: list[Any]
    raw: list[dict[str, Any]]
    pages: int
    skipped: Counter[str]
    items: int = 0


@dataclass
class _ByIdTally:
    found: dict[str, Market] = dataclasses.field(default_factory=dict)
    problems: dict[str, str] = dataclasses.field(default_factory=dict)
    requests: int = 0
    unrequested: int = 0


class GammaClient:
    """Gamma reads: events and markets by keyset paging, single markets by id."""

    def __init__(
        self, http: HostClient, *, page_limit: int, max_pages: int, max_item_bytes: int
    ) -> None:
        if not 1 <= page_limit <= 500 or max_pages < 1 or max_item_bytes < 1:
            raise ValueError("page_limit must be 1..500, max_pages and max_item_bytes >= 1")
        self._http = http
        self._page_limit = page_limit
        self._max_pages = max_pages
        self._max_item_bytes = max_item_bytes

    async def fetch_events(self, params: QueryParams) -> EventsFetch:
        """Every event matching the filter params, over all keyset pages."""
        collected = await self._collect("/events/keyset", "events", params, self._parse_event_item)
        return EventsFetch(
            events=tuple(collected.parsed),
            raw_events=tuple(collected.raw),
            pages=collected.pages,
            skipped=dict(collected.skipped),
            skipped_total=sum(collected.skipped.values()),
        )

    async def stream_events(self, params: QueryParams, on_page: OnPage) -> PagingSummary:
        """Every event matching the filter params, handed over page by page.

        on_page(events, raw_events) gets each page's valid events and the raw objects kept for
        the backup, and nothing is held after it returns: memory is bounded by a page, not by the
        universe. The next page is already being fetched while on_page works.
        """
        collected = await self._collect(
            "/events/keyset", "events", params, self._parse_event_item, on_page=on_page
        )
        return PagingSummary(
            items=collected.items,
            pages=collected.pages,
            skipped=dict(collected.skipped),
            skipped_total=sum(collected.skipped.values()),
        )

    async def fetch_markets(self, params: QueryParams) -> MarketsFetch:
        """Every market matching the filter params, over all keyset pages."""
        collected = await self._collect(
            "/markets/keyset", "markets", params, self._parse_market_item
        )
        return MarketsFetch(
            markets=tuple(collected.parsed),
            raw_markets=tuple(collected.raw),
            pages=collected.pages,
            skipped=dict(collected.skipped),
            skipped_total=sum(collected.skipped.values()),
        )

    async def fetch_market(
        self,
        market_id: str,
        *,
        condition_id: str | None = None,
        token_ids: Sequence[str] | None = None,
    ) -> Market | None:
        """One market by Gamma id (GET /markets/{id}); None on 404, ItemError if malformed.

        The record must be the one asked for: its id, and the condition id and token ids (in
        order: outcome 0 is YES) when given; otherwise RecordMismatch. Settling A from B's
        record would be irreversible in an append-only ledger.
        """
        raw = await self._http.get_json(f"/markets/{quote(market_id, safe='')}", not_found_ok=True)
        if raw is None:
            return None
        check_item(raw, self._max_item_bytes)
        market = parse_market(raw, None)
        problem = market_mismatch(market, market_id, condition_id, token_ids)
        if problem:
            raise RecordMismatch(f"GET /markets/{market_id}: {problem}")
        return market

    async def fetch_markets_by_id(
        self, markets: Sequence[Market], *, batch_size: int = BATCH_IDS
    ) -> MarketsById:
        """The current Gamma record of each market, asked for in batches of ids.

        `GET /markets/keyset?id=..&id=..&closed=false`, then the ids it did not return again with
        `closed=true` (closed markets are listed only when asked for). Every record must be one of
        the markets asked for, with that market's condition id and token ids (in order); a record
        that is not is rejected (`RecordMismatch` for its id, or counted as unrequested), so a
        position is never settled from another market's record. A batch that fails after its
        retries is reported as a problem of each of its ids; the other batches still count.
        """
        wanted = {m.market_id: m for m in markets}
        batches = [list(wanted)[i : i + batch_size] for i in range(0, len(wanted), batch_size)]
        tally = _ByIdTally()
        async with asyncio.TaskGroup() as group:
            for batch in batches:
                group.create_task(self._fetch_batch(batch, wanted, tally))
        return MarketsById(tally.found, tally.problems, tally.requests, tally.unrequested)

    async def _fetch_batch(
        self, batch: list[str], wanted: Mapping[str, Market], tally: _ByIdTally
    ) -> None:
        remaining = list(batch)
        foreign: set[str | None] = set()
        for closed in ("false", "true"):
            if not remaining:
                break
            params: dict[str, str | Sequence[str]] = {"closed": closed, "id": remaining}
            try:
                async for items in self._pages("/markets/keyset", "markets", params):
                    tally.requests += 1
                    for raw in items[: replied_items_cap(len(remaining))]:
                        foreign.update(self._match_record(raw, set(batch), wanted, tally))
            except FetchError as exc:
                for market_id in remaining:
                    tally.problems.setdefault(market_id, f"fetch failed: {exc}")
                return
            remaining = [i for i in remaining if i not in tally.found and i not in tally.problems]
        if foreign:
            # a reply that carries other markets' records may have put them in place of ours:
            # what it did not return is unknown, not absent
            for market_id in remaining:
                tally.problems[market_id] = (
                    f"record_mismatch: not returned, and the reply carried market(s) not asked"
                    f" for: {sorted(str(i) for i in foreign)[:3]}"
                )

    def _match_record(
        self, raw: object, asked: set[str], wanted: Mapping[str, Market], tally: _ByIdTally
    ) -> set[str | None]:
        """Check one record against the markets asked for; returns the unrequested id if any."""
        raw_id = _raw_id(raw)
        if raw_id is None or raw_id not in asked:
            tally.unrequested += 1
            log.warning("record_mismatch", path="/markets/keyset", id=raw_id, reason="unrequested")
            return {raw_id}
        if raw_id in tally.found or raw_id in tally.problems:
            return set()  # the first record of an id decides
        stored = wanted[raw_id]
        try:
            check_item(raw, self._max_item_bytes)
            market = parse_market(raw, None)
            problem = market_mismatch(market, raw_id, stored.condition_id, stored.token_ids)
            if problem:
                raise RecordMismatch(f"GET /markets/keyset: {problem}")
        except ItemError as exc:
            tally.problems[raw_id] = str(exc)
            return set()
        tally.found[raw_id] = market
        return set()

    def _parse_event_item(
        self, raw: object, skipped: Counter[str], problems: ItemProblems
    ) -> Event:
        # An event is large mostly through its markets, which are capped one by one inside it.
        check_item(raw, self._max_item_bytes, skip_key="markets")
        event, child_skips = _parse_event(raw, self._max_item_bytes, problems)
        skipped.update(child_skips)
        return event

    def _parse_market_item(
        self, raw: object, skipped: Counter[str], problems: ItemProblems
    ) -> Market:
        check_item(raw, self._max_item_bytes)
        return parse_market(raw, None)

    async def _collect(
        self,
        path: str,
        key: str,
        params: QueryParams,
        parse: Callable[[object, Counter[str], ItemProblems], T],
        *,
        on_page: OnPage | None = None,
    ) -> _Collected:
        """Page through a keyset endpoint, de-duplicating by id and validating item by item.

        With on_page each page's results go there instead of being collected.
        """
        kind = key.rstrip("s")
        collected = _Collected(parsed=[], raw=[], pages=0, skipped=Counter())
        seen_ids: set[str] = set()
        problems = _skips()
        async for items in self._pages(path, key, params):
            collected.pages += 1
            parsed: list[T] = []
            raw_kept: list[dict[str, Any]] = []
            for n, raw in enumerate(self._capped(path, collected.pages, items, collected.skipped)):
                if n % _YIELD_EVERY == 0:
                    # let the next page's request go out (and the loop breathe) while we parse
                    await asyncio.sleep(0)
                item_id = _raw_id(raw)
                if item_id is not None:
                    if item_id in seen_ids:
                        continue
                    seen_ids.add(item_id)
                try:
                    parsed.append(parse(raw, collected.skipped, problems))
                except ItemError as exc:
                    collected.skipped[exc.reason] += 1
                    problems.add(item_id, exc.reason, kind=kind)
                    if exc.reason in _NOT_BACKED_UP:
                        continue
                if isinstance(raw, dict):
                    raw_kept.append(raw)
            collected.items += len(parsed)
            if on_page is None:
                collected.parsed.extend(parsed)
                collected.raw.extend(raw_kept)
            else:
                await on_page(parsed, raw_kept)
        problems.summarize(path=path)
        return collected

    def _capped(self, path: str, page: int, items: list[Any], skipped: Counter[str]) -> list[Any]:
        """The page's items up to a bound: a page far beyond `limit` is not worth parsing."""
        cap = replied_items_cap(self._page_limit)
        if len(items) <= cap:
            return items
        skipped["excess_items"] += len(items) - cap
        log.warning("gamma_page_truncated", path=path, page=page, items=len(items), kept=cap)
        return items[:cap]

    async def _pages(self, path: str, key: str, params: QueryParams) -> AsyncIterator[list[Any]]:
        """Yield each page's item list; stops at the page without next_cursor.

        The next page is requested as soon as this one's cursor is known, so the server prepares
        it while the caller works on this one (keyset pages cannot be fetched in parallel).
        """
        reserved = _RESERVED_PARAMS.intersection(params)
        if reserved:
            raise ValueError(f"paging params are set by the client, not the caller: {reserved}")
        cursor: str | None = None
        seen_cursors: set[str] = set()
        pages = 0
        ahead: asyncio.Task[Any] | None = None
        try:
            while True:
                payload = await (ahead if ahead is not None else self._page(path, params, cursor))
                ahead = None
                pages += 1
                if not isinstance(payload, dict) or not isinstance(payload.get(key), list):
                    raise self._paging_error(path, f"page {pages} has no {key!r} list")
                next_cursor = self._next_cursor(path, payload, pages, cursor, seen_cursors)
                if next_cursor is not None:
                    seen_cursors.add(next_cursor)
                    cursor = next_cursor
                    ahead = asyncio.create_task(self._page(path, params, cursor))
                yield payload[key]
                if next_cursor is None:
                    return
        finally:
            if ahead is not None:  # the caller stopped early: drop the page fetched ahead
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)

    async def _page(self, path: str, params: QueryParams, cursor: str | None) -> Any:
        query: dict[str, str | Sequence[str]] = dict(params)
        query["limit"] = str(self._page_limit)
        if cursor is not None:
            # keyset honours only after_cursor; cursor= silently returns page 1 forever.
            query["after_cursor"] = cursor
        return await self._http.get_json(path, query)

    def _next_cursor(
        self, path: str, payload: dict[str, Any], pages: int, cursor: str | None, seen: set[str]
    ) -> str | None:
        """The cursor of the page after this one, None on the last page; PagingError if bad."""
        next_cursor = payload.get("next_cursor")
        if next_cursor is None or next_cursor == "":
            return None
        if not isinstance(next_cursor, str):
            raise self._paging_error(path, f"page {pages} has a non-string next_cursor")
        if next_cursor == cursor or next_cursor in seen:
            raise self._paging_error(
                path, f"next_cursor did not advance after page {pages} (repeated cursor)"
            )
        if pages >= self._max_pages:
            raise self._paging_error(
                path, f"more than max_pages={self._max_pages} pages (cursor still present)"
            )
        return next_cursor

    def _paging_error(self, path: str, reason: str) -> PagingError:
        http = self._http
        log.error("gamma_paging_failed", host=http.host, path=path, reason=reason)
        return PagingError(
            f"GET {http.base_url}{path} paging failed: {reason}",
            host=http.host,
            method="GET",
            path=path,
            status=None,
            attempts=1,
            transient=False,
        )


def market_mismatch(
    market: Market,
    market_id: str,
    condition_id: str | None = None,
    token_ids: Sequence[str] | None = None,
) -> str | None:
    """Why a fetched market is not the one asked for, or None when it is."""
    if market.market_id != market_id:
        return f"asked for market {market_id}, got market {market.market_id}"
    if condition_id and not same_id(market.condition_id, condition_id):
        return f"market {market_id}: condition id {market.condition_id!r} is not {condition_id!r}"
    if token_ids is not None and tuple(market.token_ids) != tuple(token_ids):
        return f"market {market_id}: token ids differ from the stored market's"
    return None
