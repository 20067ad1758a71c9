"""The evening's learning of resolutions: what became of the tracked markets nobody held.

Called by the evening job (`jobs.evening`). Two steps, each one transaction:
1. Settled markets that market_resolutions lacks (settlements recorded before the table existed,
   or by a settlement path that does not write it) are recorded from the settlements themselves,
   source "settlement".
2. The recently tracked, unheld, unresolved markets that may have ended (core.learning) are asked
   about on Gamma in batches of ids (`GammaClient.fetch_markets_by_id`: only the record of that
   very market, condition and tokens may answer), at most `[report] max_resolution_checks` of
   them; one Gamma says resolved is cross-checked with the CLOB as a settlement is, and recorded
   under `core.ledger.resolve`'s rules, source "evening". Lifecycle changes (closed, resolving)
   are stored, so a closed market is never bought. The rest wait for the next evening.

A failed look-up never fails the evening: its markets stay candidates, and the job's line counts
them (`resolution_checks_failed`, which marks the evening degraded).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from prescientd.core import accounts, learning, ledger
from prescientd.models import Market
from prescientd.polymarket.http import FetchError
from prescientd.polymarket.jsonsafe import ItemError, RecordMismatch

if TYPE_CHECKING:
    from prescientd.jobs import JobContext

log = structlog.get_logger(__name__)


async def learn_resolutions(ctx: JobContext, now: datetime) -> dict[str, Any]:
    """Record the resolutions learned this evening; the counts for the job's line."""
    counts: dict[str, Any] = {}
    counts["resolutions_from_settlements"] = await _from_settlements(ctx)
    cfg = ctx.config.report
    portfolios = await ctx.portfolio.read_all()
    rows = await ctx.store.resolution_candidates(now - timedelta(days=cfg.lookback_days), now)
    plan = learning.plan_checks(
        (learning.Candidate(r.market, r.eligible_now, r.book_missing) for r in rows),
        held=accounts.held_markets(portfolios.values()),
        resolved=frozenset(),  # the store's candidates exclude recorded ones already
        now=now,
        day=ctx.local_date(now),
        max_checks=cfg.max_resolution_checks,
    )
    counts.update(resolution_checks=len(plan.due), resolution_checks_deferred=plan.deferred)
    if not plan.due:
        counts["resolutions_learned"] = 0
        return counts
    try:
        checked, failed, requests = await _check(ctx, plan.due)
    except (FetchError, ItemError) as exc:  # Gamma unreachable: every market waits a day
        log.warning("resolution_checks_failed", count=len(plan.due), first_error=str(exc))
        counts.update(resolution_checks_failed=len(plan.due), resolutions_learned=0)
        return counts
    stored = {m.market_id: m for m in plan.due}
    changed = [merged for merged, _ in checked if merged != stored[merged.market_id]]
    learned_at = ctx.clock.now()
    found = [
        learning.learned_resolution(merged, check, learned_at, learning.EVENING)
        for merged, check in checked
    ]
    resolutions = [r for r in found if r is not None]
    await ctx.store.update_markets(changed, learned_at)
    added = await ctx.store.record_resolutions(resolutions)
    counts.update(
        resolutions_learned=added,
        resolution_requests=requests,
        resolution_checks_failed=failed,
        resolutions_pending=sum(1 for _, c in checked if c.status == "pending"),
    )
    log.info(
        "resolutions_learned",
        learned=added,
        checked=len(plan.due),
        deferred=plan.deferred,
        failed=failed,
        yes=sum(1 for r in resolutions if r.resolution == learning.YES),
        no=sum(1 for r in resolutions if r.resolution == learning.NO),
        split=sum(1 for r in resolutions if r.resolution == learning.SPLIT),
    )
    return counts


async def _from_settlements(ctx: JobContext) -> int:
    """Record the resolutions of settled markets market_resolutions lacks; how many."""
    settlements = await ctx.store.settlements_without_resolution()
    if not settlements:
        return 0
    markets = await ctx.store.markets_by_id({s.market_id for s in settlements})
    found, unreadable = learning.settled_resolutions(settlements, markets, frozenset())
    if unreadable:
        log.warning("settled_resolutions_unreadable", count=unreadable)
    return await ctx.store.record_resolutions(found)


async def _check(
    ctx: JobContext, due: tuple[Market, ...]
) -> tuple[list[tuple[Market, ledger.ResolutionCheck]], int, int]:
    """Gamma's verdict on each due market (the CLOB cross-checks a resolution), how many could
    not be asked about, and the Gamma requests made."""
    fetched = await ctx.gamma.fetch_markets_by_id(due)
    if fetched.problems:
        first = min(fetched.problems)
        log.warning(
            "resolution_checks_failed",
            count=len(fetched.problems),
            first_error=fetched.problems[first],
            first_market_id=first,
        )

    async def check(market: Market, fresh: Market) -> tuple[Market, ledger.ResolutionCheck]:
        merged = learning.with_lifecycle(market, fresh)
        verdict = ledger.resolve(merged, None)
        if verdict.status != "resolved":
            return merged, verdict
        try:  # as a settlement: the CLOB must not contradict Gamma's outcome
            clob = await ctx.clob.fetch_market(merged.condition_id, token_ids=market.token_ids)
        except (FetchError, ItemError) as exc:
            if isinstance(exc, RecordMismatch):  # another market's record: never trust it
                return merged, ledger.ResolutionCheck("pending", {}, f"CLOB {exc}")
            log.debug("resolution_clob_check_failed", market_id=market.market_id, error=str(exc))
            return merged, verdict  # the CLOB is down: Gamma's exact outcome stands
        return merged, ledger.resolve(merged, clob)

    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(check(m, fetched.found[m.market_id]))
            for m in due
            if m.market_id in fetched.found
        ]
    return [t.result() for t in tasks], len(fetched.problems), fetched.requests
