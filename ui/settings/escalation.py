"""The Escalation page: levels (how long overdue, whom to tell), repeats, who sends, the daily
digest. Labels and hints are the declarations' (``agent.config.schema.ESCALATION``)."""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent import channels, escalation
from agent import secrets as secret_store
from agent.config import ConfigError, schema
from agent.i18n import _
from ui.settings.targets import TargetList, TargetRow
from ui.settings.widgets import (
    append_row,
    clear,
    hint,
    retab,
    row_list,
    show,
    show_error_in,
    with_error,
)

#: a typed target as collected: its row, its config value and (keyring name, URL) to store
Collected = tuple[TargetRow, str, tuple[str, str] | None]


def _label(key: str) -> str:
    return _(schema.declared("escalation", key).label)


class LevelBox(QGroupBox):
    """One escalation level: how long after the breach, and whom it tells. The keys the box
    has no field for (``when``) are kept as they were loaded."""

    removed = Signal(object)

    def __init__(self, level: dict[str, Any]) -> None:
        super().__init__()
        self.level = copy.deepcopy(level)  # as loaded: collect() changes only after and notify
        form = QFormLayout(self)
        after = schema.declared("escalation.levels", "after")
        self.after = QLineEdit(str(level.get("after", "")))
        self.after.setPlaceholderText(
            _("e.g. {example} (at once), 30m, 2h").format(example=after.default)
        )
        box, self.after_error = with_error(self.after)
        form.addRow(_(after.label), box)
        self.targets = TargetList([str(t) for t in level.get("notify", [])])
        form.addRow(_(schema.declared("escalation.levels", "notify").label), self.targets)
        self.remove_button = QPushButton(_("Remove this level"))
        self.remove_button.clicked.connect(lambda: self.removed.emit(self))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.remove_button)
        form.addRow(row)

    def set_number(self, n: int) -> None:
        self.setTitle(_("Level {number}").format(number=n))


class EscalationPage(QWidget):
    """Levels (after + targets), repeats, who sends, the daily digest; with "Send test"."""

    def __init__(self, esc: dict[str, Any]) -> None:
        super().__init__()
        outer = QVBoxLayout(self)
        outer.addWidget(
            hint(
                _(
                    "When a ticket waits past its response window, Ticketbell tells the owner: "
                    "on their own Ticketbell (owner-desktop), by email (mailto://…) or in a chat "
                    "channel. Use Send test to check each one."
                )
            )
        )
        self.levels: list[LevelBox] = []
        self.levels_box, self.levels_error = row_list(
            outer, _("Add a level"), lambda: self.add_level({"after": "", "notify": []})
        )
        outer.addLayout(self._sending_form(esc))
        outer.addWidget(self._digest_box(esc))
        outer.addStretch(1)
        for level in esc.get("levels", []):
            if isinstance(level, dict):
                self.add_level(level)
        self.collected: list[Collected] = []
        self.index: dict[str, QLabel] = {}
        self.opened = copy.deepcopy(esc)  # what settle_secrets() compares the saved table with

    def _sending_form(self, esc: dict[str, Any]) -> QFormLayout:
        form = QFormLayout()
        repeat = schema.declared("escalation", "repeat_every")
        self.repeat = QLineEdit(str(esc.get("repeat_every", "")))
        self.repeat.setPlaceholderText(
            _("e.g. {example} ({meaning})").format(example="1h", meaning=_(repeat.help))
        )
        box, self.repeat_error = with_error(self.repeat)
        form.addRow(_(repeat.label), box)
        self.sent_by = QComboBox()
        self.sent_by.addItem(_("The owner's Ticketbell (recommended)"), "owner")
        self.sent_by.addItem(_("Every assistant's Ticketbell"), "assistant")
        sent_by = esc.get("sent_by", schema.default("escalation", "sent_by"))
        if self.sent_by.findData(sent_by) < 0:  # not a role (a hand-edited file): kept, named
            self.sent_by.addItem(str(sent_by), sent_by)
        self.sent_by.setCurrentIndex(max(0, self.sent_by.findData(sent_by)))
        box, self.sent_by_error = with_error(
            self.sent_by, _(schema.declared("escalation", "sent_by").help)
        )
        form.addRow(_label("sent_by"), box)
        return form

    def _digest_box(self, esc: dict[str, Any]) -> QGroupBox:
        digest = QGroupBox(_("Daily digest"))
        form = QFormLayout(digest)
        self.digest_at = QLineEdit(str(esc.get("digest_at", "")))
        self.digest_at.setPlaceholderText(_("e.g. 18:00 (empty: no digest)"))
        box, self.digest_at_error = with_error(self.digest_at)
        form.addRow(_("Send at"), box)
        self.digest_to = TargetList([str(t) for t in esc.get("digest_to", [])])
        form.addRow(_("Send to"), self.digest_to)
        form.addRow("", hint(_(schema.declared("escalation", "digest_to").help)))
        return digest

    def add_level(self, level: dict[str, Any]) -> LevelBox:
        box = LevelBox(level)
        append_row(self.levels, self.levels_box, box, after_removal=self._renumber)
        self._renumber()
        retab(self)
        return box

    def _renumber(self) -> None:
        for n, box in enumerate(self.levels, 1):
            box.set_number(n)

    def _rows(self) -> list[TargetRow]:
        return [r for b in self.levels for r in b.targets.rows] + self.digest_to.rows

    def _targets(self, rows: list[TargetRow], key: str, place: str, taken: set[str]) -> list[str]:
        """The rows' config values; typed secret URLs are kept in :attr:`collected`."""
        values: list[str] = []
        for row in (r for r in rows if not r.is_empty()):
            value, secret = row.config_value(place, taken)
            self.index[f"{key}[{len(values)}]"] = row.error
            self.collected.append((row, value, secret))
            values.append(value)
        return values

    def _collect_levels(self, taken: set[str]) -> list[dict[str, Any]]:
        levels = []
        for i, box in enumerate(self.levels):
            key = f"escalation.levels[{i}]"
            self.index[key] = self.index[f"{key}.notify"] = box.targets.error
            self.index[f"{key}.after"] = box.after_error
            notify = self._targets(box.targets.rows, f"{key}.notify", f"level{i + 1}", taken)
            after = box.after.text().strip() or "0m"
            levels.append({**copy.deepcopy(box.level), "after": after, "notify": notify})
        return levels

    def collect(self, esc: dict[str, Any], taken: set[str]) -> dict[str, Any]:
        """Write the page into ``esc`` (a copy of the config's [escalation] table). Typed secret
        URLs become ``keyring:NAME``; :attr:`collected` keeps what to store on saving."""
        rows = self._rows()
        prefix = channels.KEYRING_PREFIX
        taken |= {
            r.value[len(prefix) :] for r in rows if r.value.startswith(prefix) and not r.secret_url
        }
        self.collected = []
        self.index = {
            "escalation.levels": self.levels_error,
            "escalation.digest_to": self.digest_to.error,
            "escalation.repeat_every": self.repeat_error,
            "escalation.sent_by": self.sent_by_error,
            "escalation.digest_at": self.digest_at_error,
        }
        esc["levels"] = self._collect_levels(taken)
        digest_to = self._targets(self.digest_to.rows, "escalation.digest_to", "digest", taken)
        for key, text in (
            ("repeat_every", self.repeat.text()),
            ("digest_at", self.digest_at.text()),
        ):
            if text.strip():
                esc[key] = text.strip()
            else:
                esc.pop(key, None)
        if digest_to:
            esc["digest_to"] = digest_to
        else:
            esc.pop("digest_to", None)
        esc["sent_by"] = self.sent_by.currentData()
        return esc

    def store_secrets(self) -> None:
        """Put the typed secret URLs in the keyring (after validation, before writing)."""
        for _row, _value, secret in self.collected:
            if secret is not None:
                secret_store.set(*secret)
        for row, value, secret in self.collected:
            if secret is not None:
                row.stored(value)

    def typed_secrets(self) -> bool:
        """Whether a target holds a typed secret URL not stored in the keyring yet (the collected
        table need not differ: a replaced secret keeps its ``keyring:NAME``)."""
        rows = self._rows()
        for row in rows:
            row.absorb()  # what is typed in a field not left yet
        return any(row.secret_url for row in rows)

    def settle_secrets(self, saved: dict[str, Any]) -> None:
        """Once the settings ``saved`` (the whole document) are saved: the keyring entries the
        opened table named and the saved settings no longer use (a removed or replaced
        target's) are deleted, so the keyring holds the secrets the settings name."""
        for name in sorted(escalation.unused_keyring_names(self.opened, saved)):
            secret_store.delete(name)
        self.opened = copy.deepcopy(saved.get("escalation", {}))

    def show_error(self, exc: ConfigError) -> bool:
        return show_error_in(self.index, exc)

    def clear_errors(self) -> None:
        clear(self.levels_error, self.repeat_error, self.sent_by_error, self.digest_at_error)
        for box in self.levels:
            show(box.after_error, "")
            box.targets.clear_errors()
        self.digest_to.clear_errors()
