"""The scheduler lives here: the only module that imports APScheduler.

For now it only checks cron expressions for the config loader; the daemon
(`crmbridge run`) will build its in-memory APScheduler here from the config's
jobs, with leases for replicas and a graceful shutdown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["build_scheduler", "next_cron_time", "validate_cron"]


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
            id=f"job:{name}",
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
