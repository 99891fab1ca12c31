"""The General page: the role of this computer and starting at login."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QWidget

from agent import autostart
from agent.config import ConfigError, schema
from ui.settings.widgets import clear, show_error_in, with_error

#: what each role means, with its declared default interval in words
ROLE_TEXTS = {
    "assistant": "Assistant: my categories, checked {every}",
    "owner": "Owner: every category, checked {every}",
}


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
            self.role.addItem(ROLE_TEXTS[role].format(every=every), role)
        role = data.get("role", schema.default("", "role"))
        self.role.setCurrentIndex(max(0, self.role.findData(role)))
        box, error = with_error(self.role)
        form.addRow(schema.declared("", "role").label, box)
        self.errors: dict[str, QLabel] = {"role": error}
        self.autostart = QCheckBox(schema.declared("", "start_at_login").label)
        self.autostart.setChecked(autostart.enabled())
        form.addRow("", self.autostart)

    def collect(self, data: dict[str, Any]) -> None:
        data["role"] = self.role.currentData()

    def apply_autostart(self) -> None:
        if self.autostart.isChecked() != autostart.enabled():
            set_start_at_login(self.autostart.isChecked())

    def show_error(self, exc: ConfigError) -> bool:
        return show_error_in(self.errors, exc)

    def clear_errors(self) -> None:
        clear(*self.errors.values())
