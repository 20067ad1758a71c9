"""Config loading: every kind of error names its key; reload keeps restart-only keys."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from prescientd.config import ConfigError, load_config, parse_config
from prescientd.reload import merge_reload

SHIPPED = Path(__file__).parents[2] / "config" / "prescientd.toml"


def test_shipped_config_is_valid_and_has_the_design_defaults() -> None:
    """config/prescientd.toml loads and carries DESIGN.md's required values."""
    cfg = load_config(SHIPPED)
    assert cfg.timezone == "America/New_York"
    assert cfg.schedule.morning == "09:00" and cfg.schedule.evening == "18:00"
    assert cfg.schedule.poll_interval_s == 300
    assert cfg.strategy.threshold == Decimal("0.50") and cfg.strategy.action == "buy_no"
    assert cfg.strategy.stake_usd == 100 and cfg.strategy.price_source == "display"
    assert cfg.paper.starting_balance_usd == 10000
    assert str(cfg.paths.db_path) == "data/prescient.db"
    assert cfg.strategy.max_open_positions == 0  # no cap: the brief's rule is limited by cash


@pytest.mark.parametrize(
    ("toml", "key", "fragment"),
    [
        ("[strategy]\nthreshhold = 0.5", "strategy.threshhold", "unknown key"),
        ("bogus = 1", "bogus", "unknown key"),
        ("[strategy]\nthreshold = 1.5", "strategy.threshold", "less than or equal to 1"),
        ("[strategy]\nstake_usd = 'lots'", "strategy.stake_usd", "decimal"),
        ("[strategy]\nstake_usd = nan", "strategy.stake_usd", "finite"),
        ("[strategy]\nstake_usd = inf", "strategy.stake_usd", "finite"),
        ("[strategy]\nstake_usd = -5", "strategy.stake_usd", "greater than 0"),
        ("[strategy]\naction = 'sell'", "strategy.action", "buy_no"),
        ("[strategy]\nprice_source = 'vwap'", "strategy.price_source", "display"),
        ("timezone = 'Mars/Olympus'", "timezone", "unknown timezone"),
        ("[schedule]\nmorning = '9:00'", "schedule.morning", "HH:MM"),
        ("[schedule]\nevening = '25:00'", "schedule.evening", "HH:MM"),
        ("[schedule]\npoll_interval_s = 0", "schedule.poll_interval_s", "greater than or equal"),
        ("[schedule]\npoll_interval_s = 'often'", "schedule.poll_interval_s", "number"),
        ("[polymarket]\ngamma_url = 'ftp://x'", "polymarket.gamma_url", "http"),
        ("[filters]\ninclude_tags = ['a']\nexclude_tags = ['a']", "filters", "both included"),
        ("[strategy]\nmin_price = 0.9\nmax_price = 0.1", "strategy", "min_price"),
        ("[paper]\nstarting_balance_usd = 0", "paper.starting_balance_usd", "greater than 0"),
        ("[strategy\nx=1", "(syntax)", "invalid TOML"),
        ("[report]\nbucket_width = 0.03", "report.bucket_width", "whole number"),
        ("[report]\nbucket_width = 0", "report.bucket_width", "whole number"),
        ("[report]\nlookback_days = 0", "report.lookback_days", "greater than or equal"),
        ("[report]\nmax_resolution_checks = -1", "report.max_resolution_checks", "greater"),
    ],
)
def test_each_kind_of_config_error_names_the_key(toml: str, key: str, fragment: str) -> None:
    """Unknown keys, wrong types, ranges, timezones, times and syntax errors name the key."""
    with pytest.raises(ConfigError) as info:
        parse_config(toml)
    assert info.value.key == key
    assert fragment.lower() in str(info.value).lower()


def test_check_config_cli_exit_codes(tmp_path: Path) -> None:
    """check-config exits 0 on a good file and 2 with one line naming the key on a bad one."""
    good = subprocess.run(
        [sys.executable, "-m", "prescientd", "check-config", str(SHIPPED)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text("[strategy]\nthreshold = 7\n")
    bad = subprocess.run(
        [sys.executable, "-m", "prescientd", "check-config", str(bad_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "strategy.threshold" in lines[0]


def test_reload_applies_strategy_but_ignores_restart_only_keys() -> None:
    """merge_reload takes new strategy values and keeps old paths/timezone, reporting both."""
    old = parse_config("")
    new = parse_config(
        "timezone = 'Europe/London'\n[paths]\ndb_path = 'other.db'\n[strategy]\nthreshold = 0.7\n"
    )
    reload = merge_reload(old, new)
    merged = reload.config
    assert merged.strategy.threshold == Decimal("0.7")
    assert merged.timezone == "America/New_York"
    assert merged.paths.db_path == old.paths.db_path
    assert reload.applied == {"strategy.threshold": (Decimal("0.5"), Decimal("0.7"))}
    assert list(reload.ignored) == ["paths.db_path", "timezone"]
    assert reload.ignored["timezone"] == ("America/New_York", "Europe/London")
