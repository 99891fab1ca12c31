"""The owner's dashboard: four charts (QtCharts) of what the agent publishes — waiting now by
category, the due times of the next eight business hours with the tickets at risk marked, the
share answered within window per day for 30 days, breaches per week. Each chart can be saved
as PNG and its data as CSV.

It renders only :class:`~agent.model.Status` values (their ``history`` carries the daily
aggregates), handed to :func:`show_status` by the bridge's signal on the main thread; the rows
come from :mod:`agent.insight.charts`. QtCharts is imported when the window is first opened.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Callable
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent.config import Config
from agent.escalation import display_zone
from agent.i18n import _, day_month, ngettext, number, time_text
from agent.insight.charts import ChartData, all_charts, due_timeline
from agent.model import Status, one_line, utcnow
from ui.access import escape_closes, show_focus

log = logging.getLogger(__name__)

_window: Dashboard | None = None


PNG_SIZE = (900, 560)  # a saved chart, in pixels
LABEL_LENGTH = 30  # a category on a chart axis, in characters ("…" past it)


class Dashboard(QWidget):
    """The dashboard window: a 2 × 2 grid of charts, each with its Save buttons."""

    def __init__(
        self, status: Status, config: Config, clock: Callable[[], datetime] = utcnow
    ) -> None:
        super().__init__()
        from PySide6.QtCharts import QChartView
        from PySide6.QtGui import QPainter

        from ui.settings.widgets import fit_screen

        self.setWindowTitle(_("Ticketbell dashboard"))
        self.config = config
        self.clock = clock
        self.data: list[ChartData] = []
        self.views: list[Any] = []
        grid = QGridLayout(self)
        for index in range(4):
            view = QChartView()
            view.setRenderHint(QPainter.RenderHint.Antialiasing)
            view.setMinimumSize(400, 220)  # two rows fit a 1280 × 720 screen's 680 px
            self.views.append(view)
            grid.addWidget(self._panel(view, index), index // 2, index % 2)
        fit_screen(self, 1100, 760)
        self.show_status(status)
        show_focus(self)

    def _panel(self, view: Any, index: int) -> QWidget:
        panel = QWidget()
        box = QVBoxLayout(panel)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(view)
        row = QHBoxLayout()
        row.addStretch(1)
        saves = ((_("Save as PNG…"), self._ask_png), (_("Save data as CSV…"), self._ask_csv))
        for text, action in saves:
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, i=index, act=action: act(i))
            row.addWidget(button)
        box.addLayout(row)
        return panel

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Esc closes the window, as it does a dialog."""
        if not escape_closes(self, event):
            super().keyPressEvent(event)

    # -- what the agent publishes

    def show_status(self, status: Status) -> None:
        """Draw ``status`` (on the main thread: the bridge's signal brings it here)."""
        now = self.clock()
        tz = display_zone(self.config)
        today = now.astimezone(tz).date()
        hours = self.config.business_hours
        self.data = all_charts(status, now, hours, today)
        horizon = due_timeline(status.tickets, now, hours)[0]
        charts = [
            _bars(self.data[0], (_("waiting"), _("at risk"))),
            _timeline(self.data[1], now, horizon),
            _share(self.data[2]),
            _bars(self.data[3], (_("breaches"),)),
        ]
        for index, (view, chart, data) in enumerate(
            zip(self.views, charts, self.data, strict=True)
        ):
            old = view.chart()
            view.setChart(chart)
            rows = spoken_rows(index, data, tz)
            # the days and weeks newest first: the 14 said are the latest, not the oldest
            _name_panel(view, data, rows[::-1] if index >= 2 else rows)
            if old is not None:
                old.deleteLater()

    # -- saving

    def save_png(self, index: int, path: Path) -> bool:
        """The chart at :data:`PNG_SIZE`, laid out anew at that size: a saved chart is the
        same picture whatever the window's size (a grab of a small window is a small PNG)."""
        from PySide6.QtCore import QRectF, QSizeF
        from PySide6.QtGui import QColor, QImage, QImageWriter, QPainter

        chart = self.views[index].chart()
        shown = chart.size()
        image = QImage(*PNG_SIZE, QImage.Format.Format_ARGB32)
        image.fill(QColor("white"))
        chart.resize(QSizeF(*PNG_SIZE))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        try:
            chart.scene().render(painter, QRectF(image.rect()), chart.sceneBoundingRect())
        finally:
            painter.end()
            chart.resize(shown)
        return QImageWriter(str(path), b"png").write(image)

    def save_csv(self, index: int, path: Path) -> None:
        path.write_text(self.data[index].csv(), encoding="utf-8")

    def _ask_png(self, index: int) -> None:
        name, _kind = QFileDialog.getSaveFileName(self, _("Save chart"), "chart.png", "PNG (*.png)")
        if name and not self.save_png(index, Path(name)):
            log.error("could not save the chart as %s", name)

    def _ask_csv(self, index: int) -> None:
        name, _kind = QFileDialog.getSaveFileName(self, _("Save data"), "chart.csv", "CSV (*.csv)")
        if name:
            try:
                self.save_csv(index, Path(name))
            except OSError as exc:
                log.error("could not save the data as %s: %s", name, exc)


def _chart(title: str) -> Any:
    from PySide6.QtCharts import QChart

    chart = QChart()
    chart.setTitle(title)
    chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
    return chart


def _bars(data: ChartData, names: tuple[str, ...]) -> Any:
    """Bars of the columns after the first, one bar set per name, labelled by the first."""
    from PySide6.QtCharts import QBarCategoryAxis, QBarSeries, QBarSet, QValueAxis
    from PySide6.QtGui import QColor

    chart = _chart(data.title)
    series = QBarSeries()
    for column, name in enumerate(names, start=1):
        bars = QBarSet(name)
        if name == _("at risk"):
            bars.setColor(QColor("#d32f2f"))
        for row in data.rows:
            bars.append(float(row[column]))  # type: ignore[arg-type]
        series.append(bars)
    chart.addSeries(series)
    labels = QBarCategoryAxis()
    labels.append([_label(row[0]) for row in data.rows])
    if data.rows and hasattr(data.rows[0][0], "strftime"):
        # a dozen weeks side by side, each date upright in its bar's room: at -60° Qt cut
        # every one to "…" (and, not cut, hid the first and last past the plot's edges)
        labels.setLabelsAngle(-90)
        labels.setTruncateLabels(False)
    chart.addAxis(labels, Qt.AlignmentFlag.AlignBottom)
    series.attachAxis(labels)
    counts = QValueAxis()
    counts.setLabelFormat("%d")
    top = max((float(row[c]) for row in data.rows for c in range(1, len(names) + 1)), default=0)  # type: ignore[arg-type]
    axis_top, ticks = whole_ticks(top)
    counts.setRange(0, axis_top)
    counts.setTickCount(ticks)
    chart.addAxis(counts, Qt.AlignmentFlag.AlignLeft)
    series.attachAxis(counts)
    if len(names) == 1:
        chart.legend().hide()
    return chart


def whole_ticks(top: float) -> tuple[int, int]:
    """An axis of counts from 0 that holds ``top``, and its number of ticks, every tick a whole
    number (1, 2 or 5 times a power of ten apart, at most 6 ticks): Qt's own nice numbers put
    ticks at 0.25 on a 0–1 axis, which "%d" labels 0, 0, 0, 0, 1."""
    step = 1
    while top / step > 5:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    axis_top = max(step, math.ceil(top / step) * step)
    return axis_top, axis_top // step + 1


def _label(value: object) -> str:
    """A chart's axis label: a day, or a category's name as plain text (Qt Charts renders its
    labels as rich text: a name with <img src=…> loaded a local file into the chart)."""
    if isinstance(value, date):
        return day_month(value)
    return html.escape(one_line(str(value), LABEL_LENGTH))


def _timeline(data: ChartData, now: datetime, horizon: datetime) -> Any:
    """Due times along the next business hours, one lane per category; at risk in red."""
    from PySide6.QtCharts import QCategoryAxis, QDateTimeAxis, QScatterSeries
    from PySide6.QtGui import QColor

    chart = _chart(data.title)
    lanes = sorted({str(row[1]) for row in data.rows})
    due, risky = QScatterSeries(), QScatterSeries()
    due.setName(_("due"))
    risky.setName(_("at risk"))
    risky.setColor(QColor("#d32f2f"))
    for at, category, at_risk, _ticket in data.rows:
        ms = at.timestamp() * 1000  # type: ignore[attr-defined]
        (risky if at_risk else due).append(ms, float(lanes.index(str(category)) + 1))
    times = QDateTimeAxis()
    times.setFormat("HH:mm")
    first = min([now, *(row[0] for row in data.rows)])  # type: ignore[type-var]
    times.setRange(first, horizon)  # type: ignore[arg-type]
    axis = QCategoryAxis()
    axis.setLabelsPosition(QCategoryAxis.AxisLabelsPosition.AxisLabelsPositionOnValue)
    for n, lane in enumerate(lanes, start=1):
        axis.append(_label(lane), n)
    axis.setRange(0, len(lanes) + 1)
    for series in (due, risky):
        chart.addSeries(series)
    chart.addAxis(times, Qt.AlignmentFlag.AlignBottom)
    chart.addAxis(axis, Qt.AlignmentFlag.AlignLeft)
    for series in (due, risky):
        series.attachAxis(times)
        series.attachAxis(axis)
    return chart


def _share(data: ChartData) -> Any:
    from PySide6.QtCharts import QDateTimeAxis, QLineSeries, QValueAxis

    chart = _chart(data.title)
    line = QLineSeries()
    line.setName(_("within window %"))
    line.setPointsVisible(True)
    for day, _answered, share in data.rows:
        if share is not None:
            noon = datetime.combine(day, time(12))  # type: ignore[arg-type]
            line.append(noon.timestamp() * 1000, float(share))  # type: ignore[arg-type]
    chart.addSeries(line)
    days = QDateTimeAxis()
    days.setFormat("d MMM")
    days.setTickCount(6)
    first, last = data.rows[0][0], data.rows[-1][0]
    days.setRange(datetime.combine(first, time(0)), datetime.combine(last, time(23, 59)))  # type: ignore[arg-type]
    chart.addAxis(days, Qt.AlignmentFlag.AlignBottom)
    line.attachAxis(days)
    share_axis = QValueAxis()
    share_axis.setRange(0, 100)
    share_axis.setLabelFormat("%d%%")
    chart.addAxis(share_axis, Qt.AlignmentFlag.AlignLeft)
    line.attachAxis(share_axis)
    chart.legend().hide()
    return chart


# -- the tray's menu and the bridge


def open_dashboard(tray: Any) -> Dashboard:
    """Show the dashboard for the tray's status and config (one window, raised if open)."""
    global _window
    if _window is None:
        _window = Dashboard(tray.status, tray.config)
    else:
        _window.config = tray.config
        _window.show_status(tray.status)
    _window.show()
    _window.raise_()
    _window.activateWindow()
    return _window


def show_status(status: Status) -> None:
    """The bridge's status signal: redraw the open dashboard, if any."""
    if _window is not None and _window.isVisible():
        _window.show_status(status)


def _name_panel(view: Any, data: ChartData, rows: list[str]) -> None:
    """A chart is read out by its title, its figures as words (a screen reader cannot see the
    bars), and its Save buttons say which chart they save."""
    view.setAccessibleName(data.title)
    view.setAccessibleDescription(". ".join(rows[:14]))
    for button in view.parentWidget().findChildren(QPushButton):
        button.setAccessibleDescription(data.title)


def spoken_rows(index: int, data: ChartData, tz: tzinfo | None) -> list[str]:
    """The rows of chart ``index`` as a screen reader says them, in the person's language:
    "Billing: 2 waiting, 1 at risk", "Desk #4711 (Billing) due at 14:30, at risk",
    "16/11: 80% answered within window", "week of 16/11: 3 breaches" (the CSV's column names,
    ISO times, True and None were read out before)."""
    rows: list[str] = []
    for row in data.rows:
        if index == 0:
            said = _("{category}: {waiting} waiting, {at_risk} at risk")
            rows.append(said.format(category=row[0], waiting=row[1], at_risk=row[2]))
        elif index == 1:
            due = _("{ticket} ({category}) due at {time}")
            at: datetime = row[0]  # type: ignore[assignment]
            text = due.format(ticket=row[3], category=row[1], time=time_text(at, tz))
            rows.append(", ".join((text, _("at risk"))) if row[2] else text)
        elif index == 2:
            day: date = row[0]  # type: ignore[assignment]
            share = _("{day}: {share}% answered within window")
            pct = row[2]
            none = _("{day}: nothing answered")
            rows.append(
                share.format(day=day_month(day), share=number(pct))  # type: ignore[arg-type]
                if pct is not None
                else none.format(day=day_month(day))
            )
        else:
            week: date = row[0]  # type: ignore[assignment]
            n: int = row[1]  # type: ignore[assignment]
            breaches = ngettext("{count} breach", "{count} breaches", n).format(count=n)
            rows.append(
                _("week of {day}: {breaches}").format(day=day_month(week), breaches=breaches)
            )
    return rows
