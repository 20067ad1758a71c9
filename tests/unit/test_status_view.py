"""The `prescientd status` screen and `--check` lines, drawn from hand-made status documents."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from prescientd.clock import iso_utc
from prescientd.status_view import (
    check_lines,
    daemon_line,
    local_time,
    missing_database_text,
    render_status,
    when_next,
)
from prescientd.terminal import cells, strip_ansi

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 3, 14, 14, 30, 123456, tzinfo=UTC)  # 09:14:30 EST
SENATE = "Will X win the 2026 United States Senate race in {}?"


def at(seconds: float) -> str:
    """An ISO timestamp `seconds` from NOW (negative: before)."""
    return iso_utc(NOW + timedelta(seconds=seconds))


def position(question: str, pnl: float, outcome: str = "No", **kw: Any) -> dict[str, Any]:
    """A positions row as status --json has it."""
    row = {
        "market_id": str(abs(hash(question)) % 10_000),
        "question": question,
        "outcome": outcome,
        "token_id": "7" * 77,
        "shares": 100,
        "avg_entry_price": 0.41,
        "cost_usd": 41.0,
        "mark_price": 0.41 + pnl / 100,
        "value_usd": 41.0 + pnl,
        "unrealized_pnl_usd": pnl,
        "stale": False,
        "book_missing": False,
        **kw,
    }
    return row


def make_doc(**overrides: Any) -> dict[str, Any]:
    """A full status document: daemon running, three jobs, five positions in no order."""
    doc: dict[str, Any] = {
        "generated_at": iso_utc(NOW),
        "timezone": "America/New_York",
        "database": "/srv/prescientd/data/prescient.db",
        "config_version": 3,
        "check": "ok",
        "daemon": {
            "running": True,
            "pid": 1234,
            "kind": "daemon",
            "command": "prescientd run",
            "stale_lock_pid": None,
            "last_seen_at": at(-42),
            "error": None,
        },
        "starting_balance_usd": 10000,
        "cash_usd": 9601.43,
        "positions_value_usd": 633.13,
        "equity_usd": 10234.56,
        "total_pnl_usd": 234.56,
        "total_return": 0.023456,
        "daily_pnl_usd": 19.4,
        "realized_pnl_usd": 120,
        "unrealized_pnl_usd": -15.44,
        "fees_usd": 12.3,
        "capital_locked_usd": 648.57,
        "trade_count": 31,
        "open_positions": 5,
        "settled_positions": 3,
        "settled_wins": 2,
        "win_rate": 2 / 3,
        "max_drawdown": -0.039,
        "equity_series": [
            {"date": f"2026-11-{d:02d}", "equity_usd": e}
            for d, e in zip(
                range(24, 31), [10000, 10020, 9950, 9620, 9990, 10100, 10200], strict=True
            )
        ],
        "positions": [
            position(SENATE.format("Iowa"), -1.5),
            position("Fed decision in December?", 7.25, outcome="Yes"),
            position(SENATE.format("Ohio"), -12.34, stale=True),
            position(SENATE.format("North Carolina"), 0.0, book_missing=True, stale=True),
            position("Will Bitcoin be above $100,000 on December 31, 2026?", 3.1),
        ],
        "jobs": {
            "morning": {
                "outcome": "ok",
                "finished_at": at(-14 * 60),
                "error": None,
                "next_run_at": at(23 * 3600 + 45 * 60 + 30),
            },
            "poll": {
                "outcome": "ok",
                "finished_at": at(-42),
                "error": None,
                "next_run_at": at(130),
            },
            "evening": {
                "outcome": "failed",
                "finished_at": at(-15 * 3600),
                "error": "database is locked",
                "next_run_at": at(8 * 3600 + 45 * 60 + 30),
            },
        },
        "last_poll_at": at(-42),
        "prices_age_s": 42.0,
        "max_price_age_s": 600.0,
        "warnings": [],
    }
    doc.update(overrides)
    return doc


def stopped_daemon() -> dict[str, Any]:
    """The daemon block after a crash: its pid is still in the lock file."""
    return {
        "running": False,
        "pid": 4321,
        "kind": None,
        "command": None,
        "stale_lock_pid": 4321,
        "last_seen_at": at(-25 * 60),
        "error": None,
    }


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("running", [True, False])
def test_screen_fits_and_shows_the_figures(width: int, running: bool) -> None:
    """At 80 and 120 columns: no line too long, the key figures, local times, no ANSI codes."""
    doc = make_doc() if running else make_doc(daemon=stopped_daemon())
    text = render_status(doc, width=width, tz=NY, now=NOW)
    lines = text.splitlines()
    assert all(cells(line) <= width for line in lines), max(lines, key=cells)
    assert "\x1b" not in text
    for figure in (
        "10,234.56 USD",
        "9,601.43 USD",
        "+234.56",
        "+2.35 %",
        "+19.40",
        "+120.00",
        "-15.44",
        "12.30",
        "648.57 USD",
        "66.7 % (2/3)",
        "-3.90 %",
    ):
        assert figure in text, figure
    assert "2026-12-03 09:14 EST" in lines[0]  # local time with the zone, no seconds
    assert not re.search(r"\d\d:\d\d:\d\d|\.\d{6}|T\d\d:", text)  # no ISO/microsecond spellings
    assert "5 open" in text and "31 trades" in text


def test_positions_worst_first_and_distinguishable() -> None:
    """Positions by unrealized P&L, worst first; the Senate rows keep their states at 80."""
    text = render_status(make_doc(), width=80, tz=NY, now=NOW)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.lstrip().startswith("question")) + 1
    rows = lines[first : first + 5]
    order = ["Ohio", "Iowa", "North Carolina", "Bitcoin", "Fed decision"]
    assert len(rows) == len(order)
    for row, key in zip(rows, order, strict=True):
        assert key in row, (key, row)
    pnls = [float(row.split()[-1]) for row in rows]
    assert pnls == sorted(pnls)
    assert "0.287*" in rows[0]  # stale mark: 0.41 - 12.34 / 100
    assert "!" in rows[2]  # book gone
    assert "* stale price" in text and "! book gone" in text


def test_positions_beyond_the_limit_are_counted() -> None:
    """Only the worst rows are listed; the rest are counted with the option that shows them."""
    doc = make_doc()
    text = render_status(doc, width=80, tz=NY, now=NOW, max_positions=2)
    assert "… 3 more (prescientd status --all)" in text
    assert "Fed decision" not in text
    assert "Fed decision" in render_status(doc, width=80, tz=NY, now=NOW, max_positions=0)


def test_daemon_running_line() -> None:
    """Running: the pid and when the next poll and the next daily job run."""
    line = daemon_line(make_doc(), NOW, NY)
    assert line == ("daemon: running (pid 1234), next poll in 2m 10s, evening 2026-12-03 18:00 EST")


def test_daemon_stopped_line() -> None:
    """Stopped: when it was last seen and the stale lock's pid."""
    line = daemon_line(make_doc(daemon=stopped_daemon()), NOW, NY)
    assert line == (
        "daemon: NOT running (last seen 2026-12-03 08:49 EST, 25m ago; stale lock from pid 4321)"
    )


def test_daemon_one_off_writer_line() -> None:
    """A `once` command holding the lock is not mistaken for the daemon."""
    doc = make_doc(
        daemon={**make_doc()["daemon"], "kind": "command", "command": "prescientd once cycle"}
    )
    assert daemon_line(doc, NOW, NY).startswith("daemon: not running; a one-off command writes")


def test_jobs_show_outcome_times_and_next() -> None:
    """Each job: outcome, local finish time, age, next run; a failure shows its error."""
    text = render_status(make_doc(), width=80, tz=NY, now=NOW)
    lines = text.splitlines()
    evening = next(i for i, line in enumerate(lines) if line.lstrip().startswith("evening"))
    assert "FAILED" in lines[evening] and "2026-12-02 18:14 EST" in lines[evening]
    assert "15h ago" in lines[evening] and "next 2026-12-03 18:00 EST" in lines[evening]
    assert "database is locked" in lines[evening + 1]
    poll = next(line for line in lines if line.lstrip().startswith("poll"))
    assert "next in 2m 10s" in poll
    assert "prices: 42s old (stale after 10m)" in text


def test_stopped_daemon_shows_no_next_runs() -> None:
    """Nothing is scheduled while the daemon is down, so no next run is claimed."""
    text = render_status(make_doc(daemon=stopped_daemon()), width=80, tz=NY, now=NOW)
    assert "next " not in "\n".join(line for line in text.splitlines() if "ago" in line)


def test_sparkline_over_recorded_days() -> None:
    """The equity line has one block per recorded day plus now, and the first and last value."""
    text = render_status(make_doc(), width=80, tz=NY, now=NOW)
    line = next(
        line
        for line in text.splitlines()
        if line.lstrip().startswith("equity ▁") or re.match(r"\s+equity [▁▂▃▄▅▆▇█]", line)
    )
    blocks = re.search(r"[▁▂▃▄▅▆▇█]+", line)
    assert blocks and len(blocks.group()) == 8  # 7 days + now
    assert blocks.group()[3] == "▁"  # 9620, the low
    assert "10,000.00 → 10,234.56, 7 days + now" in line


def test_no_history_yet() -> None:
    """Without a daily snapshot the screen says when the first one comes."""
    text = render_status(make_doc(equity_series=[]), width=80, tz=NY, now=NOW)
    assert "no daily snapshot yet (next evening run 2026-12-03 18:00 EST)" in text


def test_warnings_listed_with_severity() -> None:
    """Problems are listed, critical ones marked, long messages wrapped within the width."""
    warnings = [
        {
            "severity": "critical",
            "code": "daemon_down",
            "message": "prescientd is not running: "
            "its last job finished 25m ago; stale lock from pid 4321 " + "and more words " * 6,
        },
        {"severity": "warning", "code": "job_failed", "message": "last evening run failed"},
    ]
    text = render_status(make_doc(warnings=warnings, check="critical"), width=80, tz=NY, now=NOW)
    assert "problems: 2" in text
    assert re.search(r"^  CRITICAL  prescientd is not running", text, re.MULTILINE)
    assert re.search(r"^  warning   last evening run failed", text, re.MULTILINE)
    assert all(cells(line) <= 80 for line in text.splitlines())


@pytest.mark.parametrize("width", [80, 120])
def test_colour_only_adds_codes(width: int) -> None:
    """With colour the text is the same once the codes are stripped, and still fits."""
    doc = make_doc(daemon=stopped_daemon())
    plain = render_status(doc, width=width, tz=NY, now=NOW)
    coloured = render_status(doc, width=width, tz=NY, now=NOW, color=True)
    assert "\x1b[" in coloured
    assert strip_ansi(coloured) == plain


def test_hostile_question_cannot_escape() -> None:
    """A question with control characters prints as one plain line."""
    doc = make_doc(positions=[position("Evil\x1b[2J question\nsecond line?", -1.0)])
    text = render_status(doc, width=80, tz=NY, now=NOW)
    assert "\x1b" not in text and "second line?" in next(
        line for line in text.splitlines() if "Evil" in line
    )


def test_narrow_and_huge_widths() -> None:
    """Below 80 the screen still fits (60 at least); a wide terminal does not stretch rows."""
    narrow = render_status(make_doc(), width=60, tz=NY, now=NOW)
    assert all(cells(line) <= 60 for line in narrow.splitlines())
    wide = render_status(make_doc(), width=250, tz=NY, now=NOW)
    assert max(cells(line) for line in wide.splitlines()) < 150


@pytest.mark.parametrize(
    ("iso", "expected"),
    [
        (at(-30), "due now"),
        (at(-3600), "overdue 1h"),
        (at(130), "in 2m 10s"),
        (at(2 * 3600), "2026-12-03 11:14 EST"),
        (None, "–"),
    ],
)
def test_when_next(iso: str | None, expected: str) -> None:
    """Soon is relative, later is a local time; late is overdue."""
    assert when_next(iso, NOW, NY) == expected


def test_local_time_in_summer_and_winter() -> None:
    """The zone's abbreviation follows daylight saving time."""
    assert local_time("2026-07-01T13:00:00.000000Z", NY) == "2026-07-01 09:00 EDT"
    assert local_time("2026-12-01T14:00:00Z", NY) == "2026-12-01 09:00 EST"


@pytest.mark.parametrize(
    ("warnings", "code"),
    [
        ([], 0),
        ([{"severity": "warning", "code": "prices_stale", "message": "prices are 11m old"}], 1),
        (
            [
                {"severity": "critical", "code": "daemon_down", "message": "not running"},
                {"severity": "warning", "code": "job_failed", "message": "evening failed"},
            ],
            2,
        ),
    ],
)
def test_check_lines(warnings: list[dict[str, str]], code: int) -> None:
    """--check: exit 0/1/2 and one line per problem, severity and code first."""
    exit_code, lines = check_lines(make_doc(warnings=warnings, check=None))
    assert exit_code == code
    if warnings:
        assert lines == [f"{w['severity'].upper()} {w['code']}: {w['message']}" for w in warnings]
    else:
        assert lines == ["OK: daemon running (pid 1234); equity 10,234.56 USD"]


def test_missing_database_text_names_the_commands() -> None:
    """The missing-database message says which command creates it, with the same --config."""
    text = missing_database_text("data/prescient.db", " --config config/demo.toml")
    assert "prescientd run --config config/demo.toml" in text
    assert "prescientd once cycle --config config/demo.toml" in text
