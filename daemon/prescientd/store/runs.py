"""Job runs and config versions: the daemon's own ledger of what it did and with which config."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import aiosqlite

from prescientd.clock import iso_utc, parse_iso_utc
from prescientd.models import DEFAULT_STRATEGY, JOB_CANCELLED_ERROR, JobOutcome
from prescientd.store.connection import Tables
from prescientd.store.rows import JOB_RUNS, JobRunRow


@dataclass(frozen=True, slots=True)
class ConfigVersionRow:
    """One recorded config version."""

    version: int
    loaded_at: datetime
    source: str
    changed_keys: tuple[str, ...]
    sha256: str


@dataclass(frozen=True, slots=True)
class PollValuation:
    """The equity and cash a successful poll recorded with its job run (None: it recorded none)."""

    run_row_id: int
    finished_at: datetime
    equity_usd: Decimal | None
    cash_usd: Decimal | None


class RunTables(Tables):
    """job_runs and config_versions."""

    async def record_job_run(self, outcome: JobOutcome) -> None:
        """Append one job run."""

        async def body(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO job_runs (run_id, job, local_date, started_at, finished_at, outcome,"
                " config_version, counts, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    outcome.run_id,
                    outcome.job,
                    outcome.local_date,
                    iso_utc(outcome.started_at),
                    iso_utc(outcome.finished_at),
                    "ok" if outcome.ok else "failed",
                    outcome.config_version,
                    json.dumps(dict(outcome.counts), default=str, sort_keys=True),
                    outcome.error,
                ),
            )

        await self.db.write(body)

    async def last_job_runs(self) -> dict[str, JobRunRow]:
        """The most recent run of each job."""
        rows = await self.db.read(
            "SELECT * FROM job_runs WHERE id IN (SELECT MAX(id) FROM job_runs GROUP BY job)"
        )
        return {row["job"]: JOB_RUNS.decode(row, ok=row["outcome"] == "ok") for row in rows}

    async def schedule_history(
        self, jobs: Sequence[str]
    ) -> tuple[dict[str, date], dict[str, datetime]]:
        """Per job: the latest local date it succeeded, and its latest failure after that success
        (a run cancelled at shutdown is no failure). Read once at start-up; each lookup walks the
        job_runs_by_outcome indexes, so it costs O(log n) plus the job's failures since its last
        success, however long the history."""
        last_ok: dict[str, date] = {}
        failed: dict[str, datetime] = {}
        for job in jobs:
            row = await self.db.read_one(
                "SELECT (SELECT MAX(local_date) FROM job_runs WHERE job=? AND outcome='ok'),"
                " (SELECT MAX(finished_at) FROM job_runs WHERE job=? AND outcome='failed'"
                "  AND COALESCE(error, '') != ? AND id >"
                "  COALESCE((SELECT MAX(id) FROM job_runs WHERE job=? AND outcome='ok'), 0))",
                (job, job, JOB_CANCELLED_ERROR, job),
            )
            if row is not None and row[0] is not None:
                last_ok[job] = date.fromisoformat(row[0])
            if row is not None and row[1] is not None:
                failed[job] = parse_iso_utc(row[1])
        return last_ok, failed

    async def record_config_version(
        self,
        *,
        sha256: str,
        source: str,
        changed_keys: Sequence[str],
        strategy_json: str,
        decision_inputs_json: str = "{}",
    ) -> int:
        """Record a config version; at start-up an unchanged file keeps the latest number.

        strategy_json is the default strategy's rule (as before several strategies);
        decision_inputs_json every key a decision of any active strategy depends on.
        """

        async def body(conn: aiosqlite.Connection) -> int:
            async with conn.execute(
                "SELECT version, sha256 FROM config_versions ORDER BY version DESC LIMIT 1"
            ) as cur:
                row = await cur.fetchone()
            if row is not None and source == "start" and row[1] == sha256:
                return int(row[0])
            version = (int(row[0]) if row else 0) + 1
            await conn.execute(
                "INSERT INTO config_versions (version, loaded_at, sha256, source, changed_keys,"
                " strategy, decision_inputs) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    version,
                    iso_utc(datetime.now().astimezone()),
                    sha256,
                    source,
                    json.dumps(list(changed_keys)),
                    strategy_json,
                    decision_inputs_json,
                ),
            )
            return version

        return await self.db.write(body)

    async def latest_config_version(self) -> int | None:
        """The highest recorded config version."""
        row = await self.db.read_one("SELECT MAX(version) FROM config_versions")
        return None if row is None or row[0] is None else int(row[0])

    async def config_versions(self) -> list[ConfigVersionRow]:
        """Every config version, oldest first."""
        rows = await self.db.read(
            "SELECT version, loaded_at, source, changed_keys, sha256 FROM config_versions"
            " ORDER BY version"
        )
        return [
            ConfigVersionRow(
                version=int(row["version"]),
                loaded_at=parse_iso_utc(row["loaded_at"]),
                source=row["source"],
                changed_keys=tuple(json.loads(row["changed_keys"])),
                sha256=row["sha256"],
            )
            for row in rows
        ]

    async def poll_valuations(
        self, after_id: int, limit: int, strategy: str = DEFAULT_STRATEGY
    ) -> list[PollValuation]:
        """Up to limit successful polls after job-run row after_id, in row order, with the equity
        and cash each recorded in its counts for the strategy (the default account's at the top
        level, every other account's in `strategy_equity.NAME`); one index range, so paging through
        is cheap."""
        if '"' in strategy or "\\" in strategy:  # not a strategy name; never a JSON path
            return []
        base = "$" if strategy == DEFAULT_STRATEGY else f'$.strategy_equity."{strategy}"'
        rows = await self.db.read(
            "SELECT id, finished_at, json_extract(counts, ?) AS equity,"
            " json_extract(counts, ?) AS cash FROM job_runs"
            " WHERE job = 'poll' AND outcome = 'ok' AND id > ? ORDER BY id LIMIT ?",
            (f"{base}.equity_usd", f"{base}.cash_usd", after_id, limit),
        )
        return [
            PollValuation(
                int(row["id"]),
                parse_iso_utc(row["finished_at"]),
                _money(row["equity"]),
                _money(row["cash"]),
            )
            for row in rows
        ]


def _money(value: object) -> Decimal | None:
    """A money figure stored as text in a job run's counts; None when absent or not a number
    (a poll with nothing tracked, or one recorded by an older version)."""
    if not isinstance(value, str | int | float):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
