"""/api/v1/report inside the real daemon, against the simulator: the very document `prescientd
report --json` prints for the same instant, for every strategy and for one."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

from prescientd.clock import parse_iso_utc
from prescientd.config import Config
from prescientd.reporting import run_report
from web.live import live_daemon

VARIANTS = {"strategies.contrarian60": {"threshold": 0.6, "stake_usd": 50}}


def _command(config: Config, generated_at: str, strategy: str | None) -> Any:
    """`prescientd report --json [--strategy NAME]` at the instant the API document was built."""
    out, err = io.StringIO(), io.StringIO()
    code = run_report(
        config,
        parse_iso_utc(generated_at),
        as_json=True,
        strategy=strategy,
        width=80,
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())


async def test_the_api_report_is_the_commands_report(tmp_path: Path) -> None:
    """After a settlement and an evening that learned an unheld market's outcome, the API's
    report equals the command's, field for field, with and without strategy=."""
    async with live_daemon(tmp_path, overrides=VARIANTS) as live:
        trades = json.loads((live.data_dir / "trades" / "paper_trades.json").read_text())
        held = {e["market_id"] for e in trades if e["kind"] == "trade"}
        eligible = json.loads((live.data_dir / "events" / "filtered_markets.json").read_text())
        unheld = next(r["market_id"] for r in eligible if r["market_id"] not in held)
        live.sim.state.resolve(min(held), "no")
        live.sim.state.resolve(unheld, "yes")
        assert (await live.daemon.run_job_now("poll")).ok
        evening = await live.daemon.run_job_now("evening")
        assert evening.ok and evening.counts["resolutions_learned"] == 1, evening.counts
        await live.mirrors_written()
        documents = {}
        for strategy in (None, "default", "contrarian60"):
            query = "" if strategy is None else f"?strategy={strategy}"
            api = await live.json(f"/api/v1/report{query}")
            command = await asyncio.to_thread(_command, live.config, api["generated_at"], strategy)
            assert api == command, strategy
            documents[strategy] = api
        await live.json("/api/v1/report?strategy=nobody", status=404)
    every = documents[None]
    assert every["resolutions"] == {"total": 2, "settlement": 1, "evening": 1}
    assert {row["strategy"] for row in every["capital"]} == {"default", "contrarian60"}
    assert [row["strategy"] for row in documents["contrarian60"]["capital"]] == ["contrarian60"]
    # calibration is every tracked market's, whichever strategy is asked for
    assert documents["contrarian60"]["calibration"] == every["calibration"]
    assert every["calibration"]["resolved_markets"] == 2
