-- prescientd schema v4: price history that costs what changed, with retention.
--
-- * price_tokens: an integer key per token id (token ids are 77 characters; history rows carry
--   the key). Insert-only.
-- * quote_status: the current quote of every token, keyed by token_key, rewritten only when its
--   content, status or liveness changes. `live` = the token was requested by the latest poll:
--   a live row with status 'ok' was fetched (again) by that poll, so its effective fetched_at is
--   the latest poll's (store/prices.py); any other row's fetched_at is its last successful fetch.
-- * price_bars: one row per (local date, token), kept up to date by every poll of that day (only
--   the tokens whose prices changed are touched). Kept for ever: they are what daily_prices files,
--   charts and analytics read once the snapshots are gone.
-- * Snapshots (a row per price change) now live in one table per local day,
--   price_snapshots_YYYYMMDD, created by the first poll of that day, append-only by trigger, and
--   dropped whole by the retention job once older than [record] keep_days (store/retention.py:
--   the only code that removes price history; a DROP TABLE never touches the ledger tables).
-- * The v1 price_snapshots table is kept read-only as the legacy partition: its days are
--   collapsed into price_bars at start-up (the timezone is needed) and it is dropped whole by the
--   retention job once its newest day is older than keep_days.
-- * raw_payloads: the morning's raw Gamma payload as a zlib stream in ~1 MB chunks, with the
--   sha256 and size of the uncompressed JSON (the mirror is rewritten only when that changes).

CREATE TABLE price_tokens (
    token_key INTEGER PRIMARY KEY,
    token_id  TEXT NOT NULL UNIQUE
) STRICT;
CREATE TRIGGER price_tokens_no_update BEFORE UPDATE ON price_tokens BEGIN SELECT RAISE(ABORT, 'price_tokens is insert-only'); END;
CREATE TRIGGER price_tokens_no_delete BEFORE DELETE ON price_tokens BEGIN SELECT RAISE(ABORT, 'price_tokens is insert-only'); END;

INSERT INTO price_tokens (token_id) SELECT token_id FROM quote_status ORDER BY token_id;
INSERT INTO price_tokens (token_id)
    SELECT DISTINCT token_id FROM price_snapshots
    WHERE token_id NOT IN (SELECT token_id FROM price_tokens) ORDER BY token_id;

CREATE TABLE quote_status_v3 (
    token_key         INTEGER PRIMARY KEY REFERENCES price_tokens (token_key),
    fetched_at        TEXT    NOT NULL,
    live              INTEGER NOT NULL CHECK (live IN (0, 1)),
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
INSERT INTO quote_status_v3
    SELECT t.token_key, q.fetched_at, 0, q.status, q.status_at, q.book_ts_ms, q.book_hash,
           q.best_bid, q.best_ask, q.mid, q.spread, q.display, q.last_trade, q.bid_depth_shares,
           q.bid_depth_usd, q.ask_depth_shares, q.ask_depth_usd, q.tick_size, q.min_order_size
    FROM quote_status q JOIN price_tokens t ON t.token_id = q.token_id;
DROP TABLE quote_status;
ALTER TABLE quote_status_v3 RENAME TO quote_status;

CREATE TABLE price_bars (
    local_date    TEXT    NOT NULL,
    token_key     INTEGER NOT NULL REFERENCES price_tokens (token_key),
    mid_open      INTEGER,
    mid_high      INTEGER,
    mid_low       INTEGER,
    mid_close     INTEGER,
    display_open  INTEGER,
    display_high  INTEGER,
    display_low   INTEGER,
    display_close INTEGER,
    last_bid      INTEGER,
    last_ask      INTEGER,
    snapshots     INTEGER NOT NULL CHECK (snapshots >= 0),
    PRIMARY KEY (local_date, token_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE raw_payloads_v3 (
    kind       TEXT PRIMARY KEY,
    refresh_id INTEGER NOT NULL REFERENCES refreshes (id),
    fetched_at TEXT    NOT NULL,
    raw_bytes  INTEGER NOT NULL CHECK (raw_bytes >= 0),
    sha256     TEXT    NOT NULL,
    chunks     INTEGER NOT NULL CHECK (chunks >= 0)
) STRICT;
-- a payload's chunks; 'staging:<kind>' holds a morning's chunks until its refresh is committed
CREATE TABLE raw_payload_chunks (
    kind TEXT    NOT NULL,
    seq  INTEGER NOT NULL CHECK (seq >= 0),
    data BLOB    NOT NULL,
    PRIMARY KEY (kind, seq)
) STRICT;
INSERT INTO raw_payload_chunks (kind, seq, data) SELECT kind, 0, body_zlib FROM raw_payloads;
-- the digest of a v1 payload is unknown: '' never equals a file's digest, so it is written once
INSERT INTO raw_payloads_v3 (kind, refresh_id, fetched_at, raw_bytes, sha256, chunks)
    SELECT kind, refresh_id, fetched_at, 0, '', 1 FROM raw_payloads;
DROP TABLE raw_payloads;
ALTER TABLE raw_payloads_v3 RENAME TO raw_payloads;
