"""The settings window: one tab per page, Save (validated by the agent's own ``config.save``),
Import and Export of provisioning files. A :class:`~agent.config.ConfigError` is shown next to
the field its key names, on the page that key belongs to, and that page is brought forward."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from agent import config as config_module
from agent import secrets as secret_store
from agent.config import Config, ConfigError, schema
from agent.i18n import N_, _, ngettext
from ui.access import plain, show_focus
from ui.settings.alerts import AlertsPage
from ui.settings.escalation import EscalationPage
from ui.settings.general import GeneralPage
from ui.settings.response import ResponsePage
from ui.settings.sources import SourcesPage
from ui.settings.widgets import (
    DEMO,
    fit_screen,
    plain_label,
    read_provisioning,
    retab,
    scrolling,
    show,
)

#: the banner while the demo runs: what Save does then
DEMO_NOTE = N_(
    "This is the demo: nothing here is saved. Add your own helpdesk (and remove the demo) "
    "and Save: that becomes your settings."
)


def read_raw(path: Path) -> dict[str, Any]:
    """The file's document as it is (an unreadable one: empty), to edit in the window."""
    try:
        return config_module.read_toml(path)
    except ConfigError:
        return {}


class SettingsDialog(QDialog):
    """Helpdesks, response times, alerts, escalation, general; import/export."""

    saved = Signal(object)  # the validated Config
    test_sound = Signal()

    def __init__(
        self,
        path: Path,
        config: Config | None,
        *,
        error: ConfigError | None = None,
        sound_problem: str = "",
        demo: bool = False,
        raw: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle(_("Ticketbell settings"))
        self.path = path
        if raw is None:
            raw = config.raw if config is not None else read_raw(path)
        self.data: dict[str, Any] = copy.deepcopy(raw)
        self.demo = demo
        layout = QVBoxLayout(self)
        self.banner = plain_label(error=True)
        layout.addWidget(self.banner)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs)
        self._add_pages(sound_problem)
        layout.addWidget(self._buttons())
        fit_screen(self, 760, 640)
        retab(self)
        show_focus(self)
        self.pristine = copy.deepcopy(self.collect())  # what Esc compares with
        if error is not None:
            self.show_error(error)
            # Opened because the file could not be used at start: nothing was being saved yet.
            show(
                self.banner,
                _("Ticketbell cannot start with this configuration. {error}").format(error=error),
            )
        elif demo:
            show(self.banner, _(DEMO_NOTE), ok=True)

    def _add_pages(self, sound_problem: str) -> None:
        self.helpdesks = SourcesPage(self.data.get("sources", []))
        self.source_form = self.helpdesks.form
        # TRANSLATORS: "&" marks the Alt-letter, each other on pages, Import, Export, Save, Cancel
        self.tabs.addTab(self.helpdesks, _("&Helpdesks"))
        self.sound_problem = sound_problem
        self._add_setting_pages()

    def _add_setting_pages(self) -> None:
        """The pages after Helpdesks, built from :attr:`data`."""
        data = self.data
        self.response = ResponsePage(
            dict(data.get("windows", {})), dict(data.get("business_hours", {}))
        )
        self.alerts = AlertsPage(data.get("alerts", {}), self.sound_problem)
        self.alerts.test_sound.connect(self.test_sound.emit)
        self.escalation = EscalationPage(dict(data.get("escalation", {})))
        self.general = GeneralPage(data)
        self.general.role.currentIndexChanged.connect(
            lambda: self.source_form.set_role(self.general.role.currentData())
        )
        self.source_form.set_role(self.general.role.currentData())
        for page, title in (
            (self.response, _("&Response times")),
            (self.alerts, _("&Alerts")),
            (self.escalation, _("&Escalation")),
            (self.general, _("&General")),
        ):
            self.tabs.addTab(scrolling(page), title)

    def _buttons(self) -> QDialogButtonBox:
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        imp = buttons.addButton(_("&Import…"), QDialogButtonBox.ButtonRole.ActionRole)
        exp = buttons.addButton(_("E&xport…"), QDialogButtonBox.ButtonRole.ActionRole)
        imp.setToolTip(_("Read a provisioning file your team owner gave you"))
        exp.setToolTip(_("Write these settings, without any token or password, for your team"))
        imp.clicked.connect(self._import)
        exp.clicked.connect(self._export)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        return buttons

    def reject(self) -> None:
        """Esc, Cancel or closing the window: edits are not dropped without asking."""
        if self.edited():
            answer = QMessageBox.question(
                self,
                _("Ticketbell settings"),
                _(
                    "You changed these settings without saving them. Save them, or discard the "
                    "changes?"
                ),
                QMessageBox.StandardButton.Save
                | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Save:
                self.save()  # closes the window once saved; an error stays to be fixed
                return
            if answer != QMessageBox.StandardButton.Discard:
                return
        super().reject()

    def edited(self) -> bool:
        """Whether anything differs from what was opened or last saved: the settings, a typed
        token or channel secret, start at login (which the system keeps, not the file)."""
        data = self.collect()  # keeps the shown helpdesk's typed token with the others'
        return (
            data != self.pristine
            or any(self.helpdesks.typed)
            or self.escalation.typed_secrets()
            or self.general.autostart_changed()
        )

    @property
    def sources(self) -> list[dict[str, Any]]:
        return self.helpdesks.sources

    def show_source(self, name: str) -> bool:
        """Bring the Helpdesks page forward with the helpdesk ``name`` selected (the tray's
        error line for it was clicked); False when there is none of that name."""
        names = [str(s.get("name", "")) for s in self.sources]
        if name not in names:
            return False
        self.tabs.setCurrentWidget(self.helpdesks)
        self.helpdesks.source_list.setCurrentRow(names.index(name))
        return True

    # -- saving

    def collect(self) -> dict[str, Any]:
        self.helpdesks.store_current()
        data = copy.deepcopy(self.data)
        data["sources"] = self.sources
        self.general.collect(data)
        self.response.collect(data)
        self.alerts.collect(data)
        taken = {str(s.get("name", "")) for s in self.sources}
        esc = self.escalation.collect(dict(data.get("escalation", {})), taken)
        # the table goes only when it says nothing (no level, no digest, sent by the default):
        # a scorecard, a blind-source delay or a retry limit set without levels stays
        said = {k: v for k, v in esc.items() if v not in ([], None, "")}
        if said.get("sent_by") == schema.declared("escalation", "sent_by").default:
            del said["sent_by"]
        if said:
            data["escalation"] = {k: v for k, v in esc.items() if k != "levels" or v}
        else:
            data.pop("escalation", None)
        return {k: v for k, v in data.items() if v not in ({}, None)}

    def _pages(self) -> list[Any]:
        return [self.helpdesks, self.response, self.alerts, self.escalation, self.general]

    def save(self) -> Config | None:
        self.source_form.clear_errors()
        for page in self._pages()[1:]:
            page.clear_errors()
        show(self.banner, "", ok=False)
        data = self.collect()
        if self.demo and any(s.get("kind") != DEMO for s in self.sources):
            if self.path.exists():  # `ticketbell --demo` beside the person's own settings
                show(
                    self.banner,
                    _(
                        "Not saved: this is the demo; your settings in {path} stay as they are. "
                        "Start Ticketbell without the demo to change them."
                    ).format(path=self.path),
                )
                return None
            self.demo = False  # the person's own helpdesk: these become their settings
        try:
            config = config_module.from_dict(data, self.path)
            self.helpdesks.store_tokens()
            self.escalation.store_secrets()
            if not self.demo:
                config = config_module.save(data, self.path)
                self.helpdesks.settle_secrets()
                self.escalation.settle_secrets(data)
            self.general.apply_autostart()
        except ConfigError as exc:
            self.show_errors(config_module.problems(data, self.path) or [exc])
            return None
        except (OSError, secret_store.SecretUnavailable) as exc:
            show(self.banner, _("Not saved: {problem}").format(problem=exc))
            return None
        self.data = copy.deepcopy(data)
        self.pristine = copy.deepcopy(data)
        self.saved.emit(config)
        self.accept()
        return config

    def show_error(self, exc: ConfigError) -> None:
        """Put ``exc`` under its field, bring its page forward and say so in the banner."""
        self.show_errors([exc])

    def show_errors(self, errors: list[ConfigError]) -> None:
        """Put every error under its field (of one helpdesk at a time: the first with an
        error), bring the first one's page forward and say in the banner where they all are."""
        # the pages learn which row is which key as they are collected
        if not self.escalation.index:
            self.escalation.collect(dict(self.data.get("escalation", {})), set())
        if not self.response.index:
            self.response.collect(copy.deepcopy(self.data))
        tabs: list[int] = []  # the tab of each error shown
        others: list[str] = []  # helpdesks with errors besides the one shown
        unplaced: list[str] = []
        first_source = next((e.source_index for e in errors if e.source_index is not None), None)
        for exc in errors:
            if exc.source_index is not None and exc.source_index != first_source:
                others.append(str(self.sources[exc.source_index].get("name", "?")))
                continue
            page = next((p for p in self._pages() if p.show_error(exc)), None)
            if page is None:
                unplaced.append(str(exc))
            else:
                tabs.append(self._tab_of(page))
        if tabs:
            self.tabs.setCurrentIndex(tabs[0])
            self.helpdesks.first_error_in_view()
        titles = [plain(self.tabs.tabText(i)) for i in tabs]
        show(self.banner, _banner(titles, others, unplaced))

    def _tab_of(self, page: QWidget) -> int:
        for i in range(self.tabs.count()):
            tab = self.tabs.widget(i)
            if tab is not None and (tab is page or tab.isAncestorOf(page)):
                return i
        return self.tabs.currentIndex()

    # -- provisioning

    def _import(self) -> None:
        name, _filter = QFileDialog.getOpenFileName(
            self, _("Import a provisioning file"), "", "*.toml"
        )
        if name:
            self.import_file(Path(name))

    def import_file(self, path: Path) -> bool:
        config = read_provisioning(self, path, lambda problem: show(self.banner, problem))
        if config is None:
            return False
        self.data = copy.deepcopy(config.raw)
        self.helpdesks.replace(self.data.get("sources", []))
        # the file is the whole of the settings, as `ticketbell --import` and the wizard take
        # it: the other pages are built anew from it (they kept what they were opened with)
        shown = self.tabs.currentIndex()
        opened = self.escalation.opened  # its secrets go once the imported settings are saved
        while self.tabs.count() > 1:
            page = self.tabs.widget(1)
            self.tabs.removeTab(1)
            if page is not None:
                page.deleteLater()
        self._add_setting_pages()
        self.escalation.opened = opened
        self.tabs.setCurrentIndex(shown)
        retab(self)
        return True

    def _export(self) -> None:
        name, _filter = QFileDialog.getSaveFileName(
            self, _("Export a provisioning file"), "ticketbell-provisioning.toml", "*.toml"
        )
        if name:
            self.export_file(Path(name))

    def export_file(self, path: Path) -> bool:
        try:
            config = config_module.from_dict(self.collect(), None)
            path.write_text(config_module.export_provisioning(config), encoding="utf-8")
        except (ConfigError, OSError) as exc:
            show(self.banner, _("Not exported: {problem}").format(problem=exc))
            return False
        return True


def _banner(titles: list[str], others: list[str], unplaced: list[str]) -> str:
    """ "Not saved: please fix the 3 fields marked in red on the Helpdesks and Alerts pages"."""
    parts = []
    n = len(titles)
    pages = list(dict.fromkeys(titles))
    if len(pages) == 1:
        one = _("please fix the field marked in red on the {page} page")
        many = ngettext(
            "please fix the {count} field marked in red on the {page} page",
            "please fix the {count} fields marked in red on the {page} page",
            n,
        )
        parts.append((one if n == 1 else many).format(count=n, page=pages[0]))
    elif pages:
        where = _("{first} and {last}").format(first=", ".join(pages[:-1]), last=pages[-1])
        one = _("please fix the field marked in red on the {pages} pages")
        many = ngettext(
            "please fix the {count} field marked in red on the {pages} pages",
            "please fix the {count} fields marked in red on the {pages} pages",
            n,
        )
        parts.append((one if n == 1 else many).format(count=n, pages=where))
    if others:
        names = ", ".join(dict.fromkeys(others))
        parts.append(_("fix also the helpdesk {names}").format(names=names))
    parts += unplaced
    return _("Not saved: {problems}.").format(problems="; ".join(parts))
