"""How a job's end is logged: the level of its one `job_finished` line, what makes a completed
job *degraded*, when a failed one runs again, and the per-run tally of item-level conditions.

Levels, so that level-based alerting (`jq 'select(.level=="error")'`) sees what needs a human:
- `error`: the job failed (it is retried; the line says when, `next_attempt_at`/`retry_in_s`);
- `warning`: it completed but is degraded (`degraded` lists why), or a stop cut it short;
- `info`: it completed with everything it needed.

Degraded means: the job completed and its results are recorded, but some of the input it needed
could not be fetched or read, so part of its result rests on older data. Per job, the counts
in `DEGRADING` (any of them above zero). A market's ordinary lifecycle is not degradation: books
of markets we do not hold that close or await resolution, settlements pending on the resolution
process (a held market's book is withdrawn while its resolution is proposed, and gone once it
resolved) and an evening snapshot that already existed are counted on the line, at `info`.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import structlog

from prescientd.clock import iso_utc
from prescientd.models import JOB_CANCELLED_ERROR, JobOutcome

log = structlog.get_logger("prescientd.jobs")

# job -> the counts on its job_finished line that make it degraded when above zero
DEGRADING: Mapping[str, tuple[str, ...]] = {
    # events or markets in Gamma's reply that could not be read (skipped, see gamma_item_skipped)
    "morning": ("items_skipped",),
    # books that failed validation; held positions whose book is gone although their market is
    # neither awaiting resolution nor resolved (marked at the last known price); held markets
    # whose resolution could not be checked (the request failed)
    "poll": ("rejected", "held_books_missing", "settlement_checks_failed"),
    # tracked markets whose resolution the evening could not ask about (they wait a day)
    "evening": ("resolution_checks_failed",),
}

_TALLY: ContextVar[Counter[str] | None] = ContextVar("prescientd_job_tally", default=None)


@contextlib.contextmanager
def tallying() -> Iterator[Counter[str]]:
    """Collect `tally` counts for the job run in this context (and the tasks it starts)."""
    counts: Counter[str] = Counter()
    token = _TALLY.set(counts)
    try:
        yield counts
    finally:
        _TALLY.reset(token)


def tally(name: str, n: int = 1) -> None:
    """Count n items of a condition onto the running job's job_finished line (none: no-op)."""
    counts = _TALLY.get()
    if counts is not None and n:
        counts[name] += n


def degraded_reasons(job: str, counts: Mapping[str, Any]) -> list[str]:
    """The DEGRADING counts of job that are above zero, in DEGRADING order."""
    reasons = []
    for name in DEGRADING.get(job, ()):
        value = counts.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            reasons.append(name)
    return reasons


def finished_level(outcome: JobOutcome, degraded: list[str]) -> str:
    """error for a failure, warning for a degraded job or one cut short by a stop, else info."""
    if not outcome.ok:
        return "warning" if outcome.error == JOB_CANCELLED_ERROR else "error"
    return "warning" if degraded else "info"


def log_job_finished(
    outcome: JobOutcome,
    *,
    duration_s: float,
    next_attempt_at: datetime | None,
) -> None:
    """The job's one summary line, at the level its outcome calls for (module docstring)."""
    degraded = degraded_reasons(outcome.job, outcome.counts) if outcome.ok else []
    fields: dict[str, Any] = {
        "outcome": "ok" if outcome.ok else "failed",
        "duration_s": round(duration_s, 3),
        "config_version": outcome.config_version,
        "error": outcome.error,
    }
    if degraded:
        fields["degraded"] = degraded
    if not outcome.ok:
        # None: nothing in this process retries it (a one-off command, or a stop cut it short:
        # it runs again at the next start)
        fields["next_attempt_at"] = iso_utc(next_attempt_at) if next_attempt_at else None
        fields["retry_in_s"] = (
            round(max(0.0, (next_attempt_at - outcome.finished_at).total_seconds()), 1)
            if next_attempt_at
            else None
        )
    level = finished_level(outcome, degraded)
    getattr(log, level)("job_finished", **fields, **outcome.counts)
