"""The scheduler lives here: the only module that imports APScheduler.

It checks cron expressions for the config loader, builds the daemon's
in-memory scheduler from the config's jobs, and reads back when that
scheduler fires each job next (what ``crmbridge status`` shows while
``crmbridge run`` is up).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["build_scheduler", "next_cron_time", "next_fire_times", "validate_cron"]

_JOB_PREFIX = "job:"


def validate_cron(expr: str) -> str | None:
    """Check a 5-field crontab expression; return what is wrong with it, or ``None``."""
    try:
        # A fixed zone keeps the check from consulting the host's local zone.
        CronTrigger.from_crontab(expr, timezone="UTC")
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None


def next_cron_time(expr: str, after: datetime, timezone: str = "UTC") -> datetime | None:
    """When a crontab expression fires next after ``after`` (in ``timezone``), or ``None``."""
    trigger = CronTrigger.from_crontab(expr, timezone=timezone)
    fire: datetime | None = trigger.get_next_fire_time(None, after)
    return fire


def build_scheduler(
    schedules: Mapping[str, Any],
    fire: Callable[[str], Any],
    *,
    timezone: str = "UTC",
    housekeeping: Callable[[], None] | None = None,
) -> AsyncIOScheduler:
    """An asyncio scheduler calling ``fire(job)`` on each job's ``every``/``cron`` schedule.

    ``schedules`` maps job names to their ``ScheduleConfig`` (``None``: run by
    hand only). A job never has two calls at once and missed calls are
    coalesced into one; ``housekeeping`` (pruning old runs) runs daily.
    """
    scheduler = AsyncIOScheduler(timezone=timezone)
    for name, schedule in schedules.items():
        if schedule is None:
            continue
        if schedule.every is not None:
            trigger: Any = IntervalTrigger(
                seconds=schedule.every.total_seconds(), timezone=timezone
            )
        else:
            trigger = CronTrigger.from_crontab(schedule.cron, timezone=timezone)
        # an interval job runs once at start, then every interval; a cron job waits for its time
        first: dict[str, Any] = (
            {"next_run_time": datetime.now().astimezone()} if schedule.every is not None else {}
        )
        scheduler.add_job(
            fire,
            trigger,
            args=[name],
            id=f"{_JOB_PREFIX}{name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            **first,
        )
    if housekeeping is not None:
        scheduler.add_job(
            housekeeping, IntervalTrigger(days=1), id="housekeeping", max_instances=1, coalesce=True
        )
    return scheduler


def next_fire_times(scheduler: AsyncIOScheduler) -> dict[str, datetime | None]:
    """When ``scheduler`` (from :func:`build_scheduler`, started) fires each job next, in UTC.

    ``None`` for a job the scheduler will not fire again (paused, or a trigger with no more times).
    """
    times: dict[str, datetime | None] = {}
    for job in scheduler.get_jobs():
        if job.id.startswith(_JOB_PREFIX):
            at: datetime | None = job.next_run_time
            times[job.id.removeprefix(_JOB_PREFIX)] = at.astimezone(UTC) if at else None
    return times
