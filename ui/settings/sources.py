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
        self.form.name.textChanged.connect(self._name_changed)
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
            self._load(row)

    def _add(self) -> None:
        """A new source, named by the form after its kind ("GitHub", "GitHub 2" beside another)
        until the person names it."""
        self.store_current()
        self.sources.append({"kind": DEMO})
        self.source_list.addItem("")
        self.current = -1
        self.source_list.setCurrentRow(len(self.sources) - 1)

    def _remove(self) -> None:
        row = self.current
        if 0 <= row < len(self.sources):
            del self.sources[row]
            # the list's row change must not store the removed source's form over the next one
            self.current = -1
            self.source_list.takeItem(row)
            self.current = self.source_list.currentRow()
            if self.current >= 0:
                self._load(self.current)

    def _load(self, row: int) -> None:
        """Show source ``row`` in the form; a name the form gives it is none of the others'."""
        self.form.other_names = {
            str(s.get("name", "")) for i, s in enumerate(self.sources) if i != row
        }
        self.form.load(self.sources[row])

    def _name_changed(self, name: str) -> None:
        """The list shows the name as it is typed (or given after the kind)."""
        if 0 <= self.current < self.source_list.count():
            self.source_list.item(self.current).setText(name)

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
