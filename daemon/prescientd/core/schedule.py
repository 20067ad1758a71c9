"""A DST-safe daily schedule in local time, and a drift-free poll ticker.

Nothing here reads a clock: `now` comes in. Instants are compared and shifted in UTC, because
subtracting two aware datetimes of the same zone ignores a DST change between them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# How many days ahead next_wakeup looks; two would do, the third covers a wall clock set back a day.
_LOOKAHEAD_DAYS = 3


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: an aware one is required")
    return moment.astimezone(UTC)


def local_instant(local_date: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time: after the gap if it does not exist, else its first."""
    wall = datetime.combine(local_date, at.replace(tzinfo=None))
    # fold=0 is the first occurrence of an ambiguous (fall-back) wall time
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # A spring-forward gap: fold=0 lands after the transition and fold=1 before it; the first
    # existing instant after the gap is the transition itself, found to the second.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = first
    low, high = min(low, high), max(low, high)
    after_offset = high.astimezone(tz).utcoffset()
    while (high - low) > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(tz).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return high


def _done(job: str, local_day: date, last_ok: Mapping[str, date | None]) -> bool:
    # a success dated after local_day also counts: the wall clock may have been set back
    done_day = last_ok.get(job)
    return done_day is not None and done_day >= local_day


def _retry_at(
    job: str, slot: datetime, last_failed_at: Mapping[str, datetime | None], retry_s: float
) -> datetime | None:
    """When a failed run of this slot may be retried, or None if the slot has not failed."""
    failed = last_failed_at.get(job)
    if failed is None:
        return None
    failed_utc = _utc(failed)
    if failed_utc < slot:
        return None  # an older slot's failure
    return failed_utc + timedelta(seconds=retry_s)


def due_jobs(
    now: datetime,
    tz: ZoneInfo,
    times: Mapping[str, time],
    last_ok: Mapping[str, date | None],
    last_failed_at: Mapping[str, datetime | None],
    retry_s: float,
    earliest: datetime | None,
) -> list[str]:
    """Jobs whose slot today has passed, that have not succeeded today and are not backing off.

    A slot before `earliest` (the start time when catch-up is disabled) is not due.
    """
    now_utc = _utc(now)
    today = now_utc.astimezone(tz).date()
    earliest_utc = _utc(earliest) if earliest is not None else None
    due: list[tuple[datetime, str]] = []
    for job, at in times.items():
        slot = local_instant(today, at, tz)
        if now_utc < slot or _done(job, today, last_ok):
            continue
        if earliest_utc is not None and slot < earliest_utc:
            continue
        retry_at = _retry_at(job, slot, last_failed_at, retry_s)
        if retry_at is not None and now_utc < retry_at:
            continue
        due.append((slot, job))
    return [job for _, job in sorted(due)]


def next_wakeup(
    now: datetime,
    tz: ZoneInfo,
    times: Mapping[str, time],
    last_ok: Mapping[str, date | None],
    last_failed_at: Mapping[str, datetime | None],
    retry_s: float,
) -> datetime:
    """The earliest moment after now (UTC) at which a job can become due.

    Slots that are already due are not counted: the caller runs them before it sleeps.
    """
    now_utc = _utc(now)
    today = now_utc.astimezone(tz).date()
    candidates: list[datetime] = []
    for job, at in times.items():
        for days_ahead in range(_LOOKAHEAD_DAYS):
            local_day = today + timedelta(days=days_ahead)
            if _done(job, local_day, last_ok):
                continue
            slot = local_instant(local_day, at, tz)
            retry_at = _retry_at(job, slot, last_failed_at, retry_s)
            moment = max(slot, retry_at) if retry_at is not None else slot
            if moment > now_utc:
                candidates.append(moment)
                break
    return min(candidates, default=now_utc + timedelta(days=1))


def next_poll(origin: float, interval_s: float, now: float) -> float:
    """The first tick origin + k x interval_s strictly after now; missed ticks are skipped."""
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    if now < origin:
        return origin
    ticks = math.floor((now - origin) / interval_s) + 1
    moment = origin + ticks * interval_s
    while moment <= now:  # float rounding can land a tick on or before now
        ticks += 1
        moment = origin + ticks * interval_s
    return moment


def next_daily_run(
    now: datetime,
    tz: ZoneInfo,
    at: time,
    last_ok: date | None,
    last_failed_at: datetime | None,
    retry_s: float,
    earliest: datetime | None,
) -> datetime:
    """When one daily job runs next, as the scheduler decides it (UTC).

    A job that is due now gets the moment it became due (at or before now: its slot, or the end
    of its failure's back-off), so a caller can tell "due now" from "overdue for an hour".
    """
    times = {"job": at}
    done = {"job": last_ok}
    failed = {"job": last_failed_at}
    if due_jobs(now, tz, times, done, failed, retry_s, earliest):
        slot = local_instant(_utc(now).astimezone(tz).date(), at, tz)
        retry_at = _retry_at("job", slot, failed, retry_s)
        return max(slot, retry_at) if retry_at is not None else slot
    return next_wakeup(now, tz, times, done, failed, retry_s)


def next_interval_run(last_started: datetime | None, every_s: float, since: datetime) -> datetime:
    """When a job run every every_s seconds runs next (UTC): one interval after its last start.

    `since` is when the running process began (its first run waits one interval from then);
    a start before it belongs to an earlier process. The result may lie in the past: overdue.
    """
    origin = last_started if last_started is not None and last_started >= since else since
    return _utc(origin) + timedelta(seconds=every_s)


def next_poll_at(
    last_started: datetime | None, interval_s: float, now: datetime, since: datetime
) -> datetime:
    """When the poller's next tick falls (UTC), on the grid of its last start; missed ticks are
    skipped as the poller skips them. Without a poll since the process began it is due now."""
    if last_started is None or last_started < since:
        return _utc(now)
    origin = _utc(last_started).timestamp()
    tick = next_poll(origin, interval_s, _utc(now).timestamp())
    return datetime.fromtimestamp(tick, UTC)
