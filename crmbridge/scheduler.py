"""The scheduler lives here: the only module that imports APScheduler.

For now it only checks cron expressions for the config loader; the daemon
(`crmbridge run`) will build its in-memory APScheduler here from the config's
jobs, with leases for replicas and a graceful shutdown.
"""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

__all__ = ["next_cron_time", "validate_cron"]


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
