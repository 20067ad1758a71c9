"""Built-in Polymarket simulator: Gamma + CLOB over real HTTP on 127.0.0.1 (tests, bench, demo).

What is simulated. A deterministic universe (`generate_universe(seed, n_events, now)`) of events and
their child markets, each labelled with its ground truth (`MarketKind`: open, other_outcomes,
neg_risk, neg_risk_placeholder, resolved, proposed, closed_accepting, expired, no_orderbook,
multi_outcome, inactive). One aiohttp app (`build_app`) answers both hosts, so a daemon is
configured with gamma_url = clob_url = the simulator URL:

- Gamma `GET /events/keyset`, `GET /markets/keyset` (cursor paging), `GET /events/{id}`,
  `GET /markets/{id}`, `/events/slug/{slug}`, `/markets/slug/{slug}`;
- CLOB `POST /books`, `GET /book`, `GET /markets/{conditionId}` (the `0x` prefix selects CLOB);
- the WebSocket market channel `GET /ws/market` (sim/stream.py: recorded frame shapes, deltas that
  rebuild the REST books exactly, WebSocket faults);
- controls under `/_sim/` (resolve, propose, move a price, faults, request log, channel counters,
  ground truth), also callable in-process as `SimState` methods.

Prices move: the YES fair price is a pure function of (market, floor(clock() / price_step_s)), books
sit around it and the NO book is the exact mirror (NO bids = 1 - YES asks). Books are cached per
step.

Quirks reproduced from recorded payloads (objects are rendered by overriding copies of them, see
`templates.json`): `outcomes`/`outcomePrices`/`clobTokenIds`/`umaResolutionStatuses` are
JSON-encoded strings; market `volume`/`liquidity` are strings while event ones are numbers;
`volumeNum`, `bestBid` ... are numbers that flip int/float and are omitted when absent (no
`liquidity*` on closed markets, `bestBid` missing on some resolved ones); token ids are 76-78 digit
decimal strings; `feeSchedule` is an object, null or absent; `umaResolutionStatus` is absent until a
proposal; market `closedTime` is postgres-style while event `closedTime` is ISO; `active` stays true
on resolved markets; events embed ALL child markets (closed and placeholder ones too); `next_cursor`
is omitted on the last keyset page, `cursor=`/`next_cursor=` are ignored and `offset` is a 422;
`limit` is clamped to 100; POST /books caps at 500 items, silently drops unknown/closed/proposed
tokens and answers in its own order; book levels are bids ascending and asks descending (best LAST);
`last_trade_price` is market-level; `timestamp` is an epoch-ms string and `hash` 40 hex chars that
changes exactly when the book does.

Assumptions (not recorded live): the events keyset `$schema` URL, 404 bodies of Gamma single objects
and CLOB markets, the shape of a 50-50 resolution (outcomePrices ["0.5","0.5"], CLOB
is_50_50_outcome true, no winner), neg-risk placeholders showing outcomePrices ["0","0"], feeType
names for economics/culture, `/events/keyset` applying no `closed` filter when it is absent, and
`/markets/keyset` listing open markets only unless `closed=true` is asked for (the documented
default of `GET /markets` since 2026-04-09, applied to its keyset form: a client looking up
resolved markets by id must ask for closed ones explicitly).
"""

from prescientd.sim.app import (
    MALFORMED_BOOK_COUNT,
    MALFORMED_EVENT_COUNT,
    MAX_BOOKS_PER_REQUEST,
    STATE_KEY,
    build_app,
    malformed_events,
)
from prescientd.sim.books import PriceParams, Quote, quote_at
from prescientd.sim.server import (
    RunningSim,
    build_state,
    ensure_loopback,
    main,
    running_simulator,
    serving,
)
from prescientd.sim.state import (
    FAULT_NAMES,
    Faults,
    FaultSwitch,
    RequestRecord,
    SimError,
    SimState,
)
from prescientd.sim.universe import (
    TAGS,
    MarketKind,
    SimEvent,
    SimFeeSchedule,
    SimMarket,
    SimTag,
    Universe,
    generate_universe,
    render_clob_market,
    render_event,
    render_market,
)

__all__ = [
    "FAULT_NAMES",
    "MALFORMED_BOOK_COUNT",
    "MALFORMED_EVENT_COUNT",
    "MAX_BOOKS_PER_REQUEST",
    "STATE_KEY",
    "TAGS",
    "FaultSwitch",
    "Faults",
    "MarketKind",
    "PriceParams",
    "Quote",
    "RequestRecord",
    "RunningSim",
    "SimError",
    "SimEvent",
    "SimFeeSchedule",
    "SimMarket",
    "SimState",
    "SimTag",
    "Universe",
    "build_app",
    "build_state",
    "ensure_loopback",
    "generate_universe",
    "main",
    "malformed_events",
    "quote_at",
    "render_clob_market",
    "render_event",
    "render_market",
    "running_simulator",
    "serving",
]
