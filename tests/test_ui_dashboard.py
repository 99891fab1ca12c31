"""The owner's dashboard, drawn offscreen from a Status: its four charts hold what the status
says, a new status redraws them, and a chart saves as PNG and its data as CSV."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetricsF, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton

from agent import i18n
from agent.config import from_dict
from agent.insight.charts import daily_share, due_timeline, waiting_by_category, weekly_breaches
from agent.model import DueState, Status, Ticket, WaitingTicket
from tests.test_ui_tray import make_tray, qsettings
from ui.dashboard import Dashboard, whole_ticks

__all__ = ["make_tray", "qsettings"]  # the tray's fixtures, used here

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
CONFIG = from_dict({"role": "owner"})


def waiting(tid: str, category: str, due_in: float, at_risk: bool = False) -> WaitingTicket:
    t = Ticket("Desk", tid, f"T{tid}", NOW, NOW, category=category)
    due = NOW + timedelta(minutes=due_in)
    return WaitingTicket(
        t, due, DueState.FINE, NOW, at_risk=at_risk, predicted_breach_at=due if at_risk else None
    )


HISTORY = tuple((NOW.date() - timedelta(days=n), 10, 10 - n % 4, n % 4) for n in range(40))


def status(*tickets: WaitingTicket) -> Status:
    return Status(NOW, tickets, history=HISTORY)


def series(view: Any) -> list[Any]:
    return list(view.chart().series())


def test_the_four_charts_show_the_status(qtbot: Any) -> None:
    tickets = (
        waiting("1", "Billing", 30, at_risk=True),
        waiting("2", "Billing", 90),
        waiting("3", "Sales", 600),  # 10 h: beyond the next eight hours
    )
    dash = Dashboard(status(*tickets), CONFIG, clock=lambda: NOW)
    qtbot.addWidget(dash)
    bars = series(dash.views[0])[0].barSets()
    assert [b.label() for b in bars] == ["waiting", "at risk"]
    assert [bars[0].at(i) for i in range(bars[0].count())] == [2.0, 1.0]  # Billing, Sales
    assert [bars[1].at(i) for i in range(bars[1].count())] == [1.0, 0.0]
    due, risky = series(dash.views[1])
    assert (due.count(), risky.count()) == (1, 1)
    assert risky.at(0).x() == (NOW + timedelta(minutes=30)).timestamp() * 1000
    (line,) = series(dash.views[2])
    assert line.count() == 30
    assert line.at(29).y() == 100.0  # today: 10 of 10 within window
    (weekly,) = series(dash.views[3])
    assert weekly.barSets()[0].count() == 12


def test_a_category_name_is_plain_text_on_the_charts(qtbot: Any, tmp_path: Path) -> None:
    """Qt Charts renders axis labels as rich text: a category named with <img src=…> loaded a
    local file into the chart, and <b> drew bold."""
    hostile = f"<b>Bold</b><img src='file://{tmp_path}/x.png'>&amp;" + "y" * 100
    dash = Dashboard(status(waiting("1", hostile, 30)), CONFIG, clock=lambda: NOW)
    qtbot.addWidget(dash)
    (bars,) = [a for a in dash.views[0].chart().axes() if hasattr(a, "categories")]
    (label,) = bars.categories()
    assert label.startswith("&lt;b&gt;Bold&lt;/b&gt;&lt;img") and label.endswith("…")
    lanes = [a for a in dash.views[1].chart().axes() if hasattr(a, "categoriesLabels")]
    assert [lane.categoriesLabels() for lane in lanes] == [[label]]


def test_a_new_status_redraws_the_charts(qtbot: Any) -> None:
    dash = Dashboard(status(waiting("1", "Billing", 30)), CONFIG, clock=lambda: NOW)
    qtbot.addWidget(dash)
    dash.show_status(status(waiting("1", "Billing", 30), waiting("2", "Support", 40)))
    bars = series(dash.views[0])[0].barSets()[0]
    assert [bars.at(i) for i in range(bars.count())] == [1.0, 1.0]


def test_a_chart_saves_as_png_and_its_data_as_csv(qtbot: Any, tmp_path: Path) -> None:
    dash = Dashboard(status(waiting("1", "Billing", 30, at_risk=True)), CONFIG, clock=lambda: NOW)
    qtbot.addWidget(dash)
    dash.show()
    assert dash.save_png(2, tmp_path / "share.png")
    image = QImage(str(tmp_path / "share.png"))
    assert image.width() >= 420 and image.height() >= 280
    dash.save_csv(1, tmp_path / "due.csv")
    lines = (tmp_path / "due.csv").read_text().splitlines()
    assert lines[0] == "due_at,category,at_risk,ticket"
    assert lines[1] == f"{(NOW + timedelta(minutes=30)).isoformat()},Billing,True,Desk #1"


def test_the_chart_rows() -> None:
    share = daily_share(HISTORY, NOW.date())
    assert len(share.rows) == 30 and share.rows[-1] == (NOW.date(), 10, 100.0)
    assert share.rows[-2] == (NOW.date() - timedelta(days=1), 10, 90.0)
    weeks = weekly_breaches(HISTORY, NOW.date())
    assert weeks.rows[-1] == (NOW.date(), 0)  # this week: today only, n=0
    assert weeks.rows[-2] == (date(2026, 11, 16), sum(n % 4 for n in range(1, 8)))
    hours = from_dict(
        {"business_hours": {"timezone": "UTC", "hours": "09:00-17:00"}}
    ).business_hours
    horizon, _ = due_timeline((), NOW, hours)
    assert horizon == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 7 h today, 1 h tomorrow


def test_tickets_without_a_category_are_the_menus_other_on_the_charts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dashboard charted them as "(none)", in English in every language and before every
    category; the menu and the tooltip call them "Other", last."""
    tickets = (waiting("1", "", 30), waiting("2", "Sales", 60), waiting("3", "billing", 90))
    assert [r[0] for r in waiting_by_category(tickets).rows] == ["billing", "Sales", "Other"]
    monkeypatch.setenv("LANGUAGE", "de")
    i18n.use("")
    try:
        rows = waiting_by_category(tickets).rows
        _, timeline = due_timeline(tickets, NOW, None)
    finally:
        monkeypatch.undo()
        i18n.use("")
    assert rows == (("billing", 1, 0), ("Sales", 1, 0), ("Sonstige", 1, 0))
    assert [r[1] for r in timeline.rows] == ["Sonstige", "Sales", "billing"]


def test_the_tray_menu_opens_the_dashboard_and_it_follows_the_status(
    qtbot: Any, make_tray: Any
) -> None:
    from ui import dashboard

    tray = make_tray(role="owner")
    tray.show_status(status(waiting("1", "Billing", 30, at_risk=True)))
    (action,) = [a for a in tray.menu.actions() if a.text() == "Dashboard…"]
    action.trigger()
    window = dashboard._window
    assert window is not None and window.isVisible()
    qtbot.addWidget(window)
    try:
        dashboard.show_status(status(waiting("1", "Billing", 30), waiting("2", "Sales", 40)))
        bars = series(window.views[0])[0].barSets()[0]
        assert [bars.at(i) for i in range(bars.count())] == [1.0, 1.0]
    finally:
        dashboard._window = None


def test_count_axes_tick_at_whole_numbers(qtbot: Any) -> None:
    """A week with one breach drew its axis as 0, 0, 0, 0, 1 (ticks at 0.25 labelled "%d")."""
    for top in range(0, 3000):
        axis_top, ticks = whole_ticks(top)
        step = axis_top / (ticks - 1)
        assert axis_top >= top and 2 <= ticks <= 6 and step == int(step), top
    one = tuple((NOW.date() - timedelta(days=n), 1, 1 - (n == 3), int(n == 3)) for n in range(40))
    dash = Dashboard(Status(NOW, (), history=one), CONFIG, clock=lambda: NOW)
    qtbot.addWidget(dash)
    axis = next(
        a for a in dash.views[3].chart().axes() if a.orientation() == Qt.Orientation.Vertical
    )
    ticks = [
        axis.min() + i * (axis.max() - axis.min()) / (axis.tickCount() - 1)
        for i in range(axis.tickCount())
    ]
    assert ticks == [0.0, 1.0]


def test_the_dashboard_fits_a_1280_by_720_screen(qtbot: Any) -> None:
    """It opened 760 px tall: on a laptop's 720 px screen the lower charts ran off the bottom."""
    from PySide6.QtCore import QSize

    from ui.settings.widgets import fit_screen

    dash = Dashboard(status(waiting("1", "Billing", 30)), CONFIG, clock=lambda: NOW)
    qtbot.addWidget(dash)
    fit_screen(dash, 1100, 760, QSize(1280, 720 - 32))  # less a panel
    assert dash.minimumSizeHint().height() <= 720 - 32 - 40
    assert dash.height() <= 720 - 32 - 40 and dash.width() <= 1280


@pytest.mark.parametrize("language", ["en", "pl"])
def test_every_week_of_the_breaches_chart_is_labelled_whole(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    """At the window's size every week's date under the breaches chart was cut to "…" (the
    labels leant at -60°, wider than a bar's room): each is now whole, none wider than its
    bar's room across the axis."""
    monkeypatch.setenv("LANGUAGE", language)
    i18n.use("")
    try:
        dash = Dashboard(status(), CONFIG, clock=lambda: NOW)
    finally:
        monkeypatch.undo()
        i18n.use("")  # the suite's English again
    qtbot.addWidget(dash)
    dash.show()
    qtbot.waitExposed(dash)
    chart = dash.views[3].chart()
    axis = next(a for a in chart.axes() if hasattr(a, "categories"))
    assert len(axis.categories()) == 12 and not axis.truncateLabels()
    metrics = QFontMetricsF(axis.labelsFont())
    room = chart.plotArea().width() / len(axis.categories())
    angle = math.radians(axis.labelsAngle())
    for label in axis.categories():
        across = abs(metrics.horizontalAdvance(label) * math.cos(angle))
        across += abs(metrics.height() * math.sin(angle))
        assert across <= room, label


def test_esc_closes_the_dashboard(qtbot: Any) -> None:
    """Esc did nothing in the dashboard; it closes it now, with the focus on a chart or on a
    Save button."""
    dash = Dashboard(status(waiting("1", "Billing", 30)), CONFIG, clock=lambda: NOW)
    qtbot.addWidget(dash)
    for target in (dash.views[0], dash.findChildren(QPushButton)[0]):
        dash.show()
        qtbot.waitExposed(dash)
        QTest.keyClick(target, Qt.Key.Key_Escape)
        assert not dash.isVisible(), target


def test_a_screen_reader_hears_each_chart_in_words_of_the_persons_language(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chart's description (what a screen reader reads for its bars) was the CSV's column
    names and Python's values, in English whatever the language: "due_at 2026-11-23
    10:30:00+00:00; category Billing; at_risk True", "within_window_percent None"."""
    monkeypatch.setenv("LANGUAGE", "de")
    i18n.use("")
    in_utc = from_dict({"role": "owner", "business_hours": {"timezone": "UTC"}})
    try:
        tickets = (waiting("1", "Billing", 30, at_risk=True), waiting("2", "Sales", 90))
        dash = Dashboard(status(*tickets), in_utc, clock=lambda: NOW)
        qtbot.addWidget(dash)
        said = [view.accessibleDescription() for view in dash.views]
    finally:
        monkeypatch.undo()
        i18n.use("")
    assert said[0] == "Billing: 1 wartend, 1 gefährdet. Sales: 1 wartend, 0 gefährdet"
    assert said[1].startswith("Desk #1 (Billing) fällig um 10:30, gefährdet. Desk #2 (Sales)")
    # the latest day and week first (a description says 14): HISTORY has 10 answered a day,
    # 10 - n % 4 in time, n days ago; today's week so far is today alone
    assert said[2].startswith("23.11.: 100 % innerhalb der Frist beantwortet. ")
    assert "22.11.: 90 % innerhalb der Frist beantwortet. 21.11.: 80 %" in said[2]
    assert said[3].startswith("Woche vom 23.11.: 0 Fristverletzungen. ")
    for words in said:
        for code in ("due_at", "at_risk", "True", "None", "within_window", "week_of", "+00:00"):
            assert code not in words
