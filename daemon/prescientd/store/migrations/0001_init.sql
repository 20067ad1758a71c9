-- prescientd schema v1.
-- Money, prices and share counts are INTEGER micro-units (1e-6). Timestamps are ISO-8601 UTC text.
-- Ledger tables are STRICT and append-only (triggers below); "current state" is a query over them.
-- Reference tables (events, markets, market_tokens, quote_status, raw_payloads, meta) hold the latest
-- known state of outside objects and may be updated.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- ----------------------------------------------------------------------------------------------
-- Ledger: job runs and config versions
CREATE TABLE job_runs (
    id             INTEGER PRIMARY KEY,
    run_id         TEXT    NOT NULL UNIQUE,
    job            TEXT    NOT NULL,
    local_date     TEXT    NOT NULL,
    started_at     TEXT    NOT NULL,
    finished_at    TEXT    NOT NULL,
    outcome        TEXT    NOT NULL CHECK (outcome IN ('ok', 'failed')),
    config_version INTEGER NOT NULL,
    counts         TEXT    NOT NULL DEFAULT '{}',
    error          TEXT
) STRICT;
CREATE INDEX job_runs_by_job ON job_runs (job, local_date, outcome);

CREATE TABLE config_versions (
    version      INTEGER PRIMARY KEY,
    loaded_at    TEXT    NOT NULL,
    sha256       TEXT    NOT NULL,
    source       TEXT    NOT NULL CHECK (source IN ('start', 'reload')),
    changed_keys TEXT    NOT NULL DEFAULT '[]',
    strategy     TEXT    NOT NULL
) STRICT;

-- ----------------------------------------------------------------------------------------------
-- Morning refresh: a ledger of refreshes plus the reference data they produced
CREATE TABLE refreshes (
    id               INTEGER PRIMARY KEY,
    run_id           TEXT    NOT NULL,
    fetched_at       TEXT    NOT NULL,
    pages            INTEGER NOT NULL CHECK (pages >= 0),
    events_received  INTEGER NOT NULL CHECK (events_received >= 0),
    events_eligible  INTEGER NOT NULL CHECK (events_eligible >= 0),
    markets_eligible INTEGER NOT NULL CHECK (markets_eligible >= 0),
    items_skipped    INTEGER NOT NULL CHECK (items_skipped >= 0),
    rejections       TEXT    NOT NULL DEFAULT '{}'
) STRICT;

CREATE TABLE events (
    event_id            TEXT PRIMARY KEY,
    data                TEXT    NOT NULL,
    last_refresh_id     INTEGER NOT NULL REFERENCES refreshes (id),
    eligible_refresh_id INTEGER REFERENCES refreshes (id)
) STRICT;
CREATE INDEX events_by_eligible ON events (eligible_refresh_id);

CREATE TABLE markets (
    market_id           TEXT PRIMARY KEY,
    event_id            TEXT    NOT NULL,
    condition_id        TEXT    NOT NULL,
    data                TEXT    NOT NULL,
    last_refresh_id     INTEGER REFERENCES refreshes (id),
    eligible_refresh_id INTEGER REFERENCES refreshes (id),
    updated_at          TEXT    NOT NULL
) STRICT;
CREATE INDEX markets_by_eligible ON markets (eligible_refresh_id);

CREATE TABLE market_tokens (
    token_id      TEXT PRIMARY KEY,
    market_id     TEXT    NOT NULL REFERENCES markets (market_id),
    outcome_index INTEGER NOT NULL CHECK (outcome_index >= 0)
) STRICT;
CREATE INDEX market_tokens_by_market ON market_tokens (market_id);

CREATE TABLE raw_payloads (
    kind       TEXT PRIMARY KEY,
    refresh_id INTEGER NOT NULL REFERENCES refreshes (id),
    fetched_at TEXT    NOT NULL,
    body_zlib  BLOB    NOT NULL
) STRICT;

-- ----------------------------------------------------------------------------------------------
-- Prices: append-only snapshots, a row only when a token's prices (best bid/ask, last trade,
-- display) change, so history stays small however often books are polled.
CREATE TABLE price_snapshots (
    id                INTEGER PRIMARY KEY,
    token_id          TEXT    NOT NULL,
    fetched_at        TEXT    NOT NULL,
    book_ts_ms        INTEGER NOT NULL,
    book_hash         TEXT    NOT NULL,
    best_bid          INTEGER CHECK (best_bid BETWEEN 0 AND 1000000),
    best_ask          INTEGER CHECK (best_ask BETWEEN 0 AND 1000000),
    mid               INTEGER CHECK (mid BETWEEN 0 AND 1000000),
    spread            INTEGER CHECK (spread BETWEEN -1000000 AND 1000000),
    display           INTEGER CHECK (display BETWEEN 0 AND 1000000),
    last_trade        INTEGER CHECK (last_trade BETWEEN 0 AND 1000000),
    bid_depth_shares  INTEGER NOT NULL CHECK (bid_depth_shares >= 0),
    bid_depth_usd     INTEGER NOT NULL CHECK (bid_depth_usd >= 0),
    ask_depth_shares  INTEGER NOT NULL CHECK (ask_depth_shares >= 0),
    ask_depth_usd     INTEGER NOT NULL CHECK (ask_depth_usd >= 0),
    tick_size         INTEGER CHECK (tick_size BETWEEN 0 AND 1000000),
    min_order_size    INTEGER CHECK (min_order_size >= 0)
) STRICT;
CREATE INDEX price_snapshots_by_token ON price_snapshots (token_id, id);
CREATE INDEX price_snapshots_by_time ON price_snapshots (fetched_at);

-- The latest fetched quote of every token (current state, overwritten each poll).
CREATE TABLE quote_status (
    token_id          TEXT PRIMARY KEY,
    snapshot_id       INTEGER NOT NULL REFERENCES price_snapshots (id),
    fetched_at        TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('ok', 'missing', 'rejected')),
    status_at         TEXT    NOT NULL,
    book_ts_ms        INTEGER NOT NULL,
    book_hash         TEXT    NOT NULL,
    best_bid          INTEGER CHECK (best_bid BETWEEN 0 AND 1000000),
    best_ask          INTEGER CHECK (best_ask BETWEEN 0 AND 1000000),
    mid               INTEGER CHECK (mid BETWEEN 0 AND 1000000),
    spread            INTEGER CHECK (spread BETWEEN -1000000 AND 1000000),
    display           INTEGER CHECK (display BETWEEN 0 AND 1000000),
    last_trade        INTEGER CHECK (last_trade BETWEEN 0 AND 1000000),
    bid_depth_shares  INTEGER NOT NULL CHECK (bid_depth_shares >= 0),
    bid_depth_usd     INTEGER NOT NULL CHECK (bid_depth_usd >= 0),
    ask_depth_shares  INTEGER NOT NULL CHECK (ask_depth_shares >= 0),
    ask_depth_usd     INTEGER NOT NULL CHECK (ask_depth_usd >= 0),
    tick_size         INTEGER CHECK (tick_size BETWEEN 0 AND 1000000),
    min_order_size    INTEGER CHECK (min_order_size >= 0)
) STRICT;

CREATE TABLE polls (
    id            INTEGER PRIMARY KEY,
    run_id        TEXT    NOT NULL,
    fetched_at    TEXT    NOT NULL,
    tokens        INTEGER NOT NULL CHECK (tokens >= 0),
    books         INTEGER NOT NULL CHECK (books >= 0),
    missing       INTEGER NOT NULL CHECK (missing >= 0),
    rejected      INTEGER NOT NULL CHECK (rejected >= 0),
    snapshots     INTEGER NOT NULL CHECK (snapshots >= 0),
    requests      INTEGER NOT NULL CHECK (requests >= 0)
) STRICT;

-- ----------------------------------------------------------------------------------------------
-- Strategy: evaluations and the signals they produced
CREATE TABLE evaluations (
    id                 INTEGER PRIMARY KEY,
    run_id             TEXT    NOT NULL,
    evaluated_at       TEXT    NOT NULL,
    local_date         TEXT    NOT NULL,
    config_version     INTEGER NOT NULL,
    markets_considered INTEGER NOT NULL CHECK (markets_considered >= 0),
    signals            INTEGER NOT NULL CHECK (signals >= 0),
    actionable         INTEGER NOT NULL CHECK (actionable >= 0)
) STRICT;

-- One row per distinct verdict per local day: (date, market, action, verdict, config version).
-- A market above the threshold signals at every poll; repeats of the same verdict the same day
-- are counted in signal_sightings instead of appended again.
CREATE TABLE signals (
    id              INTEGER PRIMARY KEY,
    evaluation_id   INTEGER NOT NULL REFERENCES evaluations (id),
    evaluated_at    TEXT    NOT NULL,
    local_date      TEXT    NOT NULL,
    config_version  INTEGER NOT NULL,
    market_id       TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    question        TEXT    NOT NULL,
    action          TEXT    NOT NULL CHECK (action IN ('buy_no', 'buy_yes')),
    token_id        TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    price_source    TEXT    NOT NULL,
    yes_price       INTEGER NOT NULL CHECK (yes_price BETWEEN 0 AND 1000000),
    threshold       INTEGER NOT NULL CHECK (threshold BETWEEN 0 AND 1000000),
    confidence      INTEGER NOT NULL CHECK (confidence BETWEEN -1000000 AND 1000000),
    stake_usd       INTEGER NOT NULL CHECK (stake_usd >= 0),
    liquidity_usd   INTEGER NOT NULL CHECK (liquidity_usd >= 0),
    status          TEXT    NOT NULL CHECK (status IN ('actionable', 'skipped')),
    skip_reason     TEXT,
    verdict         TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    UNIQUE (local_date, market_id, action, verdict, config_version)
) STRICT;
CREATE INDEX signals_by_date ON signals (local_date);

-- Current state of each signal row: its latest sighting (overwritten each evaluation).
CREATE TABLE signal_sightings (
    signal_id          INTEGER PRIMARY KEY REFERENCES signals (id),
    last_evaluation_id INTEGER NOT NULL REFERENCES evaluations (id),
    last_at            TEXT    NOT NULL,
    evaluations        INTEGER NOT NULL CHECK (evaluations >= 1),
    last_yes_price     INTEGER NOT NULL CHECK (last_yes_price BETWEEN 0 AND 1000000),
    min_yes_price      INTEGER NOT NULL CHECK (min_yes_price BETWEEN 0 AND 1000000),
    max_yes_price      INTEGER NOT NULL CHECK (max_yes_price BETWEEN 0 AND 1000000),
    last_confidence    INTEGER NOT NULL CHECK (last_confidence BETWEEN -1000000 AND 1000000),
    last_liquidity_usd INTEGER NOT NULL CHECK (last_liquidity_usd >= 0),
    last_reason        TEXT    NOT NULL,
    last_key           TEXT    NOT NULL
) STRICT;
CREATE INDEX signal_sightings_by_evaluation ON signal_sightings (last_evaluation_id);

-- ----------------------------------------------------------------------------------------------
-- Paper ledger: trades, settlements and every cash movement. `seq` orders trades and settlements
-- together; the idempotency key makes a replayed decision a no-op.
CREATE TABLE trades (
    id              INTEGER PRIMARY KEY,
    seq             INTEGER NOT NULL UNIQUE CHECK (seq > 0),
    idempotency_key TEXT    NOT NULL UNIQUE,
    signal_id       INTEGER REFERENCES signals (id),
    executed_at     TEXT    NOT NULL,
    market_id       TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    token_id        TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    question        TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    shares          INTEGER NOT NULL CHECK (shares > 0),
    notional        INTEGER NOT NULL CHECK (notional >= 0),
    fee             INTEGER NOT NULL CHECK (fee >= 0),
    levels          TEXT    NOT NULL,
    reason          TEXT    NOT NULL
) STRICT;
CREATE INDEX trades_by_market ON trades (market_id);

CREATE TABLE settlements (
    id               INTEGER PRIMARY KEY,
    seq              INTEGER NOT NULL UNIQUE CHECK (seq > 0),
    idempotency_key  TEXT    NOT NULL UNIQUE,
    settled_at       TEXT    NOT NULL,
    market_id        TEXT    NOT NULL,
    token_id         TEXT    NOT NULL,
    outcome          TEXT    NOT NULL,
    shares           INTEGER NOT NULL CHECK (shares > 0),
    payout_per_share INTEGER NOT NULL CHECK (payout_per_share BETWEEN 0 AND 1000000),
    payout           INTEGER NOT NULL CHECK (payout >= 0),
    cost_basis       INTEGER NOT NULL CHECK (cost_basis >= 0),
    realized_pnl     INTEGER NOT NULL,
    resolution       TEXT    NOT NULL
) STRICT;

CREATE TABLE cash_flows (
    id            INTEGER PRIMARY KEY,
    at            TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('deposit', 'trade', 'settlement')),
    amount        INTEGER NOT NULL,
    trade_id      INTEGER UNIQUE REFERENCES trades (id),
    settlement_id INTEGER UNIQUE REFERENCES settlements (id),
    CHECK ((kind = 'trade') = (trade_id IS NOT NULL)),
    CHECK ((kind = 'settlement') = (settlement_id IS NOT NULL))
) STRICT;

-- Cash never goes negative, whatever the code above it does.
CREATE TRIGGER cash_flows_non_negative BEFORE INSERT ON cash_flows
WHEN (SELECT COALESCE(SUM(amount), 0) FROM cash_flows) + NEW.amount < 0
BEGIN
    SELECT RAISE(ABORT, 'cash would go negative');
END;

CREATE TABLE portfolio_snapshots (
    id                INTEGER PRIMARY KEY,
    local_date        TEXT    NOT NULL UNIQUE,
    taken_at          TEXT    NOT NULL,
    cash              INTEGER NOT NULL,
    positions_value   INTEGER NOT NULL,
    equity            INTEGER NOT NULL,
    realized_pnl      INTEGER NOT NULL,
    unrealized_pnl    INTEGER NOT NULL,
    fees_paid         INTEGER NOT NULL CHECK (fees_paid >= 0),
    trade_count       INTEGER NOT NULL CHECK (trade_count >= 0),
    open_positions    INTEGER NOT NULL CHECK (open_positions >= 0),
    settled_positions INTEGER NOT NULL CHECK (settled_positions >= 0),
    settled_wins      INTEGER NOT NULL CHECK (settled_wins >= 0)
) STRICT;

-- ----------------------------------------------------------------------------------------------
-- Append-only enforcement. With recursive_triggers=ON, INSERT OR REPLACE fires the DELETE trigger.
CREATE TRIGGER job_runs_no_update BEFORE UPDATE ON job_runs BEGIN SELECT RAISE(ABORT, 'job_runs is append-only'); END;
CREATE TRIGGER job_runs_no_delete BEFORE DELETE ON job_runs BEGIN SELECT RAISE(ABORT, 'job_runs is append-only'); END;
CREATE TRIGGER config_versions_no_update BEFORE UPDATE ON config_versions BEGIN SELECT RAISE(ABORT, 'config_versions is append-only'); END;
CREATE TRIGGER config_versions_no_delete BEFORE DELETE ON config_versions BEGIN SELECT RAISE(ABORT, 'config_versions is append-only'); END;
CREATE TRIGGER refreshes_no_update BEFORE UPDATE ON refreshes BEGIN SELECT RAISE(ABORT, 'refreshes is append-only'); END;
CREATE TRIGGER refreshes_no_delete BEFORE DELETE ON refreshes BEGIN SELECT RAISE(ABORT, 'refreshes is append-only'); END;
CREATE TRIGGER price_snapshots_no_update BEFORE UPDATE ON price_snapshots BEGIN SELECT RAISE(ABORT, 'price_snapshots is append-only'); END;
CREATE TRIGGER price_snapshots_no_delete BEFORE DELETE ON price_snapshots BEGIN SELECT RAISE(ABORT, 'price_snapshots is append-only'); END;
CREATE TRIGGER polls_no_update BEFORE UPDATE ON polls BEGIN SELECT RAISE(ABORT, 'polls is append-only'); END;
CREATE TRIGGER polls_no_delete BEFORE DELETE ON polls BEGIN SELECT RAISE(ABORT, 'polls is append-only'); END;
CREATE TRIGGER evaluations_no_update BEFORE UPDATE ON evaluations BEGIN SELECT RAISE(ABORT, 'evaluations is append-only'); END;
CREATE TRIGGER evaluations_no_delete BEFORE DELETE ON evaluations BEGIN SELECT RAISE(ABORT, 'evaluations is append-only'); END;
CREATE TRIGGER signals_no_update BEFORE UPDATE ON signals BEGIN SELECT RAISE(ABORT, 'signals is append-only'); END;
CREATE TRIGGER signals_no_delete BEFORE DELETE ON signals BEGIN SELECT RAISE(ABORT, 'signals is append-only'); END;
CREATE TRIGGER trades_no_update BEFORE UPDATE ON trades BEGIN SELECT RAISE(ABORT, 'trades is append-only'); END;
CREATE TRIGGER trades_no_delete BEFORE DELETE ON trades BEGIN SELECT RAISE(ABORT, 'trades is append-only'); END;
CREATE TRIGGER settlements_no_update BEFORE UPDATE ON settlements BEGIN SELECT RAISE(ABORT, 'settlements is append-only'); END;
CREATE TRIGGER settlements_no_delete BEFORE DELETE ON settlements BEGIN SELECT RAISE(ABORT, 'settlements is append-only'); END;
CREATE TRIGGER cash_flows_no_update BEFORE UPDATE ON cash_flows BEGIN SELECT RAISE(ABORT, 'cash_flows is append-only'); END;
CREATE TRIGGER cash_flows_no_delete BEFORE DELETE ON cash_flows BEGIN SELECT RAISE(ABORT, 'cash_flows is append-only'); END;
CREATE TRIGGER portfolio_snapshots_no_update BEFORE UPDATE ON portfolio_snapshots BEGIN SELECT RAISE(ABORT, 'portfolio_snapshots is append-only'); END;
CREATE TRIGGER portfolio_snapshots_no_delete BEFORE DELETE ON portfolio_snapshots BEGIN SELECT RAISE(ABORT, 'portfolio_snapshots is append-only'); END;
