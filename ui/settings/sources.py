"""The Helpdesks page: the list of sources on the left, the chosen one's form on the right."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QTimer
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QPushButton, QVBoxLayout, QWidget

from agent.config import ConfigError
from agent.i18n import _
from ui.settings.source_form import SourceForm
from ui.settings.widgets import DEMO, scrolling


class SourcesPage(QWidget):
    """Every ``[[sources]]`` table, edited one at a time in one :class:`SourceForm`."""

    def __init__(self, sources: list[dict[str, Any]]) -> None:
        super().__init__()
        lay = QHBoxLayout(self)
        left = QVBoxLayout()
        self.source_list = QListWidget()
        self.source_list.setMaximumWidth(180)
        self.source_list.setAccessibleName(_("Helpdesks"))
        left.addWidget(self.source_list)
        add = QPushButton(_("Add a helpdesk"))
        remove = QPushButton(_("Remove"))
        left.addWidget(add)
        left.addWidget(remove)
        lay.addLayout(left)
        self.sources: list[dict[str, Any]] = [dict(s) for s in sources]
        self.form = SourceForm(self.sources[0] if self.sources else None)
        self.form_area = scrolling(self.form)  # a long form (IMAP with OAuth) scrolls
        lay.addWidget(self.form_area, 1)
        self.current = 0 if self.sources else -1
        for s in self.sources:
            self.source_list.addItem(str(s.get("name", "?")))
        self.source_list.setCurrentRow(self.current)
        self.source_list.currentRowChanged.connect(self._select)
        add.clicked.connect(self._add)
        remove.clicked.connect(self._remove)

    def store_current(self) -> None:
        """Keep what the form shows in :attr:`sources` (before another is shown, or saving)."""
        if 0 <= self.current < len(self.sources):
            self.sources[self.current] = self.form.table()
            self.source_list.item(self.current).setText(self.sources[self.current]["name"])

    def _select(self, row: int) -> None:
        self.store_current()
        self.current = row
        if 0 <= row < len(self.sources):
            self.form.load(self.sources[row])

    def _add(self) -> None:
        self.store_current()
        name = _("Helpdesk {number}").format(number=len(self.sources) + 1)
        self.sources.append({"kind": DEMO, "name": name})
        self.source_list.addItem(self.sources[-1]["name"])
        self.current = -1
        self.source_list.setCurrentRow(len(self.sources) - 1)

    def _remove(self) -> None:
        if 0 <= self.current < len(self.sources):
            del self.sources[self.current]
            self.source_list.takeItem(self.current)
            self.current = self.source_list.currentRow()
            if self.current >= 0:
                self.form.load(self.sources[self.current])

    def replace(self, sources: list[dict[str, Any]]) -> None:
        """Show ``sources`` instead (an imported provisioning file's)."""
        self.sources = [dict(s) for s in sources]
        self.current = -1  # before clear(): its row change would store the old form over them
        self.source_list.clear()
        for s in self.sources:
            self.source_list.addItem(str(s.get("name", "?")))
        self.source_list.setCurrentRow(0 if self.sources else -1)

    def show_error(self, exc: ConfigError) -> bool:
        """Show the source ``exc`` is about and the message under its field."""
        index = exc.source_index
        if index is None or index >= len(self.sources):
            return False
        self.source_list.setCurrentRow(index)
        return self.form.show_config_error(exc)

    def first_error_in_view(self) -> None:
        """Scroll the form to its topmost error (the form may be longer than the window)."""
        shown = [label for label in self.form.errors.values() if not label.isHidden()]
        if shown:
            self.form.layout_.activate()  # the labels just shown take their place first
            top = min(shown, key=lambda label: label.mapTo(self.form, QPoint(0, 0)).y())
            QTimer.singleShot(0, lambda: self.form_area.ensureWidgetVisible(top))
