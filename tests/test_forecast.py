"""The forecast on crafted queues: silent without two weeks of history, a ticket's own kind,
the queue ahead of it at the team's pace, who is watching; the owner's at_risk alert in the
engine, once, ``forecast_lead`` ahead, and `check --json`'s fields."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from agent import policy
from agent.commands.check import check_json
from agent.config import Config, from_dict
from agent.insight.aggregates import Day, Outcome
from agent.insight.forecast import Outlook, Pace, at_risk_alerts, forecast, learn
from agent.model import Ticket, WaitingTicket
from agent.queue import LocalQueue, QueuedTicket
from tests.test_engine import Harness, make_config

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday


def past(
    days: int, waits: dict[str, float], per_hour: int = 4, today: date | None = None
) -> list[Day]:
    """``days`` days before ``today``: each hour 9-17 ``per_hour`` answers per category in
    ``waits`` (each waiting that many minutes) by one person, and as many arrivals."""
    out = []
    for n in range(1, days + 1):
        d = Day((today or NOW.date()) - timedelta(days=n))
        for hour in range(9, 17):
            for category, wait in waits.items():
                for _ in range(per_hour):
                    d.add(Outcome(d.day, hour, "Desk", category, "normal", "ann", wait, True))
                d.arrivals[hour] += per_hour
        out.append(d)
    return out


def waiting(config: Config, *tickets: Ticket) -> list[WaitingTicket]:
    return policy.evaluate([QueuedTicket(t, t.waiting_since) for t in tickets], config, NOW)


def ticket(tid: str, waited: float, category: str = "Support") -> Ticket:
    since = NOW - timedelta(minutes=waited)
    return Ticket("Desk", tid, f"T{tid}", since, since, category=category)


CONFIG = from_dict({"role": "owner", "windows": {"default": "1h"}})


def test_nothing_is_forecast_before_two_weeks_of_history() -> None:
    assert learn(past(13, {"Support": 90}), NOW.date()) is None
    assert forecast(waiting(CONFIG, ticket("1", 5)), None, NOW) == {}
    assert learn(past(14, {"Support": 90}), NOW.date()) is not None


def test_a_ticket_whose_kind_usually_waits_longer_than_its_window_is_at_risk() -> None:
    pace = learn(past(20, {"Billing": 90, "Support": 10}), NOW.date())
    assert isinstance(pace, Pace)
    found = forecast(waiting(CONFIG, ticket("B", 5, "Billing"), ticket("S", 5)), pace, NOW)
    billing, support = found["Desk\x1fB"], found["Desk\x1fS"]
    assert billing.at_risk and billing.predicted_breach_at == NOW + timedelta(minutes=55)
    assert "1 arrival in the last hour" not in billing.cause  # both arrived in the last hour
    assert billing.cause.startswith("2 arrivals in the last hour (usually 8)")
    assert not support.at_risk and support.predicted_breach_at is None


def test_the_queue_ahead_at_the_teams_pace_puts_the_last_ones_at_risk() -> None:
    # answers come 4 an hour: of ten new tickets due in an hour, the first four make it
    pace = learn(past(20, {"Support": 2}), NOW.date())
    tickets = [ticket(str(i), 0) for i in range(10)]
    found = forecast(waiting(CONFIG, *tickets), pace, NOW)
    assert [found[t.key].at_risk for t in tickets] == [False] * 4 + [True] * 6
    assert found[tickets[9].key].cause.endswith("9 due before it")


def test_who_is_watching_changes_the_pace() -> None:
    pace = learn(past(20, {"Support": 2}), NOW.date())
    tickets = [ticket(str(i), 0) for i in range(10)]
    nobody = forecast(waiting(CONFIG, *tickets), pace, NOW, watchers=0)
    assert all(p.at_risk for p in nobody.values())
    assert "0 assistants watching" in nobody[tickets[0].key].cause
    three = forecast(waiting(CONFIG, *tickets), pace, NOW, watchers=3)  # three times the one
    assert sum(p.at_risk for p in three.values()) == 0


def test_the_alert_comes_once_lead_ahead_and_only_for_an_owner() -> None:
    pace = learn(past(20, {"Billing": 90}), NOW.date())
    ws = waiting(CONFIG, ticket("B", 5, "Billing"))
    found = forecast(ws, pace, NOW)
    lead = timedelta(minutes=30)
    assert at_risk_alerts(ws, found, lead, NOW, set()) == []  # due in 55 min: not yet
    later = NOW + timedelta(minutes=26)
    ws_later = policy.evaluate([QueuedTicket(ws[0].ticket, NOW)], CONFIG, later)
    (alert,) = at_risk_alerts(ws_later, found, lead, later, set())
    assert alert.kind == "at_risk" and "expected to breach at" in alert.message
    assert at_risk_alerts(ws_later, found, lead, later, {alert.key}) == []
    outlook = Outlook()
    assistant = from_dict({"windows": {"default": "1h"}})
    outlook.look(ws_later, lambda: past(20, {"Billing": 90}), assistant, later)
    assert outlook.alerts(ws_later, assistant, later, set()) == []


def test_the_engine_warns_the_owner_and_check_json_says_at_risk(tmp_path: Path, clock: Any) -> None:
    config = make_config(interval="1h", windows={"default": "1h"}, role="owner")
    seeded = LocalQueue(tmp_path / "data")  # two weeks and more of history: Refunds wait 90 min
    seeded.aggregates.replace(past(20, {"": 90}, today=clock.now().date()), clock.now().date())
    seeded.close()
    h = Harness(tmp_path, clock, config)
    since = clock.now()
    h.sources["A"].tickets = [Ticket("A", "7", "Refund", since, since)]
    try:
        h.start()
        h.until(lambda: [a.kind for a in h.alerts] == ["new"])
        (w,) = h.agent.status.tickets
        assert w.at_risk and w.predicted_breach_at == since + timedelta(hours=1)
        (row,) = check_json(h.agent.status, frozenset(), config)["tickets"]
        assert row["at_risk"] is True
        assert row["predicted_breach_at"] == (since + timedelta(hours=1)).isoformat()
        h.advance(29 * 60)
        h.until(lambda: True)
        assert [a.kind for a in h.alerts] == ["new"]
        h.advance(60)  # 30 minutes before the due time: the engine wakes for it
        h.until(lambda: [a.kind for a in h.alerts] == ["new", "at_risk"])
        assert "in the last hour" in h.alerts[-1].message
        h.advance(10 * 60)
        h.until(lambda: True)
        assert [a.kind for a in h.alerts] == ["new", "at_risk"]
    finally:
        h.agent.stop()
