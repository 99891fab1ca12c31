"""The scorecard: a period beside the one before, the same numbers in text, HTML, CSV and JSON,
the `ticketbell report` command over a queue's aggregates, and the demo's replayed history."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest

from agent.cli import main
from agent.config import demo_config
from agent.insight import report
from agent.insight.aggregates import Day, Outcome
from agent.insight.replay import demo_cycles, demo_history, replay
from agent.queue import LocalQueue

UTC = timezone.utc
TODAY = date(2026, 12, 2)


def outcome(day: date, wait: float, category: str, within: bool = True, **kw: Any) -> Outcome:
    late = 0.0 if within else wait - 60
    return Outcome(
        day,
        10,
        kw.get("source", "Desk"),
        category,
        kw.get("priority", "normal"),
        kw.get("assignee", "ann"),
        wait,
        within,
        late,
        kw.get("near", False),
    )


def history() -> list[Day]:
    days: dict[date, Day] = {}
    this_week = [
        outcome(TODAY, 10, "Billing"),
        outcome(TODAY - timedelta(days=1), 30, "Billing", near=True),
        outcome(TODAY - timedelta(days=6), 95, "Sales", within=False, assignee="=cmd()"),
    ]
    last_week = [
        outcome(TODAY - timedelta(days=7), 20, "Billing"),
        outcome(TODAY - timedelta(days=13), 40, "Sales"),
    ]
    too_old = [outcome(TODAY - timedelta(days=14), 500, "Billing", within=False)]
    for o in this_week + last_week + too_old:
        days.setdefault(o.day, Day(o.day)).add(o)
    days[TODAY].unreadable["Desk"] = 1800
    return list(days.values())


def test_a_week_beside_the_week_before() -> None:
    card = report.scorecard(history(), report.period_for(TODAY, "week"))
    team = card.team
    assert card.period == report.Period(date(2026, 11, 26), TODAY)
    assert (team.current["answered"], team.previous["answered"]) == (3, 2)
    assert team.current["within"] == pytest.approx(66.7)
    assert team.previous["within"] == 100.0
    assert (team.current["breaches"], team.current["late"], team.current["longest"]) == (1, 35, 95)
    assert (team.current["near_misses"], team.current["unreadable"]) == (1, 30)
    assert team.trends()["answered"] == "up" and team.trends()["within"] == "down"
    billing = next(r for r in card.rows if r.dimension == "category" and r.value == "Billing")
    assert (billing.current["answered"], billing.previous["answered"]) == (2, 1)
    assert billing.current["unreadable"] is None  # only sources have unreadable minutes
    desk = next(r for r in card.rows if r.dimension == "source")
    assert desk.current["unreadable"] == 30


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="ends"):
        report.period_for(TODAY, first=TODAY, last=TODAY - timedelta(days=1))
    assert report.period_for(TODAY, "month").days == 30


def test_one_end_of_the_period_and_its_length_make_the_period() -> None:
    """`report --to D` alone was the one day D, and `--week --from D` was D to today, the
    --week left unread; `--from D` alone stays D to today."""
    day = TODAY - timedelta(days=20)
    to_d = report.period_for(TODAY, "", last=day)
    assert (to_d.first, to_d.last) == (day - timedelta(days=6), day)
    week = report.period_for(TODAY, "week", first=day)
    assert (week.first, week.last) == (day, day + timedelta(days=6))
    month = report.period_for(TODAY, "month", last=day)
    assert (month.first, month.last, month.days) == (day - timedelta(days=29), day, 30)
    since = report.period_for(TODAY, "", first=day)
    assert (since.first, since.last) == (day, TODAY)


class Cells(HTMLParser):
    """The numbers of the HTML scorecard, by (dimension, value, metric)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[tuple[str, str, str], list[str]] = {}
        self.key: tuple[str, str, str] | None = None
        self.span = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "td" and "data-metric" in a:
            self.key = (a["data-dimension"] or "", a["data-value"] or "", a["data-metric"] or "")
            self.found[self.key] = ["", ""]
        if tag == "span" and self.key:
            self.span = a.get("class") or ""

    def handle_data(self, data: str) -> None:
        if self.key and self.span in ("now", "before"):
            self.found[self.key][0 if self.span == "now" else 1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self.span = ""
        if tag == "td":
            self.key = None


def test_html_csv_and_json_give_the_same_numbers() -> None:
    card = report.scorecard(history(), report.period_for(TODAY, "week"))
    data = report.as_json(card)
    from_json = {
        (r["dimension"], r["value"], m): [
            report.number(r["current"][m]),
            report.number(r["previous"][m]),
        ]
        for r in data["rows"]
        for m, _ in report.METRICS
    }
    from_csv = {}
    for row in csv.DictReader(io.StringIO(report.as_csv(card))):
        value = row["value"][1:] if row["value"].startswith("'=") else row["value"]
        from_csv[(row["dimension"], value, row["metric"])] = [row["current"], row["previous"]]
    parser = Cells()
    page = report.as_html(card)
    parser.feed(page)
    assert len(from_json) == 9 * len(card.rows) > 9 * 5
    assert from_csv == from_json
    assert parser.found == from_json
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
    assert "'=cmd()" in report.as_csv(card)  # a name is never a spreadsheet formula


def write_config(path: Path) -> Path:
    path.write_text('role = "owner"\n', encoding="utf-8")
    return path


def test_the_report_command_reads_the_queues_aggregates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = LocalQueue(tmp_path / "data")
    queue.aggregates.replace(history(), TODAY)
    queue.close()
    cfg = write_config(tmp_path / "t.toml")
    html, table = tmp_path / "card.html", tmp_path / "card.csv"
    args = ["report", "--config", str(cfg), "--data-dir", str(tmp_path / "data")]
    span = ["--from", "2026-11-26", "--to", "2026-12-02"]
    assert main([*args, *span, "--json", "--html", str(html), "--csv", str(table)]) == 0
    printed = orjson.loads(capsys.readouterr().out)
    assert printed["period"] == {"from": "2026-11-26", "to": "2026-12-02"}
    assert printed["rows"][0]["current"]["answered"] == 3
    assert printed["rows"][0]["previous"]["answered"] == 2
    assert "<table>" in html.read_text() and "Billing" in table.read_text()
    assert main([*args, *span]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[3].split()[:2] == ["Team", "answered"]
    assert text[4].split()[:4] == ["all", "tickets", "3", "(2↑)"]
    assert main([*args, "--from", "2026-12-02", "--to", "2026-12-01"]) == 2
    assert "ends" in capsys.readouterr().err


def test_the_demo_replay_measures_every_cycle_through_the_policy() -> None:
    config = demo_config()
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    end = start + timedelta(hours=2)
    (day,) = replay(config, start, end)
    cycles = list(demo_cycles("Demo helpdesk", start - timedelta(hours=1), end))
    answered = [(t, a) for t, a in cycles if start <= a < end]

    # demo windows: 5 min urgent, 10 min Sales, 15 min otherwise; urgent wins over Sales
    def window(t: Any) -> timedelta:
        minutes = 5 if t.priority == "urgent" else 10 if t.category == "Sales" else 15
        return timedelta(minutes=minutes)

    late = [t for t, a in answered if a > t.waiting_since + window(t)]
    team = day.cells["*"]
    assert team.answered == len(answered) > 100
    assert team.breaches == len(late) > 0
    assert sum(day.arrivals) == sum(1 for t, _ in cycles if start <= t.waiting_since < end)


def test_the_demo_history_is_kept_for_the_days_that_are_over(tmp_path: Path) -> None:
    config = demo_config()
    now = datetime(2026, 12, 2, 0, 30, tzinfo=UTC)
    first = demo_history(config, now, tmp_path)
    assert (tmp_path / "demo-history.json").exists()
    again = demo_history(config, now, tmp_path)
    assert [d.stored() for d in again] == [d.stored() for d in first]
    assert len({d.day for d in first}) >= 60


def test_report_demo_gives_the_demo_queue_its_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--demo", "--data-dir", str(tmp_path), "--json"]) == 0
    printed = orjson.loads(capsys.readouterr().out)
    assert printed["rows"][0]["current"]["answered"] > 1000  # a week of demo tickets
    queue = LocalQueue(tmp_path)
    try:
        assert len(queue.aggregates.days()) >= 60
    finally:
        queue.close()
