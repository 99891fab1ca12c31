"""The first-run wizard: the demo in one click, or a helpdesk (or a provisioning file), its
connection tested before going on, the categories to watch, saved."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

import resources
from agent import autostart
from agent import config as config_module
from agent import secrets as secret_store
from agent.config import Config, ConfigError, problems
from agent.connection import ConnectionTest
from agent.i18n import _, ngettext
from agent.sources import KINDS
from agent.storage import atomic_write
from ui.access import ERROR, give_mnemonics, name_controls, show_focus, text_style
from ui.settings.source_form import SourceForm
from ui.settings.widgets import (
    DEMO,
    fit_screen,
    hint,
    kind_text,
    plain_label,
    read_provisioning,
    scrolling,
    show,
)


class ConnectPage(QWizardPage):
    """URL and token. "Next" runs the live test first; on success the wizard moves on by
    itself, on failure the person fixes it or ticks "continue anyway"."""

    def __init__(self, form: SourceForm) -> None:
        super().__init__()
        self.setTitle(_("Connect to your helpdesk"))
        self.setSubTitle(
            _("Fill in the address and your token. Next tests the connection before going on.")
        )
        self.form = form
        self.passed: dict[str, Any] | None = None  # the values the last good test used
        self.failed: dict[str, Any] | None = None  # the values the last failed test used
        self.unverified = ""  # the failed test's answer, when the person continued anyway
        self.advance = False
        inner = QWidget()  # scrolls: a long form (IMAP with OAuth) on a small screen
        lay = QVBoxLayout(inner)
        lay.addWidget(form)
        self.anyway = QCheckBox(_("Continue anyway (fix the connection later in Settings)"))
        self.anyway.setVisible(False)
        lay.addWidget(self.anyway)
        lay.addStretch(1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.area = scrolling(inner)
        outer.addWidget(self.area)
        form.tested.connect(self._tested)

    def _values(self) -> dict[str, Any]:
        return {"table": self.form.table(), "token": self.form.token.text()}

    def initializePage(self) -> None:
        self.passed = self.failed = None
        self.anyway.setChecked(False)
        self.anyway.setVisible(False)

    def validatePage(self) -> bool:
        values = self._values()
        if self.passed == values:
            self.unverified = ""
            return True
        if self.anyway.isVisible() and self.anyway.isChecked():
            if self.failed == values:  # "anyway" is for the values that failed, no others
                self.unverified = self.form.test_result.text() or _("the connection was not tested")
                return True
            self.anyway.setChecked(False)
        if self.form.test_button.isEnabled():
            self.advance = True
            self.form.test()
        return False

    def _tested(self, result: ConnectionTest) -> None:
        advance, self.advance = self.advance, False
        # the values tested, not those shown now: an edit made while it ran is tested anew
        if result.ok:
            self.passed, self.failed = self.form.tried, None
            self.anyway.setVisible(False)
            if advance and self.wizard() is not None and self.isVisible():
                self.wizard().next()
        else:
            self.passed, self.failed = None, self.form.tried
            self.anyway.setVisible(True)
            give_mnemonics(self)


class DonePage(QWizardPage):
    """The last page: what was saved (or why nothing was: Finish stays off until it is), what
    was not verified, and **Start at login**, ticked."""

    def __init__(self) -> None:
        super().__init__()
        self.saved = False
        lay = QVBoxLayout(self)
        # not "result": that is QDialog.result()
        self.summary = plain_label()
        lay.addWidget(self.summary)
        self.autostart = QCheckBox(_("Start Ticketbell when I log in"))
        self.autostart.setChecked(True)
        lay.addWidget(self.autostart)
        self.autostart_error = plain_label(error=True)
        lay.addWidget(self.autostart_error)
        lay.addStretch(1)

    def say(self, saved: bool, title: str, text: str) -> None:
        self.saved = saved
        self.setTitle(title)
        self.summary.setText(text)
        self.summary.setStyleSheet("" if saved else text_style(ERROR))
        self.autostart.setVisible(saved)
        give_mnemonics(self)
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # Finish only once the settings are saved
        return self.saved

    def validatePage(self) -> bool:
        """Finish: turn start at login on as ticked; a refusal is shown here, once."""
        if not self.autostart.isVisible() or self.autostart.isChecked() == autostart.enabled():
            return True
        try:
            autostart.set_enabled(self.autostart.isChecked())
        except autostart.AutostartError as exc:
            show(
                self.autostart_error,
                _("Start at login could not be set: {problem}").format(problem=exc),
            )
            self.autostart.setChecked(False)
            return False
        return True


class FirstRunWizard(QWizard):
    """Pick a helpdesk or the demo (or import a provisioning file), connect, categories, done."""

    finished_with = Signal(object)  # the saved Config (the demo's: not saved), or None

    def __init__(self, path: Path, *, tray_available: bool | None = None) -> None:
        super().__init__()
        self.path = path
        #: whether Ticketbell will sit in a system tray; without one (GNOME without its
        #: AppIndicator extension) it lives in a window, and the pages say so
        self.tray = (
            QSystemTrayIcon.isSystemTrayAvailable() if tray_available is None else tray_available
        )
        self.setWindowTitle(_("Welcome to Ticketbell"))
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.config: Config | None = None
        self.imported: Config | None = None
        self.demo = False  # "Try the demo": run it without saving it as the person's settings
        #: what the wizard's saves replaced, to put back on Cancel: each file as it was (None:
        #: there was none) and each token name's (token, where), "" where nothing was stored
        self.files_before: dict[Path, bytes | None] = {}
        self.tokens_before: dict[str, tuple[str, str]] = {}

        self.addPage(self._start_page())
        self.form = SourceForm(with_categories=False)
        #: the first page's kind the form was last loaded for: only another choice reloads it
        self.chosen_kind = self.form.kind.currentData()
        self.connect_page = ConnectPage(self.form)
        self.addPage(self.connect_page)
        self.addPage(self._categories_page())
        self.done_page = DonePage()
        self.addPage(self.done_page)
        fit_screen(self, 680, 600)
        name_controls(self)
        show_focus(self)
        self.currentIdChanged.connect(self._page_changed)
        self.finished.connect(self._finished)

    def _start_page(self) -> QWizardPage:
        start = QWizardPage()
        start.setTitle(_("Welcome to Ticketbell"))
        start.setSubTitle(
            _("Ticketbell sits in your system tray and rings when a customer waits.")
            if self.tray
            else _(
                "Ticketbell rings when a customer waits. This desktop has no system tray, so "
                "Ticketbell will live in a small window."
            )
        )
        lay = QVBoxLayout(start)
        self.demo_button = QPushButton(_("Try the demo now (no account needed)"))
        self.demo_button.clicked.connect(self.try_demo)
        lay.addWidget(self.demo_button)
        lay.addSpacing(12)
        lay.addWidget(QLabel(_("Or connect to the helpdesk you answer:")))
        self.kind = QComboBox()
        self.kind.addItem(_("The demo helpdesk (no account needed)"), DEMO)
        for kind in KINDS:
            if kind != DEMO:
                self.kind.addItem(kind_text(kind), kind)
        lay.addWidget(self.kind)
        lay.addSpacing(12)
        lay.addWidget(QLabel(_("Did your team owner give you a settings file?")))
        imp = QPushButton(_("Import a provisioning file…"))
        imp.clicked.connect(self._pick_file)
        row = QHBoxLayout()
        row.addWidget(imp)
        row.addStretch(1)
        lay.addLayout(row)
        self.import_note = plain_label()
        lay.addWidget(self.import_note)
        self.team_button = QPushButton(_("Join my team… (a team hub: no helpdesk token here)"))
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
        cats.setTitle(_("Your categories"))
        cats.setSubTitle(_("Tick the categories you answer. None ticked: all of them."))
        lay = QVBoxLayout(cats)
        self.no_categories = hint(
            _(
                "Ticketbell could not list this helpdesk's categories yet, so it will show you "
                "every waiting ticket. You can choose categories later in Settings."
            )
        )
        lay.addWidget(self.no_categories)
        lay.addWidget(self.form.categories)
        self.form.categories.setAccessibleName(cats.title())
        return cats

    @property
    def summary(self) -> QLabel:
        return self.done_page.summary

    def try_demo(self) -> None:
        """One click: run the demo. Nothing is saved: the next start asks again, and Settings
        saves the person's own helpdesk when they add one (see ``SettingsDialog.demo``)."""
        self.imported = None
        self.demo = True
        self.config = config_module.demo_config()
        self.accept()

    def _pick_file(self) -> None:
        name, _filter = QFileDialog.getOpenFileName(self, _("Provisioning file"), "", "*.toml")
        if name:
            self.import_file(Path(name))

    def import_file(self, path: Path) -> bool:
        imported = read_provisioning(self, path, self.import_note.setText)
        if imported is None:
            return False
        self.imported = imported
        self.form.set_role(imported.role)
        self.form.load(dict(self.imported.raw.get("sources", [{}])[0]))
        self.chosen_kind = self.form.kind.currentData()
        self.kind.setCurrentIndex(self.kind.findData(self.chosen_kind))
        self.import_note.setText(
            _("Imported {file}: add your token on the next page.").format(file=path.name)
        )
        return True

    def _page_changed(self, page: int) -> None:
        kind = self.kind.currentData()
        if page == 1 and kind != self.chosen_kind:  # another kind chosen: a form of its own
            self.chosen_kind = kind
            if self.imported is not None:  # the person chose otherwise than the file
                self.imported = None
                self.form.set_role("assistant")
                self.import_note.setText("")
            self.form.load({"kind": kind})
        if page == 2:
            self.no_categories.setVisible(self.form.categories.count() == 0)
        if page == 3:
            self.done_page.say(*self._save())

    def _save(self) -> tuple[bool, str, str]:
        """Save; (saved, the last page's title, its text)."""
        base = copy.deepcopy(self.imported.raw) if self.imported else {}
        if not base and self.form.kind.currentData() == DEMO:  # the demo's own alert timings
            base = copy.deepcopy(config_module.DEMO_CONFIG)
        sources = base.get("sources") or [{}]
        sources[0] = self.form.table()
        base["sources"] = sources
        try:
            config_module.from_dict(base, self.path)  # checked first: a token only for these
            self._remember(self.form.name.text().strip(), self.form.stored_as)
            self.form.store_token()
            self.config = config_module.save(base, self.path)
        except ConfigError as exc:
            self.config = None
            return False, _("Not saved yet"), self._show_errors(problems(base, self.path) or [exc])
        except OSError as exc:
            self.config = None
            return (
                False,
                _("Not saved yet"),
                _(
                    "Ticketbell could not write {path}: {problem}. Once that is put right (a file "
                    "in the way of its folder, a full disk), press Back, then Next to try again."
                ).format(path=self.path, problem=exc.strerror or exc),
            )
        except secret_store.SecretUnavailable as exc:
            self.config = None
            return (
                False,
                _("Not saved yet"),
                _("Ticketbell could not keep your token: {problem}").format(problem=exc),
            )
        where = _("Your settings are saved in {path}.").format(path=self.path)
        missing = self._missing_tokens(self.config)
        unverified = self.connect_page.unverified
        if unverified:
            said = self._not_connected_text().format(
                name=self.config.sources[0].name, problem=unverified
            )
            return True, _("Saved, but not connected yet"), f"{said}{missing}\n\n{where}"
        if missing:
            title = _("Saved, but a token is missing")
            return True, title, f"{self._all_set_text()}{missing}\n\n{where}"
        return True, _("All set"), f"{self._all_set_text()}\n\n{where}"

    @staticmethod
    def _missing_tokens(config: Config) -> str:
        """What the last page says of the sources (an imported file's others) that need a
        token and have none stored: "" when none."""
        sources = {s.name for s in config.sources}
        names = [
            name
            for name, _what in config_module.secrets_needed(config)
            if name in sources and not secret_store.stored(name)
        ]
        if not names:
            return ""
        return "\n\n" + ngettext(
            "Ticketbell cannot watch {names} until its token is added in Settings.",
            "Ticketbell cannot watch {names} until their tokens are added in Settings.",
            len(names),
        ).format(names=", ".join(names))

    def _not_connected_text(self) -> str:
        if self.tray:
            return _(
                "Ticketbell could not connect to {name}, so nothing about it is verified "
                "yet: {problem}\n\nUntil it can, its icon shows a question mark instead of "
                "a count. Fix the address or token in Settings (right-click the icon)."
            )
        return _(
            "Ticketbell could not connect to {name}, so nothing about it is verified yet: "
            "{problem}\n\nUntil it can, its window shows a question mark instead of a count. "
            "Fix the address or token in Settings (the window's Menu button)."
        )

    def _all_set_text(self) -> str:
        if self.tray:
            return _(
                "Ticketbell now sits in your system tray: the number on its icon is how "
                "many customers wait for a reply. Click it to see them."
            )
        return _(
            "This desktop has no system tray, so Ticketbell now lives in a small window: the "
            "number in it is how many customers wait for a reply, and its list shows them."
        )

    def _show_errors(self, errors: list[ConfigError]) -> str:
        """Every error at its field on the Connect page; what the last page says of them."""
        self.form.clear_errors()
        for exc in (e for e in errors if e.source_index == 0):
            self.form.show_config_error(exc)
        said = "; ".join(self._named(e) for e in errors)
        if len(errors) == 1:
            return _("Go Back and fix the field marked in red: {problems}").format(problems=said)
        return ngettext(
            "Go Back and fix the {count} field marked in red: {problems}",
            "Go Back and fix the {count} fields marked in red: {problems}",
            len(errors),
        ).format(count=len(errors), problems=said)

    def _named(self, exc: ConfigError) -> str:
        """An error as the last page says it: by its field's label on the Connect page, in
        the person's language ("Zendesk address: is missing"), else by its key."""
        field = str(exc.parts[2]) if exc.source_index == 0 and exc.parts[2:] else ""
        label = self.form.field_label(field) if field else ""
        if not label:
            return f"{exc.key.split('.', 1)[-1]}: {exc.message}"
        inner = f"{exc.parts[3]}: " if exc.parts[3:] else ""  # a key inside it, as typed
        return f"{label}: {inner}{exc.message}"

    def _remember(self, *names: str) -> None:
        """Before a save: the files and the tokens it may replace, as they are (once)."""
        for path in (self.path, self.path.with_name(self.path.name + ".bak")):
            if path not in self.files_before:
                try:
                    with path.open("rb") as f:  # a config is read up to its bound, no more
                        before = f.read(config_module.MAX_FILE_BYTES + 1)
                except (FileNotFoundError, NotADirectoryError):
                    self.files_before[path] = None
                except OSError:  # unreadable: not written over either (save reads it first)
                    pass
                else:
                    if len(before) <= config_module.MAX_FILE_BYTES:  # a larger one: moved
                        self.files_before[path] = before  # aside by the save, not put back
        for name in [n for n in names if n and n not in self.tokens_before]:
            where = secret_store.stored(name)
            with contextlib.suppress(secret_store.SecretUnavailable):
                self.tokens_before[name] = (secret_store.get(name) if where else "", where)

    def undo(self) -> None:
        """Cancel: the settings file (and its .bak) and the tokens go back to what they were
        before the wizard saved, so nothing the person did not finish is kept."""
        for path, data in self.files_before.items():
            with contextlib.suppress(OSError):
                if data is None:
                    path.unlink(missing_ok=True)
                    continue
                atomic_write(path, data)
        for name, (token, where) in self.tokens_before.items():
            if not token:
                secret_store.delete(name)
                continue
            with contextlib.suppress(secret_store.SecretUnavailable):
                secret_store.set(name, token, to_file=where != secret_store.IN_KEYRING)
        self.files_before, self.tokens_before = {}, {}
        self.config = None

    def _finished(self, result: int) -> None:
        ok = result == QDialog.DialogCode.Accepted and self.config is not None
        if not ok:
            self.undo()
        self.finished_with.emit(self.config if ok else None)


class SetupNeeded(QObject):
    """The icon that stays when Ticketbell has no settings it can use (the wizard was left,
    or Settings closed on a broken file): its tooltip and menu say what is missing and offer
    the set-up again, so the app never ends without a word. Without a system tray, a small
    window says the same."""

    set_up = Signal()
    quit_requested = Signal()

    def __init__(self, missing: str) -> None:
        super().__init__()
        self.missing = missing
        text = _("Ticketbell is not watching any helpdesk: {reason}").format(reason=missing)
        self.icon = QSystemTrayIcon(QIcon(str(resources.path("ticketbell.svg"))))
        self.icon.setToolTip(text)
        self.menu = QMenu()
        self.menu.addAction(missing).setEnabled(False)
        self.menu.addAction(_("Set up Ticketbell…"), self.set_up.emit)
        self.menu.addAction(_("Quit Ticketbell"), self.quit_requested.emit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(lambda *_: self.set_up.emit())
        self.window: QMessageBox | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon.show()
            return
        box = QMessageBox(QMessageBox.Icon.Information, "Ticketbell", text)
        setup = box.addButton(_("Set up Ticketbell…"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(_("Quit Ticketbell"), QMessageBox.ButtonRole.RejectRole)
        box.finished.connect(
            lambda _: (self.set_up if box.clickedButton() is setup else self.quit_requested).emit()
        )
        box.show()
        self.window = box

    def close(self) -> None:
        self.icon.hide()
        if self.window is not None:
            self.window.hide()
