"""The Alerts page: the sound and its volume, quiet hours, reminders. Labels, hints and
"empty: …" texts are the declarations' (``agent.config.schema.ALERTS``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QWidget,
)

from agent.config import ConfigError, schema
from agent.i18n import _
from ui.settings.widgets import clear, plain_label, show_error_in, with_error


def _set(section: dict[str, Any], key: str, text: str) -> None:
    if text.strip():
        section[key] = text.strip()
    else:
        section.pop(key, None)


OWN_FILE = "file"  # the chooser's entry for a .wav file of one's own


class AlertsPage(QWidget):
    test_sound = Signal()

    def __init__(self, alerts: dict[str, Any], sound_problem: str = "") -> None:
        super().__init__()
        self.form = QFormLayout(self)
        self.errors: dict[str, QLabel] = {}
        sound = str(alerts.get("sound", schema.default("alerts", "sound")))
        self._field("sound", self._sound_row(sound), hint=False)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        volume = alerts.get("volume", schema.default("alerts", "volume"))
        self.volume.setValue(round(float(volume) * 100))
        self._field("volume", self.volume, hint=False)
        self._add_test_row(sound_problem)
        self.quiet = QLineEdit(str(alerts.get("quiet_hours", "")))
        self.quiet.setPlaceholderText(_("e.g. 22:00-07:00 (empty: never quiet)"))
        self._field("quiet_hours", self.quiet)
        self.remind = QLineEdit(str(alerts.get("remind_every", "")))
        example = schema.declared("alerts", "remind_every").default
        off = _('e.g. {example} ("off": no reminders)').format(example=example)
        self.remind.setPlaceholderText(off)
        self._field("remind_every", self.remind)

    def _sound_row(self, sound: str) -> QHBoxLayout:
        """The built-in sounds by their names in the person's language, "Off", or a .wav file
        of one's own (its path and a Choose button shown only then; an empty path, as
        ``sound = ""`` is, which the config refuses)."""
        sound = sound.strip()
        self.sound_choice = QComboBox()
        for value, name in schema.SOUND_NAMES.items():
            self.sound_choice.addItem(_(name), value)
        self.sound_choice.addItem(_("A .wav file of your own"), OWN_FILE)
        own = self.sound_choice.findData(sound) < 0
        self.sound_choice.setCurrentIndex(self.sound_choice.findData(OWN_FILE if own else sound))
        self.sound = QLineEdit(sound if own else "")
        self.sound.setAccessibleName(_("Sound file"))
        self.browse = QPushButton(_("Choose a .wav file…"))
        self.browse.clicked.connect(self._choose_sound)
        self.sound_choice.currentIndexChanged.connect(self._sound_chosen)
        row = QHBoxLayout()
        row.addWidget(self.sound_choice)
        row.addWidget(self.sound, 1)
        row.addWidget(self.browse)
        self._sound_chosen()
        return row

    def _sound_chosen(self) -> None:
        own = self.sound_choice.currentData() == OWN_FILE
        self.sound.setVisible(own)
        self.browse.setVisible(own)

    def sound_value(self) -> str:
        """What ``[alerts] sound`` becomes: a built-in name, "off", or the file's path ("" when
        none is chosen: written so, the config's check says so at this field on Save)."""
        chosen = str(self.sound_choice.currentData())
        return self.sound.text().strip() if chosen == OWN_FILE else chosen

    def _add_test_row(self, sound_problem: str) -> None:
        test = QPushButton(_("Play the sound"))
        test.clicked.connect(self.test_sound.emit)
        row = QHBoxLayout()
        row.addWidget(test)
        row.addStretch(1)
        self.form.addRow("", row)
        self.sound_problem = plain_label(sound_problem, error=True)
        self.form.addRow("", self.sound_problem)

    def _field(self, key: str, widget: QWidget | QHBoxLayout, hint: bool = True) -> None:
        opt = schema.declared("alerts", key)
        box, error = with_error(widget, _(opt.help) if hint and opt.help else "")
        self.errors[f"alerts.{key}"] = error
        self.form.addRow(_(opt.label), box)

    def _choose_sound(self) -> None:
        name, _filter = QFileDialog.getOpenFileName(
            self, _("Choose a sound"), "", _("Sounds") + " (*.wav)"
        )
        if name:
            self.sound.setText(name)

    def collect(self, data: dict[str, Any]) -> None:
        """Write the page into ``data`` (the whole config document)."""
        section = data.setdefault("alerts", {})
        section["sound"] = self.sound_value()
        _set(section, "quiet_hours", self.quiet.text())
        _set(section, "remind_every", self.remind.text())
        section["volume"] = self.volume.value() / 100

    def show_error(self, exc: ConfigError) -> bool:
        return show_error_in(self.errors, exc)

    def clear_errors(self) -> None:
        clear(*self.errors.values())
