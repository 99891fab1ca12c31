"""The Response times page: the default window, rules for some tickets, business hours.
Labels and "empty: …" texts are the declarations' (``agent.config.schema``)."""

from __future__ import annotations

import zoneinfo
from datetime import time
from typing import Any

from PySide6.QtCore import Qt, QTime, QTimeZone, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from agent import config as config_module
from agent.config import WEEKDAYS, ConfigError, schema
from agent.i18n import _, weekday_names
from ui.settings.widgets import (
    append_row,
    clear,
    plain_label,
    retab,
    row_list,
    show,
    show_error_in,
    with_error,
)

#: how a rule's keys are named in its row's error ("reply within: … is not a duration"),
#: translated where shown
RULE_NAMES = {opt.key: opt.label for opt in schema.RULE}


class RuleRow(QWidget):
    """One response-window rule: which tickets (helpdesk, category, priority) and the window."""

    removed = Signal(object)

    def __init__(self, rule: dict[str, Any]) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.source = QLineEdit(str(rule.get("source", "")))
        self.source.setPlaceholderText(_("any helpdesk"))
        self.category = QLineEdit(str(rule.get("category", "")))
        self.category.setPlaceholderText(_("any category"))
        self.priority = QComboBox()
        for p in ("", *schema.PRIORITIES):
            self.priority.addItem(_(schema.PRIORITY_NAMES[p]) if p else _("any priority"), p)
        # as the config reads it: "Urgent" in a hand-written file is urgent, not any priority
        priority = str(rule.get("priority", "")).strip().lower()
        self.priority.setCurrentIndex(max(0, self.priority.findData(priority)))
        # not "window": that is QWidget.window()
        self.window_edit = QLineEdit(str(rule.get("window", "")))
        self.window_edit.setPlaceholderText(_("e.g. {example}").format(example="30m"))
        self.window_edit.setMaximumWidth(90)
        lay.addLayout(self._row())
        self.error = plain_label(error=True)
        lay.addWidget(self.error)

    def _row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        for widget, key in ((self.source, "source"), (self.category, "category")):
            widget.setAccessibleName(_(RULE_NAMES[key]))
            row.addWidget(widget, 1)
        # a combo box's name on AT-SPI is its value: a label of its own says what it is
        row.addWidget(QLabel(_(RULE_NAMES["priority"])))
        row.addWidget(self.priority, 1)
        row.addWidget(QLabel(_(RULE_NAMES["window"])))
        row.addWidget(self.window_edit)
        remove = QPushButton(_("Remove"))
        remove.clicked.connect(lambda: self.removed.emit(self))
        row.addWidget(remove)
        return row

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {}
        for key, text in (
            ("source", self.source.text()),
            ("category", self.category.text()),
            ("priority", self.priority.currentData()),
            ("window", self.window_edit.text()),
        ):
            if text and text.strip():
                rule[key] = text.strip()
        return rule


def days_text(days: list[int]) -> str:
    """Ticked weekdays (0 = Monday) as the config writes them: "Mon-Fri", "Mon,Wed,Fri"."""
    names = [WEEKDAYS[d].title() for d in range(7)]
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts = [
        f"{names[r[0]]}-{names[r[-1]]}" if len(r) > 2 else ",".join(names[d] for d in r)
        for r in runs
    ]
    return ",".join(parts)


def _parse_days(text: str) -> set[int] | None:
    try:
        return set(config_module.parse_days(text))
    except ValueError:
        return None


def _parse_hours(text: str) -> tuple[QTime, QTime] | None:
    try:
        start, end = config_module.parse_time_range(text)
    except ValueError:
        return None
    ends = QTime(0, 0) if end == time.max else QTime(end.hour, end.minute)
    return QTime(start.hour, start.minute), ends


def _bh(key: str) -> Any:
    return schema.declared("business_hours", key)


class ResponsePage(QWidget):
    """Response windows (default and rules) and business hours."""

    def __init__(self, windows: dict[str, Any], hours: dict[str, Any]) -> None:
        super().__init__()
        outer = QVBoxLayout(self)
        form = QFormLayout()
        outer.addLayout(form)
        default = schema.declared("windows", "default")
        self.window_default = QLineEdit(str(windows.get("default", "")))
        means = schema.empty_means("windows", "default")
        self.window_default.setPlaceholderText(
            _("e.g. {example} (empty: {means})").format(example=default.default, means=means)
        )
        box, self.default_error = with_error(self.window_default)
        form.addRow(_(default.label), box)
        use_due = schema.declared("windows", "use_helpdesk_due")
        self.use_due = QCheckBox(_(use_due.label))
        self.use_due.setChecked(bool(windows.get("use_helpdesk_due", use_due.default)))
        form.addRow("", self.use_due)
        outer.addWidget(self._rules_box(windows))
        outer.addWidget(self._hours_box(hours))
        outer.addStretch(1)
        self.index: dict[str, QLabel] = {}

    def _rules_box(self, windows: dict[str, Any]) -> QGroupBox:
        rules_box = QGroupBox(_("Other times for some tickets (the most specific rule wins)"))
        rules_lay = QVBoxLayout(rules_box)
        self.rules: list[RuleRow] = []
        self.rules_lay, self.rules_error = row_list(
            rules_lay, _("Add a rule"), lambda: self.add_rule({}).category.setFocus()
        )
        for rule in windows.get("rules", []):
            if isinstance(rule, dict):
                self.add_rule(rule)
        return rules_box

    def _hours_box(self, hours: dict[str, Any]) -> QGroupBox:
        self.hours_box = QGroupBox(_("Count only business hours (the clock stops outside them)"))
        self.hours_box.setCheckable(True)
        self.hours_box.setChecked(bool(hours))
        form = QFormLayout(self.hours_box)
        box, self.zone_error = with_error(self._zone(hours))
        form.addRow(_(_bh("timezone").label), box)
        box, self.days_error = with_error(self._days(hours))
        form.addRow(_(_bh("days").label), box)
        if self.bh_days_unread:
            unread = _("{days} could not be read; tick the days")
            unread = unread.format(days=repr(hours.get("days")))
            show(self.days_error, unread)
        box, self.hours_error = with_error(self._hours(hours), _(_bh("hours").help))
        form.addRow(_(_bh("hours").label), box)
        if self.bh_hours_unread:  # shown as 09:00-17:00, which the person may not want
            unread = _("{hours} could not be read; set the hours")
            show(self.hours_error, unread.format(hours=repr(hours.get("hours"))))
        box, self.holidays_error = with_error(self._holidays(hours))
        form.addRow(_(_bh("holidays").label), box)
        return self.hours_box

    def _zone(self, hours: dict[str, Any]) -> QComboBox:
        self.bh_zone = QComboBox()
        self.bh_zone.setEditable(True)
        self.bh_zone.addItems(sorted(zoneinfo.available_timezones()))
        self.bh_zone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        completer = self.bh_zone.completer()
        assert completer is not None  # an editable combo box has one
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        zone = str(hours.get("timezone", "")) or bytes(QTimeZone.systemTimeZoneId().data()).decode()
        self.bh_zone.setCurrentText(zone)
        return self.bh_zone

    def _days(self, hours: dict[str, Any]) -> QHBoxLayout:
        days_row = QHBoxLayout()
        self.bh_days: list[QCheckBox] = []
        ticked = _parse_days(str(hours.get("days", _bh("days").default)))
        self.bh_days_unread = ticked is None
        for d, name in enumerate(weekday_names()):
            check = QCheckBox(name)
            check.setChecked(d in (ticked or ()))
            self.bh_days.append(check)
            days_row.addWidget(check)
        days_row.addStretch(1)
        return days_row

    def _hours(self, hours: dict[str, Any]) -> QHBoxLayout:
        row = QHBoxLayout()
        self.bh_start = QTimeEdit()
        self.bh_end = QTimeEdit()
        for edit in (self.bh_start, self.bh_end):
            edit.setDisplayFormat("HH:mm")
        read = _parse_hours(str(hours.get("hours", _bh("hours").default)))
        self.bh_hours_unread = read is None
        start, end = read or (QTime(9, 0), QTime(17, 0))
        self.bh_start.setTime(start)
        self.bh_end.setTime(end)
        self.bh_start.setAccessibleName(_("Opens at"))
        self.bh_end.setAccessibleName(_("Closes at"))
        for widget in (QLabel(_("from")), self.bh_start, QLabel(_("to")), self.bh_end):
            row.addWidget(widget)
        row.addStretch(1)
        return row

    def _holidays(self, hours: dict[str, Any]) -> QLineEdit:
        import holidays

        self.bh_holidays = QLineEdit(str(hours.get("holidays", "")))
        self.bh_holidays.setPlaceholderText(_("country code, e.g. GB, US-CA, DE-BY (empty: none)"))
        codes = sorted(c for c in holidays.list_supported_countries() if len(c) == 2)
        self.bh_holidays.setCompleter(QCompleter(codes, self.bh_holidays))
        return self.bh_holidays

    def add_rule(self, rule: dict[str, Any]) -> RuleRow:
        row = RuleRow(rule)
        append_row(self.rules, self.rules_lay, row)
        retab(self)
        return row

    def _collect_windows(self, data: dict[str, Any]) -> None:
        windows = dict(data.get("windows", {}))
        text = self.window_default.text().strip()
        if text:
            windows["default"] = text
        else:
            windows.pop("default", None)
        if self.use_due.isChecked():
            windows.pop("use_helpdesk_due", None)
        else:
            windows["use_helpdesk_due"] = False
        rules = [rule for rule in (row.rule() for row in self.rules) if rule]
        kept = [row for row in self.rules if row.rule()]
        self.index |= {f"windows.rules[{i}]": row.error for i, row in enumerate(kept)}
        if rules:
            windows["rules"] = rules
        else:
            windows.pop("rules", None)
        if windows:
            data["windows"] = windows
        else:
            data.pop("windows", None)

    def _collect_hours(self, data: dict[str, Any]) -> None:
        if not self.hours_box.isChecked():
            data.pop("business_hours", None)
            return
        days = [d for d, check in enumerate(self.bh_days) if check.isChecked()]
        start, end = (t.time().toString("HH:mm") for t in (self.bh_start, self.bh_end))
        hours = {
            "timezone": self.bh_zone.currentText().strip(),
            "days": days_text(days),
            "hours": f"{start}-{'24:00' if end == '00:00' else end}",
        }
        if self.bh_holidays.text().strip():
            hours["holidays"] = self.bh_holidays.text().strip().upper()
        data["business_hours"] = hours

    def collect(self, data: dict[str, Any]) -> None:
        """Write the page into ``data`` (the whole config document)."""
        self.index = {
            "windows.default": self.default_error,
            "windows.rules": self.rules_error,
            "business_hours": self.zone_error,
            "business_hours.timezone": self.zone_error,
            "business_hours.days": self.days_error,
            "business_hours.hours": self.hours_error,
            "business_hours.holidays": self.holidays_error,
        }
        self._collect_windows(data)
        self._collect_hours(data)

    def show_error(self, exc: ConfigError) -> bool:
        names = {key: _(label) for key, label in RULE_NAMES.items()}
        return show_error_in(self.index, exc, names)

    def clear_errors(self) -> None:
        clear(
            self.default_error,
            self.rules_error,
            self.zone_error,
            self.days_error,
            self.hours_error,
            self.holidays_error,
        )
        for row in self.rules:
            show(row.error, "")
