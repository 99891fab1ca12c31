"""The Helpdesks page: the list of sources on the left, the chosen one's form on the right."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QTimer
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QPushButton, QVBoxLayout, QWidget

from agent import secrets as secret_store
from agent.config import ConfigError
from agent.i18n import _
from agent.sources import source_class
from ui.settings.source_form import SourceForm, store_secret
from ui.settings.widgets import DEMO, hint, scrolling


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
        self.remove_button = QPushButton(_("Remove"))
        left.addWidget(add)
        left.addWidget(self.remove_button)
        lay.addLayout(left)
        self.sources: list[dict[str, Any]] = [dict(s) for s in sources]
        #: by row: the token typed for each source and not stored yet (never in its table),
        #: and the name it was opened or last saved with (None: added since)
        self.typed: list[str] = ["" for _ in self.sources]
        self.opened: list[str | None] = [str(s.get("name", "")) for s in self.sources]
        #: the names of sources removed since opening or the last save
        self.removed: list[str] = []
        self.form = SourceForm(self.sources[0] if self.sources else None)
        self.form_area = scrolling(self.form)  # a long form (IMAP with OAuth) scrolls
        right = QVBoxLayout()
        # with no helpdesk in the list there is no form: what was typed in one would be saved
        # nowhere (it was shown, and dropped on saving)
        self.none_yet = hint(_("No helpdesk yet: “Add a helpdesk” starts one."))
        right.addWidget(self.none_yet)
        right.addWidget(self.form_area, 1)
        lay.addLayout(right, 1)
        self.current = 0 if self.sources else -1
        for s in self.sources:
            self.source_list.addItem(str(s.get("name", "?")))
        self.source_list.setCurrentRow(self.current)
        self.source_list.currentRowChanged.connect(self._select)
        self.form.name.textChanged.connect(self._name_changed)
        add.clicked.connect(self._add)
        self.remove_button.clicked.connect(self._remove)
        self._show_form()

    def _show_form(self) -> None:
        """The form while there is a helpdesk to edit; else what to do about it."""
        self.form_area.setVisible(bool(self.sources))
        self.none_yet.setVisible(not self.sources)
        self.remove_button.setEnabled(bool(self.sources))

    def store_current(self) -> None:
        """Keep what the form shows in :attr:`sources` (before another is shown, or saving)."""
        if 0 <= self.current < len(self.sources):
            self.sources[self.current] = self.form.table()
            self.typed[self.current] = self.form.token.text()
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
        self.typed.append("")
        self.opened.append(None)
        self.source_list.addItem("")
        self.current = -1
        self.source_list.setCurrentRow(len(self.sources) - 1)
        self._show_form()

    def _remove(self) -> None:
        row = self.current
        if 0 <= row < len(self.sources):
            del self.sources[row], self.typed[row]
            if (name := self.opened.pop(row)) is not None:
                self.removed.append(name)
            # the list's row change must not store the removed source's form over the next one
            self.current = -1
            self.source_list.takeItem(row)
            self.current = self.source_list.currentRow()
            if self.current >= 0:
                self._load(self.current)
            self._show_form()

    def _load(self, row: int) -> None:
        """Show source ``row`` in the form; a name the form gives it is none of the others'."""
        self.form.other_names = {
            str(s.get("name", "")) for i, s in enumerate(self.sources) if i != row
        }
        self.form.load(self.sources[row])
        self.form.token.setText(self.typed[row])

    def _name_changed(self, name: str) -> None:
        """The list shows the name as it is typed (or given after the kind)."""
        if 0 <= self.current < self.source_list.count():
            self.source_list.item(self.current).setText(name)

    def replace(self, sources: list[dict[str, Any]]) -> None:
        """Show ``sources`` instead (an imported provisioning file's)."""
        self.removed += [name for name in self.opened if name is not None]
        self.sources = [dict(s) for s in sources]
        self.typed = ["" for _ in self.sources]
        self.opened = [None for _ in self.sources]
        self.current = -1  # before clear(): its row change would store the old form over them
        self.source_list.clear()
        for s in self.sources:
            self.source_list.addItem(str(s.get("name", "?")))
        self.source_list.setCurrentRow(0 if self.sources else -1)
        self._show_form()

    def store_tokens(self) -> None:
        """Every token typed on this page, each under its helpdesk's name (the form shows one
        helpdesk at a time; a token typed for another is kept until saved, not dropped)."""
        self.store_current()
        for row, (source, token) in enumerate(zip(self.sources, self.typed, strict=True)):
            if token and source_class(str(source.get("kind", DEMO))).needs_secret:
                store_secret(self, str(source["name"]), token)
                self.typed[row] = ""
        self.form.token.clear()
        self.form.show_stored()

    def settle_secrets(self) -> None:
        """Once the settings are saved: a renamed helpdesk's stored token moves to its new name
        and a removed one's is deleted, so the keyring holds the tokens the settings name."""
        names = [str(s.get("name", "")) for s in self.sources]
        for old, new in zip(self.opened, names, strict=True):
            if old and old != new and old not in names:
                # names are unique: a token under the new name is no current source's
                secret_store.rename(old, new, replace=True)
        for old in self.removed:
            if old not in names:
                secret_store.delete(old)
        self.opened, self.removed = list(names), []
        self.form.show_stored()

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
