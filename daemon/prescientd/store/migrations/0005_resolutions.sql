-- Every resolution prescientd learned of a tracked market (held or not): from a settlement check
-- of a held market, or from the evening's check of recently tracked unheld markets. Append-only.
CREATE TABLE market_resolutions (
    id           INTEGER PRIMARY KEY,
    market_id    TEXT    NOT NULL UNIQUE,
    condition_id TEXT    NOT NULL,
    learned_at   TEXT    NOT NULL,                 -- clock.iso_utc of when prescientd learned it
    payouts      TEXT    NOT NULL,                 -- JSON object {token_id: payout per share, decimal string}
    resolution   TEXT    NOT NULL,                 -- ledger.ResolutionCheck.reason-free label: 'yes', 'no', '50-50' (as the settlement's `resolution` field spells it)
    source       TEXT    NOT NULL CHECK (source IN ('settlement', 'evening'))
) STRICT;
CREATE INDEX market_resolutions_by_time ON market_resolutions (learned_at);
CREATE TRIGGER market_resolutions_no_update BEFORE UPDATE ON market_resolutions BEGIN SELECT RAISE(ABORT, 'market_resolutions is append-only'); END;
CREATE TRIGGER market_resolutions_no_delete BEFORE DELETE ON market_resolutions BEGIN SELECT RAISE(ABORT, 'market_resolutions is append-only'); END;
