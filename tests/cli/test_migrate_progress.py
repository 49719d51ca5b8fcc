"""``crmbridge migrate``'s progress: a bar per entity on a terminal, plain lines elsewhere.

The clock is a fake one moved by hand, so rates and ETAs are exact.
"""

from __future__ import annotations

import io

from rich.console import Console

from crmbridge.cli.migrate_cmd import _Feedback


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_rate_each_entity_from_its_own_start_with_an_eta_once_a_total_is_known() -> (
    None
):
    clock, screen = Ticks(), io.StringIO()
    feedback = _Feedback(live=False, console=Console(file=screen, width=200), clock=clock)
    feedback.leg_started("pull", {"stakeholders": None})
    clock.now = 10
    feedback.advance("stakeholders", "pull", 1000)
    feedback.leg_finished("pull")
    clock.now = 100
    feedback.leg_started("push", {"stakeholders": 1000})
    clock.now = 105
    feedback.advance("stakeholders", "push", 500)
    assert screen.getvalue().splitlines() == [
        "pull stakeholders: 1000 records, 100 records/s",
        "pull stakeholders: 1000 records in 10.0 s, 100 records/s",
        "push stakeholders: 500/1000 records, 100 records/s, ETA 0:00:05",
    ]


def test_a_leg_that_stops_says_where_it_stopped_not_that_it_finished() -> None:
    clock, screen = Ticks(), io.StringIO()
    feedback = _Feedback(live=False, console=Console(file=screen, width=200), clock=clock)
    feedback.leg_started("push", {"stakeholders": 6000})
    clock.now = 10
    feedback.advance("stakeholders", "push", 1000)
    feedback.leg_finished("push", complete=False)
    assert screen.getvalue().splitlines()[-1] == (
        "push stakeholders: stopped after 1000/6000 records, 10.0 s, 100 records/s"
    )


def test_plain_lines_come_every_two_seconds_and_once_more_when_an_entity_ends() -> None:
    clock, screen = Ticks(), io.StringIO()
    feedback = _Feedback(live=False, console=Console(file=screen, width=200), clock=clock)
    feedback.leg_started("pull", {"organizations": None, "stakeholders": None})
    for _ in range(4):
        clock.now += 1
        feedback.advance("organizations", "pull", 10)
    clock.now += 1
    feedback.advance("stakeholders", "pull", 50)
    assert screen.getvalue().splitlines() == [
        "pull organizations: 10 records, 10 records/s",
        "pull organizations: 30 records, 10 records/s",
        "pull organizations: 40 records in 4.0 s, 10 records/s",
        "pull stakeholders: 50 records, 50 records/s",
    ]


def test_bars_have_the_push_total_given_when_the_push_starts_and_finish_with_their_stage() -> None:
    clock = Ticks()
    terminal = Console(file=io.StringIO(), force_terminal=True, width=200)
    feedback = _Feedback(live=True, console=terminal, clock=clock)
    feedback.leg_started("pull", {"stakeholders": None})
    clock.now = 2
    feedback.advance("stakeholders", "pull", 6000)
    feedback.leg_finished("pull")
    feedback.leg_started("push", {"stakeholders": 6000})
    clock.now = 5
    feedback.advance("stakeholders", "push", 3000)
    pull, push = feedback.bars.tasks
    assert pull.finished
    assert pull.completed == pull.total == 6000
    assert push.total == 6000
    assert not push.finished
    assert push.fields["count"] == "3000/6000"
    assert push.fields["rate"] == "1,000"
    assert push.fields["eta"] == "ETA 0:00:03"
    assert push.elapsed == 3
    feedback.leg_finished("push")
    assert push.finished
