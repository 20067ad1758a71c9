"""End-to-end fixtures: the simulator and `prescientd` as real subprocesses on 127.0.0.1.

Every process started here is tracked by a fixture and killed at teardown, whatever the test did.
Every wait is a bounded poll loop (`wait_until`) whose failure names what it waited for.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from prescientd.store.db import connect_sync

T = TypeVar("T")
PYTHON = sys.executable
TIMEZONE = "America/New_York"
TZ = ZoneInfo(TIMEZONE)
LOOPBACK = "127.0.0.1"
STOP_LIMIT_S = 10.0  # SIGTERM -> exit within this many seconds

# DESIGN.md §3: fixed names under data/ (dated files are checked by pattern).
FIXED_JSON = (
    "events/filtered_events.json",
    "events/filtered_markets.json",
    "events/raw_events_backup.json",
    "markets/market_cache.json",
    "trades/current_signals.json",
    "trades/paper_trades.json",
    "trades/portfolio.json",
    "history/portfolio_history.json",
)
EXPORT_CSVS = (
    "events_filtered.csv",
    "markets_extracted.csv",
    "markets_current.csv",
    "signals_current.csv",
    "trades_summary.csv",
    "portfolio_history.csv",
    "positions_current.csv",
    "performance_daily.csv",
    "strategies.csv",  # DESIGN.md §10
)
# DESIGN.md §11: the analytics report, computed at the moment it is written (dollar-days grow
# with time), so a rebuild is compared by its files, not its figures
REPORT_CSVS = (
    "report_calibration.csv",
    "report_brier.csv",
    "report_capital.csv",
    "report_events.csv",
    "report_versions.csv",
    "report_depth.csv",
    "report_depth_summary.csv",
    "report_depth_histogram.csv",
)
# Fields computed from the clock at write time, not from the database.
CLOCK_FIELDS = frozenset({"generated_at", "age_s", "as_of"})  # as_of: when a CSV was written
# Mirrors built from the market rows of the morning refresh.
EVENT_MIRRORS = (
    "events/filtered_events.json",
    "events/filtered_markets.json",
    "exports/events_filtered.csv",
    "exports/markets_extracted.csv",
)


# ----------------------------------------------------------------------------------------------
# small helpers
def wait_until(
    predicate: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.1
) -> T:
    """Poll predicate until it returns a truthy value; fail after timeout_s naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


def today_local() -> str:
    """Today's date in the configured timezone (file-name dates use it)."""
    return datetime.now(UTC).astimezone(TZ).date().isoformat()


def read_json(path: Path) -> Any:
    """Parse one JSON mirror."""
    return json.loads(path.read_text(encoding="utf-8"))


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV mirror (it starts with a BOM); fails on a ragged row."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("\ufeff"), f"{path} has no BOM"
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    rows = list(reader)
    header = list(reader.fieldnames or [])
    for row in rows:
        assert None not in row, f"{path.name}: a row has more cells than the header"
        assert None not in row.values(), f"{path.name}: a row has fewer cells than the header"
    return header, rows


def db_query(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Rows of one read query on a stopped daemon's database."""
    conn = connect_sync(db_path)
    try:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def integrity_check(db_path: Path) -> str:
    """PRAGMA integrity_check of the database ('ok' when sound)."""
    rows = db_query(db_path, "PRAGMA integrity_check")
    return ", ".join(str(r[0]) for r in rows)


def _without_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if k not in CLOCK_FIELDS}
    if isinstance(value, list):
        return [_without_clock(v) for v in value]
    return value


def mirror_contents(data_dir: Path) -> dict[str, Any]:
    """Every JSON/CSV mirror under data_dir by relative path, parsed, clock fields removed."""
    out: dict[str, Any] = {}
    for path in sorted(data_dir.rglob("*")):
        rel = str(path.relative_to(data_dir))
        if path.suffix == ".json":
            out[rel] = _without_clock(read_json(path))
        elif path.suffix == ".csv":
            header, rows = read_csv(path)
            out[rel] = (header, _without_clock(rows))
    return out


def temp_files(root: Path) -> list[Path]:
    """Leftover atomic-write temp files under root."""
    return sorted(root.rglob(".prescientd-*.tmp"))


# ----------------------------------------------------------------------------------------------
# the simulator
@dataclass
class SimProcess:
    """A `python -m prescientd.sim` subprocess and a tiny client for its control routes."""

    proc: subprocess.Popen[bytes]
    url: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One HTTP request to the simulator; returns the parsed JSON answer."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # 127.0.0.1 only
            return json.loads(response.read())

    def set_faults(self, spec: Mapping[str, Any]) -> None:
        """POST /_sim/faults."""
        self.call("POST", "/_sim/faults", dict(spec))

    def clear_faults(self) -> None:
        """DELETE /_sim/faults."""
        self.call("DELETE", "/_sim/faults")

    def resolve(self, market_id: str, outcome: str) -> dict[str, Any]:
        """POST /_sim/resolve; returns the market's ground truth after resolution."""
        answer: dict[str, Any] = self.call(
            "POST", "/_sim/resolve", {"market_id": market_id, "outcome": outcome}
        )
        return answer

    def markets(self) -> list[dict[str, Any]]:
        """GET /_sim/markets: ground truth of every market."""
        markets: list[dict[str, Any]] = self.call("GET", "/_sim/markets")["markets"]
        return markets

    def requests(self) -> list[dict[str, Any]]:
        """GET /_sim/requests: every served request, oldest first."""
        served: list[dict[str, Any]] = self.call("GET", "/_sim/requests")["requests"]
        return served


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after grace_s; always reaped."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace_s)


def _next_name(workdir: Path, stem: str) -> str:
    n = 0
    while (workdir / f"{stem}{n}.out").exists():
        n += 1
    return f"{stem}{n}"


def launch_sim(
    workdir: Path, *, seed: int = 11, events: int = 100, resolve_interval_s: float | None = None
) -> SimProcess:
    """Start `python -m prescientd.sim` on 127.0.0.1 and wait for its URL (caller stops it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    name = _next_name(workdir, "sim")
    out_path = workdir / f"{name}.out"
    args = [PYTHON, "-m", "prescientd.sim", "--seed", str(seed), "--events", str(events)]
    args += ["--host", LOOPBACK, "--port", "0"]
    if resolve_interval_s is not None:
        args += ["--resolve-interval-s", str(resolve_interval_s)]
    with out_path.open("wb") as out, (workdir / f"{name}.err").open("wb") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    try:

        def url() -> str | None:
            assert proc.poll() is None, f"simulator exited with {proc.returncode}"
            for line in out_path.read_text(encoding="utf-8").splitlines():
                if line.startswith("SIM_URL="):
                    return line.removeprefix("SIM_URL=").strip()
            return None

        found = wait_until(url, 15, "the simulator's SIM_URL line")
        assert found.startswith(f"http://{LOOPBACK}:"), found
    except BaseException:
        stop_process(proc)
        raise
    return SimProcess(proc=proc, url=found)


@pytest.fixture
def sim_factory(tmp_path: Path) -> Iterator[Callable[..., SimProcess]]:
    """Start simulators (seed, events, resolve_interval_s); all are stopped at teardown."""
    started: list[SimProcess] = []

    def start(**kwargs: Any) -> SimProcess:
        launched = launch_sim(tmp_path, **kwargs)
        started.append(launched)
        return launched

    try:
        yield start
    finally:
        for launched in started:
            stop_process(launched.proc)


@pytest.fixture
def sim(sim_factory: Callable[..., SimProcess]) -> SimProcess:
    """A simulator with 100 events, no automatic resolutions."""
    return sim_factory()


# ----------------------------------------------------------------------------------------------
# config
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def render_toml(top: Mapping[str, Any], sections: Mapping[str, Mapping[str, Any]]) -> str:
    """TOML text from top-level keys and one level of [sections]."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    for name, keys in sections.items():
        lines.append(f"\n[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Setup:
    """One daemon installation under tmp_path: its config file and directories."""

    root: Path
    sim_url: str
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        """The config file."""
        return self.root / "prescientd.toml"

    @property
    def ws_url(self) -> str:
        """The simulator's WebSocket market channel."""
        return "ws" + self.sim_url.removeprefix("http") + "/ws/market"

    @property
    def data_dir(self) -> Path:
        """data/."""
        return self.root / "data"

    @property
    def logs_dir(self) -> Path:
        """logs/."""
        return self.root / "logs"

    @property
    def db_path(self) -> Path:
        """The SQLite database."""
        return self.data_dir / "prescient.db"

    def sections(self) -> dict[str, dict[str, Any]]:
        """The config sections: fast test defaults with the overrides applied."""
        base: dict[str, dict[str, Any]] = {
            "paths": {
                "data_dir": self.data_dir,
                "logs_dir": self.logs_dir,
                "db_path": self.db_path,
            },
            "polymarket": {
                "gamma_url": self.sim_url,
                "clob_url": self.sim_url,
                "backoff_base_s": 0.05,
                "backoff_max_s": 0.2,
                "max_attempts": 2,
                "connect_timeout_s": 5,
                "request_timeout_s": 30,
            },
            "schedule": {
                "poll_interval_s": 2,
                "morning_every_s": 0,
                "evening_every_s": 0,
                "max_price_age_s": 30,
                "startup_catch_up": True,
            },
            "filters": {"min_liquidity_usd": 500, "max_days_to_end": 1200},
            "strategy": {"threshold": 0.5, "action": "buy_no", "stake_usd": 100},
            "mirrors": {"debounce_s": 0.2},
            # the operator's window on a port the OS picks: parallel daemons never collide
            "http": {"port": 0},
            # the simulator's market channel, off unless a test streams (never the real one)
            "stream": {"enabled": False, "ws_url": self.ws_url},
        }
        for name, keys in self.overrides.items():
            base.setdefault(name, {}).update(keys)
        return base

    def write(self, **sections: dict[str, Any]) -> Path:
        """(Re)write the config file, merging more overrides section by section."""
        for name, keys in sections.items():
            self.overrides.setdefault(name, {}).update(keys)
        self.root.mkdir(parents=True, exist_ok=True)
        text = render_toml({"timezone": TIMEZONE}, self.sections())
        self.config_path.write_text(text, encoding="utf-8")
        return self.config_path

    def write_text(self, text: str) -> None:
        """Replace the config file with raw text (for invalid configs)."""
        self.config_path.write_text(text, encoding="utf-8")

    def cli(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run `prescientd ARGS --config <this config>` to completion."""
        return subprocess.run(
            [PYTHON, "-m", "prescientd", *args, "--config", str(self.config_path)],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
            check=False,
        )


def make_setup(root: Path, sim_url: str, **sections: dict[str, Any]) -> Setup:
    """A Setup under root for a simulator URL, its config file written with the overrides."""
    made = Setup(root=root, sim_url=sim_url)
    made.write(**sections)
    return made


@pytest.fixture
def setup_factory(tmp_path: Path) -> Callable[..., Setup]:
    """Make a Setup under tmp_path/NAME for a simulator URL, with config overrides."""

    def make(sim_url: str, name: str = "site", **sections: dict[str, Any]) -> Setup:
        return make_setup(tmp_path / name, sim_url, **sections)

    return make


# ----------------------------------------------------------------------------------------------
# the daemon
@dataclass
class DaemonProcess:
    """A `prescientd run` subprocess whose stdout (JSON log lines) goes to a file."""

    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def logs(self) -> list[dict[str, Any]]:
        """Every complete JSON log line written to stdout so far."""
        out = []
        for line in self.stdout_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                parsed = json.loads(line)
            except ValueError:
                continue  # a line cut by SIGKILL, or a non-JSON line
            if isinstance(parsed, dict):
                out.append(parsed)
        return out

    def events(self, event: str, **match: Any) -> list[dict[str, Any]]:
        """Log lines of one event whose fields equal match."""
        return [
            line
            for line in self.logs()
            if line.get("event") == event and all(line.get(k) == v for k, v in match.items())
        ]

    def wait_for(
        self, event: str, timeout_s: float, *, count: int = 1, **match: Any
    ) -> dict[str, Any]:
        """Wait until at least count matching lines exist; return the count-th one."""

        def found() -> dict[str, Any] | None:
            lines = self.events(event, **match)
            if len(lines) >= count:
                return lines[count - 1]
            assert self.alive(), (
                f"prescientd exited ({self.proc.returncode}) while waiting for {event}: "
                + self.stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            )
            return None

        return wait_until(found, timeout_s, f"{count} x {event} {match or ''}")

    def send(self, sig: signal.Signals) -> None:
        """Send a signal."""
        self.proc.send_signal(sig)

    def terminate_and_wait(self, limit_s: float = STOP_LIMIT_S) -> tuple[int, float]:
        """SIGTERM, then the exit code and how long the exit took (fails after limit_s)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(limit_s)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(
                f"prescientd did not exit within {limit_s:g} s of SIGTERM"
            ) from exc
        return code, time.monotonic() - t0

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.alive():
            self.proc.kill()
        self.proc.wait(5)


def launch_daemon(setup: Setup, workdir: Path) -> DaemonProcess:
    """Start `prescientd run` for setup, stdout/stderr to files in workdir (caller kills it)."""
    name = _next_name(workdir, "daemon")
    out_path = workdir / f"{name}.out"
    err_path = workdir / f"{name}.err"
    env = {k: v for k, v in os.environ.items() if k != "PRESCIENTD_CONFIG"}
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [PYTHON, "-m", "prescientd", "run", "--config", str(setup.config_path)],
            cwd=setup.root,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    return DaemonProcess(proc=proc, stdout_path=out_path, stderr_path=err_path)


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[[Setup], DaemonProcess]]:
    """Start `prescientd run` for a Setup; every one still alive is killed at teardown."""
    started: list[DaemonProcess] = []

    def start(setup: Setup) -> DaemonProcess:
        daemon = launch_daemon(setup, tmp_path)
        started.append(daemon)
        return daemon

    try:
        yield start
    finally:
        for daemon in started:
            daemon.kill()
