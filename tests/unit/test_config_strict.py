"""Strict config types, safe reading of the file, and reloads that must not reset everything."""

from __future__ import annotations

import asyncio
import os
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from prescientd.clock import SystemClock
from prescientd.config import ConfigError, load_config, parse_config
from prescientd.daemon import Daemon
from prescientd.notify import Notifier

SHIPPED = Path(__file__).parents[2] / "config"

# a running config that differs from the defaults in many keys (as a tuned installation does)
TUNED = """
timezone = "Europe/London"
[schedule]
poll_interval_s = 1
[filters]
min_liquidity_usd = 10
max_markets = 20
[strategy]
threshold = 0.6
max_open_positions = 100000
stake_usd = 5
[mirrors]
debounce_s = 0.1
"""


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[schedule]\npoll_interval_s = "10"', "schedule.poll_interval_s"),
        ('[strategy]\nmax_open_positions = "10"', "strategy.max_open_positions"),
        ('[mirrors]\nraw_events_backup = "no"', "mirrors.raw_events_backup"),
        ('[logging]\nfile = "yes"', "logging.file"),
        ("[strategy]\nmax_open_positions = 10.0", "strategy.max_open_positions"),
        ("[strategy]\nstake_usd = true", "strategy.stake_usd"),
        ("[schedule]\nmorning = 09:00:00", "schedule.morning"),
    ],
)
def test_quoted_and_mistyped_values_are_errors(toml: str, key: str) -> None:
    """A wrong type is an error naming the key: "10" is not an integer, "no" not a boolean."""
    with pytest.raises(ConfigError) as info:
        parse_config(toml)
    assert info.value.key == key


def test_natural_toml_spellings_still_validate() -> None:
    """TOML integers for floats, floats/ints/strings for Decimals, strings for paths and enums."""
    cfg = parse_config(
        "[schedule]\npoll_interval_s = 300\n"
        '[strategy]\nthreshold = 0.55\nstake_usd = 100\nmax_spread = "0.10"\naction = "buy_yes"\n'
        '[paths]\ndb_path = "x/p.db"\n'
    )
    assert cfg.schedule.poll_interval_s == 300.0
    assert cfg.strategy.threshold == Decimal("0.55") and cfg.strategy.stake_usd == Decimal(100)
    assert cfg.strategy.max_spread == Decimal("0.10") and cfg.strategy.action == "buy_yes"
    assert cfg.paths.db_path == Path("x/p.db")
    for name in ("prescientd.toml", "demo.toml"):
        load_config(SHIPPED / name)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    """Reading a FIFO as the config returns an error at once instead of blocking."""
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    result: list[Any] = []
    reader = threading.Thread(target=lambda: result.append(_load_or_error(fifo)), daemon=True)
    reader.start()
    reader.join(5)
    blocked = reader.is_alive()
    if blocked:  # free the reader (the unfixed code waits in open() for a writer)
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(5)
    assert not blocked, "reading the FIFO blocked"
    assert isinstance(result[0], ConfigError) and "not a regular file" in str(result[0])


def _load_or_error(path: Path) -> object:
    try:
        return load_config(path)
    except ConfigError as exc:
        return exc


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    """A 2 MB "config" (comments) is refused by size before it is parsed."""
    big = tmp_path / "c.toml"
    big.write_text(("#" * 99 + "\n") * 20_000)
    with pytest.raises(ConfigError) as info:
        load_config(big)
    assert "bytes" in str(info.value)


# -- reloads ------------------------------------------------------------------------------------


class _Store:
    """Hands out config versions."""

    def __init__(self) -> None:
        self.version = 1

    async def record_config_version(self, **_: Any) -> int:
        self.version += 1
        return self.version


def _daemon(tmp_path: Path, text: str) -> tuple[Daemon, Path]:
    path = tmp_path / "c.toml"
    path.write_text(text)
    daemon = Daemon(
        path,
        load_config(path).resolve_paths(tmp_path),
        clock=SystemClock(),
        notifier=Notifier("", ""),
        base_dir=tmp_path,
    )
    daemon.config_version = 1
    daemon._store = _Store()  # type: ignore[assignment]
    return daemon, path


@pytest.mark.parametrize(
    "new_text",
    [
        "",
        "# every line commented out\n# [strategy]\n",
        "[strategy]\nthreshold = 0.7\n",  # sections dropped: a truncated file
    ],
)
async def test_a_reload_that_would_reset_sections_is_rejected(
    tmp_path: Path, new_text: str
) -> None:
    """An empty, comment-only or truncated file on reload keeps the running config."""
    daemon, path = _daemon(tmp_path, TUNED)
    path.write_text(new_text)
    assert await daemon.reload() is False
    assert daemon.config_version == 1 and daemon.config.schedule.poll_interval_s == 1
    assert daemon.config.strategy.max_open_positions == 100000
    assert list(daemon.notifier.sent)[-1].startswith("READY=1\nSTATUS=reload rejected")


async def test_a_complete_file_may_change_many_keys(tmp_path: Path) -> None:
    """Many changes at once are applied when the file spells out every section."""
    daemon, path = _daemon(tmp_path, TUNED)
    path.write_text((SHIPPED / "prescientd.toml").read_text())
    assert await daemon.reload() is True
    assert daemon.config.schedule.poll_interval_s == 300 and daemon.config_version == 2


async def test_a_partial_file_may_change_a_few_keys(tmp_path: Path) -> None:
    """The usual edit (same sections, one value changed) still applies."""
    daemon, path = _daemon(tmp_path, TUNED)
    path.write_text(TUNED.replace("threshold = 0.6", "threshold = 0.65"))
    assert await daemon.reload() is True
    assert daemon.config.strategy.threshold == Decimal("0.65")


async def test_reload_reads_the_file_off_the_event_loop(tmp_path: Path) -> None:
    """A FIFO put in place of the config is rejected while the loop keeps running."""
    daemon, path = _daemon(tmp_path, TUNED)
    path.unlink()
    os.mkfifo(path)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    # the unfixed daemon blocks the whole loop in open(): a writer thread frees it after 3 s
    unblock = threading.Timer(3, lambda: os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK)))
    unblock.start()
    task = asyncio.create_task(ticker())
    try:
        assert await daemon.reload() is False
    finally:
        task.cancel()
        freed_by_writer = not unblock.is_alive()
        unblock.cancel()
    assert not freed_by_writer, "the reload waited for a writer of the FIFO"
    assert daemon.config_version == 1
