"""The first-run wizard: the demo in one click, or a helpdesk (or a provisioning file), its
connection tested before going on, the categories to watch, saved."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from agent import config as config_module
from agent import secrets as secret_store
from agent.config import Config, ConfigError
from agent.connection import ConnectionTest
from agent.sources import KINDS, source_class
from ui.settings.source_form import SourceForm
from ui.settings.widgets import DEMO, hint, plain_label, read_provisioning


class ConnectPage(QWizardPage):
    """URL and token. "Next" runs the live test first; on success the wizard moves on by
    itself, on failure the person fixes it or ticks "continue anyway"."""

    def __init__(self, form: SourceForm) -> None:
        super().__init__()
        self.setTitle("Connect to your helpdesk")
        self.setSubTitle(
            "Fill in the address and your token. Next tests the connection before going on."
        )
        self.form = form
        self.passed: dict[str, Any] | None = None  # the values the last good test used
        self.advance = False
        lay = QVBoxLayout(self)
        lay.addWidget(form)
        self.anyway = QCheckBox("Continue anyway (fix the connection later in Settings)")
        self.anyway.setVisible(False)
        lay.addWidget(self.anyway)
        lay.addStretch(1)
        form.tester.done.connect(self._tested)

    def _values(self) -> dict[str, Any]:
        return {"table": self.form.table(), "token": self.form.token.text()}

    def initializePage(self) -> None:
        self.passed = None
        self.anyway.setChecked(False)
        self.anyway.setVisible(False)

    def validatePage(self) -> bool:
        if self.passed == self._values() or (self.anyway.isVisible() and self.anyway.isChecked()):
            return True
        if self.form.test_button.isEnabled():
            self.advance = True
            self.form.test()
        return False

    def _tested(self, result: ConnectionTest) -> None:
        advance, self.advance = self.advance, False
        if result.ok:
            self.passed = self._values()
            self.anyway.setVisible(False)
            if advance and self.wizard() is not None and self.isVisible():
                self.wizard().next()
        else:
            self.passed = None
            self.anyway.setVisible(True)


class FirstRunWizard(QWizard):
    """Pick a helpdesk or the demo (or import a provisioning file), connect, categories, done."""

    finished_with = Signal(object)  # the saved Config, or None when cancelled

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.setWindowTitle("Welcome to Ticketbell")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.config: Config | None = None
        self.imported: Config | None = None

        self.addPage(self._start_page())
        self.form = SourceForm(with_categories=False)
        self.connect_page = ConnectPage(self.form)
        self.addPage(self.connect_page)
        self.addPage(self._categories_page())
        self.addPage(self._done_page())
        self.resize(640, 560)
        self.currentIdChanged.connect(self._page_changed)
        self.finished.connect(self._finished)

    def _start_page(self) -> QWizardPage:
        start = QWizardPage()
        start.setTitle("Welcome to Ticketbell")
        start.setSubTitle("Ticketbell sits in your system tray and rings when a customer waits.")
        lay = QVBoxLayout(start)
        self.demo_button = QPushButton("Try the demo now (no account needed)")
        self.demo_button.clicked.connect(self.try_demo)
        lay.addWidget(self.demo_button)
        lay.addSpacing(12)
        lay.addWidget(QLabel("Or connect to the helpdesk you answer:"))
        self.kind = QComboBox()
        self.kind.addItem("The demo helpdesk (no account needed)", DEMO)
        for kind in KINDS:
            if kind != DEMO:
                self.kind.addItem(f"{kind} — {source_class(kind).description}", kind)
        lay.addWidget(self.kind)
        lay.addSpacing(12)
        lay.addWidget(QLabel("Did your team owner give you a settings file?"))
        imp = QPushButton("Import a provisioning file…")
        imp.clicked.connect(self._pick_file)
        row = QHBoxLayout()
        row.addWidget(imp)
        row.addStretch(1)
        lay.addLayout(row)
        self.import_note = plain_label()
        lay.addWidget(self.import_note)
        self.team_button = QPushButton("Join my team… (a team hub: no helpdesk token here)")
        self.team_button.clicked.connect(self.join_team)
        lay.addWidget(self.team_button)
        lay.addStretch(1)
        return start

    def join_team(self) -> None:
        """ "Join my team" (ui/settings/team_page.py): saved there, then the wizard is done."""
        from ui.settings.team_page import join_team

        self.config = join_team(self, self.path)
        if self.config is not None:
            self.accept()

    def _categories_page(self) -> QWizardPage:
        cats = QWizardPage()
        cats.setTitle("Your categories")
        cats.setSubTitle("Tick the categories you answer. None ticked: all of them.")
        lay = QVBoxLayout(cats)
        self.no_categories = hint(
            "Ticketbell could not list this helpdesk's categories yet, so it will show you "
            "every waiting ticket. You can choose categories later in Settings."
        )
        lay.addWidget(self.no_categories)
        lay.addWidget(self.form.categories)
        return cats

    def _done_page(self) -> QWizardPage:
        done = QWizardPage()
        done.setTitle("Done")
        lay = QVBoxLayout(done)
        # not "result": that is QDialog.result()
        self.summary = plain_label()
        lay.addWidget(self.summary)
        lay.addStretch(1)
        return done

    def try_demo(self) -> None:
        """One click: save the demo configuration and finish."""
        self.imported = None
        self.kind.setCurrentIndex(0)
        self.form.load({"kind": DEMO})
        message = self._save()
        if self.config is None:
            self.import_note.setText(message)
            return
        self.accept()

    def _pick_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Provisioning file", "", "*.toml")
        if name:
            self.import_file(Path(name))

    def import_file(self, path: Path) -> bool:
        imported = read_provisioning(self, path, self.import_note.setText)
        if imported is None:
            return False
        self.imported = imported
        self.form.set_role(imported.role)
        self.form.load(dict(self.imported.raw.get("sources", [{}])[0]))
        self.import_note.setText(f"Imported {path.name}: add your token on the next page.")
        return True

    def _page_changed(self, page: int) -> None:
        kind = self.kind.currentData()
        if page == 1 and self.imported is None and self.form.kind.currentData() != kind:
            self.form.load({"kind": kind})
        if page == 2:
            self.no_categories.setVisible(self.form.categories.count() == 0)
        if page == 3:
            self.summary.setText(self._save())

    def _save(self) -> str:
        base = copy.deepcopy(self.imported.raw) if self.imported else {}
        if not base and self.kind.currentData() == DEMO:
            base = copy.deepcopy(config_module.DEMO_CONFIG)
        sources = base.get("sources") or [{}]
        sources[0] = self.form.table()
        base["sources"] = sources
        try:
            self.form.store_token()
            self.config = config_module.save(base, self.path)
        except ConfigError as exc:
            self.config = None
            self.form.show_error(str(exc.parts[2]) if exc.parts[2:] else "name", exc.message)
            return f"Not saved yet. Go Back and fix: {exc.message}"
        except (OSError, secret_store.SecretUnavailable) as exc:
            self.config = None
            return f"Not saved: {exc}"
        return (
            "All set. Ticketbell now sits in your system tray: the number on its icon is how "
            "many customers wait for a reply. Click it to see them.\n\n"
            f"Your settings are saved in {self.path}."
        )

    def _finished(self, result: int) -> None:
        ok = result == QDialog.DialogCode.Accepted and self.config is not None
        self.finished_with.emit(self.config if ok else None)
