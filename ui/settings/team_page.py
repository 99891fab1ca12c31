"""The first-run wizard's "Join my team": the broker, the team, the login and its password; then
the hub's sources to follow, each with the categories to watch. Saved as a member's config
(``agent.team_agent.join_table``), the password in the keyring as "team"."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent import config as config_module
from agent import secrets as secret_store
from agent.config import Config, ConfigError, Team
from agent.i18n import _
from agent.team_agent import hub_sources, join_table
from ui.access import plain
from ui.settings.widgets import Worker, hint, plain_label, retab, show


class JoinTeamDialog(QDialog):
    """Connect first (the hub's sources are listed), then tick what to follow and Save."""

    def __init__(self, parent: QWidget | None, path: Path) -> None:
        super().__init__(parent)
        self.path = path
        self.config: Config | None = None
        self.setWindowTitle(_("Join my team"))
        lay = QVBoxLayout(self)
        lay.addWidget(hint(_("Your team's owner gives you these. You need no helpdesk token.")))
        form = QFormLayout()
        self.broker = QLineEdit(placeholderText="mqtts://mqtt.example.com:8883")
        self.team = QLineEdit(placeholderText="acme-support")
        self.user = QLineEdit()
        self.password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.ca = QLineEdit(placeholderText=_("optional: the broker's CA file"))
        for label, field in (
            (_("Broker"), self.broker),
            (_("Team"), self.team),
            (_("Your login"), self.user),
            (_("Password"), self.password),
            (_("Broker CA"), self.ca),
        ):
            form.addRow(label, field)
            field.textChanged.connect(self._offer_save)
        lay.addLayout(form)
        self.connect_button = QPushButton(_("Connect and list the hub's helpdesks"))
        self.connect_button.clicked.connect(self.list_sources)
        lay.addWidget(self.connect_button)
        self.note = plain_label()
        lay.addWidget(self.note)
        self.picks = QVBoxLayout()
        lay.addLayout(self.picks)
        self.boxes: dict[str, list[QCheckBox]] = {}
        self.offered: dict[str, list[str]] = {}  # the hub's list shown: self.boxes' names
        # The fields a listing was asked with, and those the list shown was read with.
        self._asked: tuple[Team, str] | None = None
        self._read: tuple[Team, str] | None = None
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setEnabled(False)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        retab(self)
        self.worker = Worker()
        self.worker.done.connect(self._listed)

    def _say(self, text: str, ok: bool | None = None) -> None:
        """The note under the button, and the dialog fitted to it: a shown dialog keeps its
        size, and a long note (an untrusted certificate's) was cut off, the fields squeezed."""
        show(self.note, text, ok)
        self.adjustSize()

    def settings(self) -> Team:
        return Team(
            self.broker.text().strip(),
            self.team.text().strip(),
            self.user.text().strip(),
            ca=self.ca.text().strip(),
            heartbeat=timedelta(seconds=15),
        )

    def _fields(self) -> tuple[Team, str]:
        return self.settings(), self.password.text()

    def _current(self) -> bool:
        """Whether a list is shown and was read with the fields as they are now. Save stores
        the fields with the helpdesks ticked: fields edited since (another team, login or
        password) were never tried on the hub, and the list may be another team's."""
        return bool(self.boxes) and self._read == self._fields()

    def _offer_save(self) -> None:
        """Save only for the list read with the fields as they are now (see ``_current``)."""
        if not self.boxes:
            return  # nothing listed: Save is off, and the note says why
        current = self._current()
        self.save_button.setEnabled(current)
        if current:
            self._say(_("Tick what you follow; no category ticked: all of them."), ok=True)
        else:
            self._say(self._stale_text(), ok=False)

    @staticmethod
    def _stale_text() -> str:
        return _(
            "The connection details changed since the list was read: connect and list the "
            "hub's helpdesks again."
        )

    def _checked(self) -> str:
        """What is wrong with the fields, as config validation says it ("" when nothing)."""
        table = join_table(self.settings(), {})["team"]
        try:
            config_module.from_dict({"team": table})
        except ConfigError as exc:
            return exc.message if not exc.key else f"{exc.key}: {exc.message}"
        return "" if self.password.text() else _("the password is missing")

    def list_sources(self) -> None:
        problem = self._checked()
        if problem:
            self._say(problem, ok=False)
            return
        self.connect_button.setEnabled(False)
        self._say(_("Connecting…"))
        self._asked = self._fields()
        settings, password = self._asked
        self.worker.run(lambda: hub_sources(settings, password))

    def _listed(self, result: tuple[dict[str, list[str]], str]) -> None:
        found, problem = result
        self.connect_button.setEnabled(True)
        ticked = self._ticked()
        for boxes in self.boxes.values():
            for box in boxes:
                self.picks.removeWidget(box)
                box.deleteLater()
        self.boxes = {}
        self.offered = {}
        self._read = None
        if not found:
            problem = _("Could not list the hub's helpdesks: {problem}").format(problem=problem)
            self._say(problem, ok=False)
            self.save_button.setEnabled(False)
            return
        for name, categories in found.items():
            source = QCheckBox(name.replace("&", "&&"))  # a name's '&' shown, not a mnemonic
            source.setChecked(ticked.get((name, None), True))
            self.picks.addWidget(source)
            self.boxes[name] = [source]
            for category in categories:
                box = QCheckBox("    " + category.replace("&", "&&"))
                box.setChecked(ticked.get((name, category), False))
                self.picks.addWidget(box)
                self.boxes[name].append(box)
        self.offered = found
        self._read = self._asked
        self._offer_save()  # the fields may have been edited while the hub was asked
        retab(self)
        self.adjustSize()

    def _ticked(self) -> dict[tuple[str, str | None], bool]:
        """The boxes shown, ticked or not, by (source, category), the source's own box by
        (source, None): listing again keeps them for what the hub still offers."""
        ticked: dict[tuple[str, str | None], bool] = {}
        for name, categories in self.offered.items():
            source, *boxes = self.boxes[name]
            ticked[(name, None)] = source.isChecked()
            for category, box in zip(categories, boxes, strict=True):
                ticked[(name, category)] = box.isChecked()
        return ticked

    def picked(self) -> dict[str, list[str]]:
        return {
            name: [plain(b.text()).strip() for b in boxes[1:] if b.isChecked()]
            for name, boxes in self.boxes.items()
            if boxes[0].isChecked()
        }

    def save(self) -> None:
        if not self._current():
            self._say(self._stale_text(), ok=False)
            return
        if not self.picked():
            self._say(_("Tick at least one of the hub's helpdesks"), ok=False)
            return
        settings, password = self._fields()
        table = join_table(settings, self.picked())
        try:
            # Checked before the password is stored: a save refused leaves the keyring as it was.
            config_module.from_dict(table, self.path)
            secret_store.set("team", password)
            self.config = config_module.save(table, self.path)
        except ConfigError as exc:
            self._say(_("Not saved: {problem}").format(problem=exc.message), ok=False)
            return
        except (OSError, secret_store.SecretUnavailable) as exc:
            self._say(_("Not saved: {problem}").format(problem=exc), ok=False)
            return
        self.accept()


def join_team(parent: QWidget | None, path: Path) -> Config | None:
    """Run "Join my team"; the saved member's config, or None when cancelled."""
    dialog = JoinTeamDialog(parent, path)
    dialog.exec()
    return dialog.config
