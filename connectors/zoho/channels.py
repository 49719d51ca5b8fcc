"""Keeping the notification channel of ``crmbridge zoho watch`` alive.

Zoho channels never renew themselves: from API v4 on a channel lives at most a
week (an hour when no expiry is asked), and Zoho's advice is to enable it
again shortly before it lapses. Which channel is ours needs no local file: the
channel record lives in Zoho (``GET /actions/watch`` lists each channel's id,
events, ``notify_url``, ``token`` and ``channel_expiry``) and its token is the
connector's ``notify_token``, the one the webhook route verifies callbacks
with. :func:`renew` lists the channels, keeps those carrying that token, and
for each one within ``channel_renew_margin_s`` of its expiry sends ``PATCH
/actions/watch`` with the same channel id, events, URL and token and a new
expiry a week (less an hour) ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.zoho.client import ZohoClient
from connectors.zoho.reads import parse_time, zoho_time

__all__ = ["LIFETIME", "WatchChannel", "channels_with_token", "renew"]

#: how far ahead a renewal moves the expiry (Zoho's maximum is a week)
LIFETIME = timedelta(days=7, hours=-1)


@dataclass(frozen=True, slots=True)
class WatchChannel:
    """One notification channel as Zoho lists it (its modules' items joined)."""

    channel_id: str
    events: tuple[str, ...]
    notify_url: str
    token: str
    expiry: datetime


async def channels_with_token(client: ZohoClient, token: str) -> list[WatchChannel]:
    """The live channels whose callbacks carry ``token``."""
    answer = await client.call("GET", "/actions/watch")
    if answer.status >= 400:
        raise client.permanent(answer, "listing notification channels")
    if answer.empty:
        return []
    found: dict[str, dict[str, Any]] = {}
    for item in answer.body.get("watch") or []:
        if not isinstance(item, dict) or item.get("token") != token:
            continue
        expiry = parse_time(item.get("channel_expiry"))
        if expiry is None or not item.get("channel_id"):
            continue
        one = found.setdefault(
            str(item["channel_id"]),
            {"events": [], "notify_url": str(item.get("notify_url") or ""), "expiry": expiry},
        )
        one["events"] += [e for e in item.get("events") or [] if e not in one["events"]]
        one["expiry"] = min(one["expiry"], expiry)
    return [
        WatchChannel(cid, tuple(c["events"]), c["notify_url"], token, c["expiry"])
        for cid, c in found.items()
    ]


async def renew(
    client: ZohoClient, token: str, now: datetime, margin: timedelta
) -> tuple[list[WatchChannel], datetime | None]:
    """Renew our channels that expire within ``margin``; ``(renewed, next check)``.

    The next check is ``margin`` before the earliest expiry left; ``None`` when
    Zoho holds no channel with this token (nothing to keep).
    """
    channels = await channels_with_token(client, token)
    renewed: list[WatchChannel] = []
    expiries: list[datetime] = []
    for channel in channels:
        if channel.expiry - now > margin:
            expiries.append(channel.expiry)
            continue
        wanted = now + LIFETIME
        item = {
            "channel_id": channel.channel_id,
            "events": list(channel.events),
            "notify_url": channel.notify_url,
            "token": channel.token,
            "channel_expiry": zoho_time(wanted),
        }
        answer = await client.call("PATCH", "/actions/watch", json={"watch": [item]})
        results = answer.body.get("watch") if isinstance(answer.body, dict) else None
        result = results[0] if isinstance(results, list) and results else None
        if (
            answer.status >= 400
            or not isinstance(result, dict)
            or result.get("status") != "success"
        ):
            raise client.permanent(answer, f"renewing notification channel {channel.channel_id}")
        given = [
            parse_time(e.get("channel_expiry"))
            for e in (result.get("details") or {}).get("events") or []
            if isinstance(e, dict)
        ]
        expiry = min((g for g in given if g is not None), default=wanted)
        renewed.append(
            WatchChannel(channel.channel_id, channel.events, channel.notify_url, token, expiry)
        )
        expiries.append(expiry)
    if not expiries:
        return renewed, None
    return renewed, min(expiries) - margin
