-- prescientd schema v6: a token's daily bars in date order (the report's calibration reads the
-- YES token's bars of every resolved market: its first price and each evening's close). The
-- primary key (local_date, token_key) serves one day's bars; this index serves one token's.
CREATE INDEX price_bars_by_token ON price_bars (token_key, local_date);
