"""What the owner's charts show, as plain rows (pure): the dashboard draws them with QtCharts,
the scorecard e-mail as PNG images (:mod:`agent.insight.png`), and both save them as CSV.

Each function returns a title, the column names and the rows, so a chart's CSV is its rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from agent.config import BusinessHours
from agent.i18n import _
from agent.model import Status, WaitingTicket
from agent.policy import add_business_time

TIMELINE_HOURS = 8  # business hours ahead on the due-time timeline
SHARE_DAYS = 30
BREACH_WEEKS = 12
History = Sequence[tuple[date, int, int, int]]  # Status.history: day, answered, within, breaches


@dataclass(frozen=True, slots=True)
class ChartData:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([_cell(v) for v in row])
        return out.getvalue()


def _cell(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a name from a helpdesk is never a spreadsheet formula
    return "" if value is None else value


def waiting_by_category(tickets: Iterable[WaitingTicket]) -> ChartData:
    """Per category, alphabetical; tickets without one are "Other", last, as the tray's menu
    groups them (they were "(none)", in English in every language, first)."""
    other = _("Other")
    counts: dict[str, list[int]] = {}
    for w in tickets:
        c = counts.setdefault(w.ticket.category or other, [0, 0])
        c[0] += 1
        c[1] += w.at_risk
    order = sorted(counts, key=lambda name: (name == other, name.casefold(), name))
    rows = tuple((name, *counts[name]) for name in order)
    return ChartData(_("Waiting now by category"), ("category", "waiting", "at risk"), rows)


def due_timeline(
    tickets: Iterable[WaitingTicket], now: datetime, hours: BusinessHours | None
) -> tuple[datetime, ChartData]:
    """The end of the next TIMELINE_HOURS business hours, and the tickets due before it."""
    horizon = add_business_time(now, timedelta(hours=TIMELINE_HOURS), hours)
    rows = tuple(
        (w.due_at, w.ticket.category or _("Other"), w.at_risk, f"{w.ticket.source} #{w.ticket.id}")
        for w in tickets
        if w.due_at <= horizon
    )
    title = _("Due in the next {hours} business hours").format(hours=TIMELINE_HOURS)
    return horizon, ChartData(title, ("due_at", "category", "at_risk", "ticket"), rows)


def daily_share(history: History, today: date) -> ChartData:
    """The share answered within their window per day, for the last SHARE_DAYS days."""
    by_day = {d: (answered, within) for d, answered, within, _breaches in history}
    rows = []
    for n in range(SHARE_DAYS - 1, -1, -1):
        day = today - timedelta(days=n)
        answered, within = by_day.get(day, (0, 0))
        share = round(100 * within / answered, 1) if answered else None
        rows.append((day, answered, share))
    title = _("Answered within window, last {days} days (%)").format(days=SHARE_DAYS)
    return ChartData(title, ("day", "answered", "within_window_percent"), tuple(rows))


def weekly_breaches(history: History, today: date) -> ChartData:
    """Breaches per week (weeks start on Monday), the last BREACH_WEEKS weeks."""
    this_monday = today - timedelta(days=today.weekday())
    weeks = [this_monday - timedelta(weeks=n) for n in range(BREACH_WEEKS - 1, -1, -1)]
    counts = dict.fromkeys(weeks, 0)
    for d, _answered, _within, breaches in history:
        monday = d - timedelta(days=d.weekday())
        if monday in counts:
            counts[monday] += breaches
    rows = tuple((week, n) for week, n in counts.items())
    return ChartData(_("Breaches per week"), ("week_of", "breaches"), rows)


def all_charts(
    status: Status, now: datetime, hours: BusinessHours | None, today: date
) -> list[ChartData]:
    """The dashboard's four charts, in its order."""
    return [
        waiting_by_category(status.tickets),
        due_timeline(status.tickets, now, hours)[1],
        daily_share(status.history, today),
        weekly_breaches(status.history, today),
    ]
