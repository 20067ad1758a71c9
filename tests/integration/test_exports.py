"""The real exports after real jobs on the simulator: CSVs, the workbook, what a flush costs."""

from __future__ import annotations

import json
import os
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from structlog.testing import capture_logs

from job_env import Env, job_env, read_csv
from prescientd.mirrors import arrays
from prescientd.mirrors.build import MirrorBuilder
from prescientd.mirrors.columns import EXPORTS, REPORT_EXPORTS, Export, Kind
from prescientd.mirrors.files import dumps_json
from prescientd.mirrors.workbook import NUMBER_FORMATS
from prescientd.status import collect_status

CSV_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def _csv_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _seconds(iso: str) -> str:
    """An ISO-8601 UTC instant as the CSVs spell it (to the second)."""
    return iso[:19].replace("T", " ")


def _json(data: Path, name: str) -> Any:
    return json.loads((data / name).read_text("utf-8"))


def _exports(data: Path) -> dict[str, list[dict[str, str]]]:
    return {e.name: read_csv(data / "exports" / e.filename) for e in EXPORTS}


async def _all_jobs(env: Env) -> None:
    for job in ("morning", "poll", "evening"):
        outcome = await env.run(job)
        assert outcome.ok, outcome.error


def _check_csv(export: Export, table: list[dict[str, str]], header: list[str]) -> None:
    """Header as declared (ids last), and every cell spelled for its kind. The one optional
    column, `strategy`, is carried by every ledger, signal, position and snapshot row, so a
    non-empty export has it too."""
    assert header == [c.name for c in export.columns if not c.optional or table]
    for column in export.columns:
        cells = [row[column.name] for row in table if row.get(column.name)]
        if column.kind is Kind.DATETIME:
            assert all(CSV_TIME.fullmatch(c) for c in cells), (export.name, column.name, cells[:3])
        elif column.kind in (Kind.USD, Kind.PRICE, Kind.PERCENT, Kind.SHARES):
            assert all(float(c) == float(c) for c in cells)  # plain numbers
            assert all(len(c.partition(".")[2]) <= 6 for c in cells)
        elif column.kind is Kind.BOOL:
            assert set(cells) <= {"true", "false"}


async def test_every_csv_opens_right_and_keeps_its_ids(tmp_path: Path) -> None:
    """Eight CSVs with a BOM, declared headers, UTC seconds, as-of columns and the JSON's ids."""
    async with job_env(tmp_path, n_events=300) as env:
        await _all_jobs(env)
        data = env.config.paths.data_dir
        tables = _exports(data)
        for export in EXPORTS:
            path = data / "exports" / export.filename
            header = path.read_text("utf-8-sig").splitlines()[0].split(",")
            _check_csv(export, tables[export.name], header)
            if export in REPORT_EXPORTS:  # filled by resolutions and time: test_report_jobs
                continue
            assert tables[export.name], f"{export.name} is empty after morning, poll and evening"
        markets = _json(data, "events/filtered_markets.json")
        id_keys = ("market_id", "event_id", "condition_id", "yes_token_id", "no_token_id")
        assert [tuple(r[k] for k in id_keys) for r in tables["markets_extracted"]] == [
            tuple(m[k] for k in id_keys) for m in markets
        ]
        portfolio = _json(data, "trades/portfolio.json")
        assert {r["token_id"] for r in tables["positions_current"]} == {
            p["token_id"] for p in portfolio["positions"]
        }
        trades = [e for e in _json(data, "trades/paper_trades.json") if e["kind"] == "trade"]
        assert [(r["trade_id"], r["token_id"]) for r in tables["trades_summary"]] == [
            (str(t["trade_id"]), t["token_id"]) for t in trades
        ]
        signals = _json(data, "trades/current_signals.json")["signals"]
        assert [r["token_id"] for r in tables["signals_current"]] == [
            s["token_id"] for s in signals
        ]
        refresh = await env.store.latest_refresh()
        assert refresh is not None
        morning = refresh.fetched_at.strftime("%Y-%m-%d %H:%M:%S")
        for name in ("events_filtered", "markets_extracted"):
            assert {r["as_of"] for r in tables[name]} == {morning}
        cache = _json(data, "markets/market_cache.json")
        for name in ("markets_current", "positions_current"):
            assert {r["as_of"] for r in tables[name]} == {_seconds(cache["generated_at"])}


async def test_positions_stale_is_what_status_says_at_that_moment(tmp_path: Path) -> None:
    """positions_current's `stale` equals `status` at its as-of time, fresh and after max age."""
    async with job_env(tmp_path, n_events=300, extra="[schedule]\nmax_price_age_s = 60") as env:
        for job in ("morning", "poll"):
            assert (await env.run(job)).ok
        data = env.config.paths.data_dir
        builder = MirrorBuilder(env.store, env.config)
        seen = []
        for later_s in (0, 600):
            at = datetime.now(UTC) + timedelta(seconds=later_s)
            assert await builder.write_portfolio(at, force=True)
            table = read_csv(data / "exports" / "positions_current.csv")
            assert table and {r["as_of"] for r in table} == {at.strftime("%Y-%m-%d %H:%M:%S")}
            status = await collect_status(env.config, at)
            flags = {p["token_id"]: p["stale"] for p in status["positions"]}
            assert {r["token_id"]: r["stale"] == "true" for r in table} == flags
            seen.append(set(flags.values()))
        assert seen == [{False}, {True}]  # the comparison saw both answers


async def test_workbook_holds_the_exports_typed(tmp_path: Path) -> None:
    """prescientd.xlsx: a sheet per CSV with its rows, ids as text, real times, formats, chart."""
    async with job_env(tmp_path, n_events=300) as env:
        await _all_jobs(env)
        data = env.config.paths.data_dir
        tables = _exports(data)
        book = openpyxl.load_workbook(data / "exports" / "prescientd.xlsx")
        assert book.sheetnames == ["README", "equity", *(e.name for e in EXPORTS)]
        assert len(book["equity"]._charts) == 1
        for export in EXPORTS:
            ws = book[export.name]
            header = [c.value for c in next(ws.iter_rows(min_row=1, max_row=1))]
            table = tables[export.name]
            columns = [c for c in export.columns if not c.optional or table]  # see _check_csv
            assert header == [c.workbook_header() for c in columns]
            assert ws.max_row == len(table) + 1
            for row, csv_row in zip(ws.iter_rows(min_row=2), table, strict=True):
                for cell, column in zip(row, columns, strict=True):
                    _check_cell(cell, column.kind, csv_row[column.name])


def _check_cell(cell: Any, kind: Kind, text: str) -> None:
    """A workbook cell holds the CSV's value, typed and formatted for its kind."""
    if text == "":
        assert cell.value is None
    elif kind is Kind.ID:
        assert isinstance(cell.value, str) and cell.value == text
    elif kind is Kind.DATETIME:  # the CSV has seconds, the workbook milliseconds
        assert isinstance(cell.value, datetime)
        late = cell.value - _csv_time(text).replace(tzinfo=None)
        assert timedelta(0) <= late <= timedelta(seconds=1, milliseconds=1)
    elif kind in (Kind.USD, Kind.PERCENT, Kind.PRICE):
        assert isinstance(cell.value, (int, float)) and abs(cell.value - float(text)) < 1e-9
        assert cell.number_format == NUMBER_FORMATS[kind]


async def test_a_poll_without_trades_rewrites_only_what_changed(tmp_path: Path) -> None:
    """No trade: ledger files untouched (same inode, mtime); prices rewritten; one log line."""
    async with job_env(tmp_path, n_events=300) as env:
        assert (await env.run("morning")).ok
        first = await env.run("poll")
        assert first.ok and first.counts["trades"] > 0
        data = env.config.paths.data_dir
        ledger = [data / "trades" / "paper_trades.json", data / "exports" / "trades_summary.csv"]
        cache = data / "markets" / "market_cache.json"
        before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in [*ledger, cache]}
        with capture_logs() as logs:
            second = await env.run("poll")
        assert second.ok and second.counts["trades"] == 0
        for path in ledger:
            assert (path.stat().st_ino, path.stat().st_mtime_ns) == before[path], path
        assert cache.stat().st_ino != before[cache][0]  # a new poll: new quotes
        (line,) = [e for e in logs if e["event"] == "mirrors_written"]
        assert "markets/market_cache.json" in line["files"]
        assert "trades/paper_trades.json" not in line["files"]
        assert "ledger" in line["unchanged"]
        assert line["bytes"] == sum(line["files"].values()) > 0
        assert line["file_count"] == len(line["files"]) and line["seconds"] >= 0
        for name, size in line["files"].items():
            assert (data / name).stat().st_size == size


async def test_new_ledger_entries_are_appended_byte_for_byte(tmp_path: Path) -> None:
    """A settlement appends to paper_trades.json; the file equals a full encode of its entries."""
    async with job_env(tmp_path, n_events=300) as env:
        assert (await env.run("morning")).ok
        assert (await env.run("poll")).ok
        path = env.config.paths.data_dir / "trades" / "paper_trades.json"
        old = path.read_bytes()
        held = json.loads(old)[0]
        env.sim.resolve(held["market_id"], "no")
        with capture_logs() as logs:
            third = await env.run("poll")
        assert third.ok and third.counts["settled"] == 1
        new = path.read_bytes()
        entries = json.loads(new)
        assert new.startswith(old[: -len(b"\n]\n")])
        assert new == dumps_json(entries)
        assert any(e["kind"] == "settlement" for e in entries[len(json.loads(old)) :])
        (line,) = [e for e in logs if e["event"] == "mirrors_written"]
        assert line["files"]["trades/paper_trades.json"] == len(new)


async def test_the_signal_archive_grows_by_day_and_matches_a_full_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second evening re-encodes only its day; the archive equals what `export` writes."""
    spliced: list[int] = []
    splice = arrays.splice

    def spy(path: Path, keep: int, entries: list[Any]) -> int:
        if path.name.startswith("signals_archive_"):  # paper_trades.json is spliced too
            spliced.append(keep)
        return splice(path, keep, entries)

    monkeypatch.setattr(arrays, "splice", spy)
    async with job_env(tmp_path, n_events=300) as env:
        await _all_jobs(env)
        assert spliced == []  # no file yet: written in full
        assert (await env.run("poll")).ok
        assert (await env.run("evening")).ok
        assert spliced == [1]  # one day in the file: everything after "[" is that day
        month = datetime.now(env.config.tz).strftime("%Y-%m")
        path = env.config.paths.data_dir / "history" / f"signals_archive_{month}.json"
        appended = path.read_bytes()
        builder = MirrorBuilder(env.store, env.config)
        assert await builder.write_all(datetime.now(UTC))
        assert path.read_bytes() == appended and json.loads(appended)


async def test_the_workbook_waits_for_its_interval(tmp_path: Path) -> None:
    """Within workbook_interval_s changed CSVs leave the workbook for later; forced, it is built."""
    async with job_env(tmp_path, n_events=150) as env:
        mirrors = env.config.mirrors.model_copy(update={"workbook_interval_s": 3600.0})
        env.config = env.config.model_copy(update={"mirrors": mirrors})
        assert (await env.run("morning")).ok  # the first build of this process is not held back
        path = env.config.paths.data_dir / "exports" / "prescientd.xlsx"
        built = path.stat().st_mtime_ns
        with capture_logs() as logs:
            assert (await env.run("poll")).ok
        (line,) = [e for e in logs if e["event"] == "mirrors_written"]
        assert (
            "workbook (interval)" in line["unchanged"]
            and "exports/prescientd.xlsx" not in line["files"]
        )
        assert path.stat().st_mtime_ns == built
        builder = MirrorBuilder(env.store, env.config)
        assert await builder.write_workbook(datetime.now(UTC), force=True)
        sheet = openpyxl.load_workbook(path)["markets_current"]
        table = read_csv(env.config.paths.data_dir / "exports" / "markets_current.csv")
        assert sheet.max_row == len(table) + 1 > 1


async def test_files_are_encoded_and_fsynced_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every mirror fsync of a flush runs in a worker thread, never on the event loop's thread."""
    fsync_threads: list[int] = []
    fsync = os.fsync

    def spy(fd: int) -> None:
        fsync_threads.append(threading.get_ident())
        fsync(fd)

    async with job_env(tmp_path, n_events=150) as env:
        assert (await env.run("morning")).ok
        monkeypatch.setattr(os, "fsync", spy)
        assert (await env.run("poll")).ok
        builder = MirrorBuilder(env.store, env.config)
        assert await builder.write_all(datetime.now(UTC))
    assert len(fsync_threads) > 10
    assert threading.get_ident() not in fsync_threads
