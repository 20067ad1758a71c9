-- prescientd schema v3: several strategies, each with its own paper account (DESIGN.md §10).
-- Every row written before this migration is the default strategy's. No row, key or trade is
-- rewritten: the new `strategy` columns default to 'default', and the two tables whose uniqueness
-- becomes per strategy (signals, portfolio_snapshots) are rebuilt with the very same rows and
-- ids, their indexes and append-only triggers recreated. The runner applies this in one
-- transaction with foreign keys off (SQLite's table-rebuild procedure) and checks them before
-- committing.

ALTER TABLE trades ADD COLUMN strategy TEXT NOT NULL DEFAULT 'default';
ALTER TABLE settlements ADD COLUMN strategy TEXT NOT NULL DEFAULT 'default';
ALTER TABLE cash_flows ADD COLUMN strategy TEXT NOT NULL DEFAULT 'default';
ALTER TABLE evaluations ADD COLUMN strategy TEXT NOT NULL DEFAULT 'default';
ALTER TABLE signal_sightings ADD COLUMN strategy TEXT NOT NULL DEFAULT 'default';
-- every key a decision depends on, for each active strategy (config.decision_inputs); '{}' for
-- versions recorded before this migration (their one strategy is in the `strategy` column)
ALTER TABLE config_versions ADD COLUMN decision_inputs TEXT NOT NULL DEFAULT '{}';

CREATE INDEX trades_by_strategy ON trades (strategy, seq);
CREATE INDEX settlements_by_strategy ON settlements (strategy, seq);
-- one deposit per strategy, made when it first appears
CREATE UNIQUE INDEX cash_flows_one_deposit ON cash_flows (strategy) WHERE kind = 'deposit';
-- the evaluations of one poll (one per active strategy)
CREATE INDEX evaluations_by_run ON evaluations (run_id);

-- ----------------------------------------------------------------------------------------------
-- signals: one row per distinct verdict per strategy per local day
CREATE TABLE signals_v3 (
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
    strategy        TEXT    NOT NULL DEFAULT 'default',
    UNIQUE (strategy, local_date, market_id, action, verdict, config_version)
) STRICT;
INSERT INTO signals_v3 (id, evaluation_id, evaluated_at, local_date, config_version, market_id,
    event_id, question, action, token_id, outcome, price_source, yes_price, threshold,
    confidence, stake_usd, liquidity_usd, status, skip_reason, verdict, reason, idempotency_key,
    strategy)
SELECT id, evaluation_id, evaluated_at, local_date, config_version, market_id, event_id,
    question, action, token_id, outcome, price_source, yes_price, threshold, confidence,
    stake_usd, liquidity_usd, status, skip_reason, verdict, reason, idempotency_key, 'default'
FROM signals ORDER BY id;
DROP TABLE signals;
ALTER TABLE signals_v3 RENAME TO signals;
CREATE INDEX signals_by_date ON signals (local_date);
CREATE TRIGGER signals_no_update BEFORE UPDATE ON signals BEGIN SELECT RAISE(ABORT, 'signals is append-only'); END;
CREATE TRIGGER signals_no_delete BEFORE DELETE ON signals BEGIN SELECT RAISE(ABORT, 'signals is append-only'); END;

-- ----------------------------------------------------------------------------------------------
-- portfolio_snapshots: one per strategy per local date
CREATE TABLE portfolio_snapshots_v3 (
    id                INTEGER PRIMARY KEY,
    local_date        TEXT    NOT NULL,
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
    settled_wins      INTEGER NOT NULL CHECK (settled_wins >= 0),
    strategy          TEXT    NOT NULL DEFAULT 'default',
    UNIQUE (strategy, local_date)
) STRICT;
INSERT INTO portfolio_snapshots_v3 (id, local_date, taken_at, cash, positions_value, equity,
    realized_pnl, unrealized_pnl, fees_paid, trade_count, open_positions, settled_positions,
    settled_wins, strategy)
SELECT id, local_date, taken_at, cash, positions_value, equity, realized_pnl, unrealized_pnl,
    fees_paid, trade_count, open_positions, settled_positions, settled_wins, 'default'
FROM portfolio_snapshots ORDER BY id;
DROP TABLE portfolio_snapshots;
ALTER TABLE portfolio_snapshots_v3 RENAME TO portfolio_snapshots;
CREATE TRIGGER portfolio_snapshots_no_update BEFORE UPDATE ON portfolio_snapshots BEGIN SELECT RAISE(ABORT, 'portfolio_snapshots is append-only'); END;
CREATE TRIGGER portfolio_snapshots_no_delete BEFORE DELETE ON portfolio_snapshots BEGIN SELECT RAISE(ABORT, 'portfolio_snapshots is append-only'); END;

-- ----------------------------------------------------------------------------------------------
-- Each strategy's running cash balance, kept by the trigger below in the transaction of every
-- cash flow, so the never-negative check reads one row instead of summing the whole ledger.
CREATE TABLE cash_balances (
    strategy TEXT    PRIMARY KEY,
    balance  INTEGER NOT NULL CHECK (balance >= 0)
) STRICT;
INSERT INTO cash_balances (strategy, balance)
SELECT strategy, SUM(amount) FROM cash_flows GROUP BY strategy;

-- Cash never goes negative, per strategy, whatever the code above it does.
DROP TRIGGER cash_flows_non_negative;
CREATE TRIGGER cash_flows_non_negative BEFORE INSERT ON cash_flows
WHEN COALESCE((SELECT balance FROM cash_balances WHERE strategy = NEW.strategy), 0) + NEW.amount < 0
BEGIN
    SELECT RAISE(ABORT, 'cash would go negative');
END;
CREATE TRIGGER cash_flows_balance AFTER INSERT ON cash_flows
BEGIN
    UPDATE cash_balances SET balance = balance + NEW.amount WHERE strategy = NEW.strategy;
    INSERT INTO cash_balances (strategy, balance) SELECT NEW.strategy, NEW.amount
    WHERE NOT EXISTS (SELECT 1 FROM cash_balances WHERE strategy = NEW.strategy);
END;
-- The balance is the sum of the flows: it changes only by the strategy's newest flow (what the
-- trigger above adds) and is never deleted.
CREATE INDEX cash_flows_by_strategy ON cash_flows (strategy, id);
CREATE TRIGGER cash_balances_follow_insert BEFORE INSERT ON cash_balances
WHEN NEW.balance IS NOT
    (SELECT amount FROM cash_flows WHERE strategy = NEW.strategy ORDER BY id DESC LIMIT 1)
BEGIN
    SELECT RAISE(ABORT, 'cash_balances follows cash_flows');
END;
CREATE TRIGGER cash_balances_follow_update BEFORE UPDATE ON cash_balances
WHEN NEW.strategy IS NOT OLD.strategy OR NEW.balance IS NOT OLD.balance +
    (SELECT amount FROM cash_flows WHERE strategy = NEW.strategy ORDER BY id DESC LIMIT 1)
BEGIN
    SELECT RAISE(ABORT, 'cash_balances follows cash_flows');
END;
CREATE TRIGGER cash_balances_no_delete BEFORE DELETE ON cash_balances BEGIN SELECT RAISE(ABORT, 'cash_balances follows cash_flows'); END;
