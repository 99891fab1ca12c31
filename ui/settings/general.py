"""The General page: the role of this computer, its language and starting at login."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QWidget

from agent import autostart, i18n
from agent.config import ConfigError, schema
from agent.i18n import N_, _
from ui.settings.widgets import clear, show_error_in, with_error

#: what each role means, with its declared default interval in words
ROLE_TEXTS = {
    "assistant": N_("Assistant: my categories, checked {every}"),
    "owner": N_("Owner: every category, checked {every}"),
}


def language_name(code: str) -> str:
    """A language by its own name, as its speakers write it at the start of a line: "Deutsch",
    "Français", "Português (Brasil)"."""
    from babel import Locale

    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def set_start_at_login(on: bool) -> None:
    """Start at login on or off. The OS-specific part lives in ``agent.autostart`` (XDG
    autostart file on Linux, HKCU Run on Windows, a LaunchAgent on macOS)."""
    autostart.set_enabled(on)


class GeneralPage(QWidget):
    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__()
        form = QFormLayout(self)
        self.role = QComboBox()
        for role in schema.ROLES:
            every = schema.empty_means("sources", "interval", role)
            self.role.addItem(_(ROLE_TEXTS[role]).format(every=every), role)
        role = data.get("role", schema.default("", "role"))
        if self.role.findData(role) < 0:  # not a role (a hand-edited file): kept, to be named
            self.role.addItem(str(role), role)
        self.role.setCurrentIndex(max(0, self.role.findData(role)))
        box, error = with_error(self.role)
        form.addRow(_(schema.declared("", "role").label), box)
        self.errors: dict[str, QLabel] = {"role": error}
        self.language = QComboBox()
        self.language.addItem(_("The system's language"), "")
        for code in i18n.available():
            self.language.addItem(language_name(code), code)
        language = data.get("language", "")
        if self.language.findData(language) < 0:  # one it does not speak: kept, to be named
            self.language.addItem(str(language), language)
        self.language.setCurrentIndex(max(0, self.language.findData(language)))
        box, self.errors["language"] = with_error(self.language)
        form.addRow(_(schema.declared("", "language").label), box)
        self.autostart = QCheckBox(_(schema.declared("", "start_at_login").label))
        self.autostart.setChecked(autostart.enabled())
        form.addRow("", self.autostart)

    def collect(self, data: dict[str, Any]) -> None:
        data["role"] = self.role.currentData()
        if self.language.currentData():
            data["language"] = self.language.currentData()
        else:
            data.pop("language", None)

    def autostart_changed(self) -> bool:
        """Whether "Start Ticketbell at login" was ticked or unticked and not applied yet."""
        return self.autostart.isChecked() != autostart.enabled()

    def apply_autostart(self) -> None:
        if self.autostart_changed():
            set_start_at_login(self.autostart.isChecked())

    def show_error(self, exc: ConfigError) -> bool:
        return show_error_in(self.errors, exc)

    def clear_errors(self) -> None:
        clear(*self.errors.values())
