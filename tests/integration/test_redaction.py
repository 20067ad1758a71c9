"""A password in a configured URL never reaches the job-runs table, `status` or the CLI's line."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web
from structlog.testing import capture_logs

from conftest import T0, serve
from prescientd import jobs
from prescientd.clock import SystemClock
from prescientd.config import parse_config
from prescientd.models import JobOutcome
from prescientd.runtime import make_context, open_clients, open_store
from prescientd.status import collect_status

SECRET = "hunter2secret"


async def _mirrors(_: object) -> None:
    return None


async def test_job_runs_error_holds_no_credentials(tmp_path: Path) -> None:
    """A failed morning against user:password@host stores and logs its error without them."""

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503)

    async with serve({"/events/keyset": broken}) as url:
        secret_url = url.replace("http://", f"http://operator:{SECRET}@")
        config = parse_config(
            f'[polymarket]\ngamma_url = "{secret_url}"\nclob_url = "{secret_url}"\n'
            "max_attempts = 2\nbackoff_base_s = 0.01\nbackoff_max_s = 0.02\n"
        ).resolve_paths(tmp_path)
        async with open_store(config) as store, open_clients(config) as clients:
            ctx = make_context(config, 1, store, clients, SystemClock(), _mirrors)
            with capture_logs() as logs:
                outcome = await jobs.run_job("morning", ctx, jobs.JOB_BODIES["morning"])
            stored = (await store.last_job_runs())["morning"]
    assert not outcome.ok and stored.error is not None and "HTTP 503" in stored.error
    assert SECRET not in stored.error and SECRET not in json.dumps(logs, default=str)


async def test_status_masks_credentials_stored_by_older_versions(tmp_path: Path) -> None:
    """A job-runs row holding a URL's password (written before redaction) is shown masked."""
    config = parse_config("").resolve_paths(tmp_path)
    leaked = f"GET https://operator:{SECRET}@gamma.example/events/keyset failed: HTTP 503"
    async with open_store(config) as store:
        await store.record_job_run(
            JobOutcome(
                run_id="r1",
                job="morning",
                local_date="2026-10-06",
                started_at=T0,
                finished_at=T0,
                ok=False,
                config_version=1,
                counts={},
                error=leaked,
            )
        )
    report = await collect_status(config, T0)
    assert report["jobs"]["morning"]["error"].startswith("GET https://***@gamma.example")
    assert SECRET not in json.dumps(report, default=str)
