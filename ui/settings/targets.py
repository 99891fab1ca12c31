"""The places an escalation goes, as rows to type, mask, test and remove.

A channel URL that carries a password or token is shown masked once typed and goes to the
keyring on saving (the config gets ``keyring:NAME``); "Send test" sends through the agent's own
delivery path, off the main thread.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from agent import channels, escalation
from agent import secrets as secret_store
from agent.i18n import N_, _
from ui.settings.widgets import Worker, append_row, hint, plain_label, retab, show

#: the note under a target whose address (with its secret) is in the keyring
KEPT = N_("Kept in the keyring as {name} (the settings file only names it).")

log = logging.getLogger(__name__)


def _send_test(target: str) -> str | None:
    """One test message through the real delivery path: None (sent) or why not, in words."""
    try:
        return escalation.send_test(target)
    except Exception as exc:  # the window must hear back in any case
        log.exception("test message failed")
        return secret_store.redact(f"{type(exc).__name__}: {exc}")


class TargetRow(QWidget):
    """One place an escalation goes: "owner-desktop", a channel URL, or ``keyring:NAME``.

    A URL with a password or token in it is never shown again once typed: the field shows the
    masked form (``describe_target``) and becomes read-only, and on saving the URL goes to the
    keyring and the config gets ``keyring:NAME``. "Replace…" lets the person type a new one.
    """

    removed = Signal(object)

    def __init__(self, target: str = "") -> None:
        super().__init__()
        self.value = target  # what the config says while the field is not edited
        self.secret_url = ""  # a typed URL that carries a secret, until saved to the keyring
        self.old_name = ""  # the keyring entry this row used (reused when it is replaced)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        row = QHBoxLayout()
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(_("owner-desktop, mailto://owner@example.com, ntfy://topic …"))
        self.edit.setToolTip(
            _(
                '"owner-desktop" (the owner\'s own Ticketbell), or a channel address: '
                "mailto://, Slack, Teams, Discord, ntfy, a JSON webhook…"
            )
        )
        self.edit.editingFinished.connect(self.absorb)
        self.replace_button = QPushButton(_("Replace…"))
        self.replace_button.clicked.connect(self._replace)
        self.test_button = QPushButton(_("Send test"))
        self.test_button.clicked.connect(self.send_test)
        self.remove_button = QPushButton(_("Remove"))
        self.remove_button.clicked.connect(lambda: self.removed.emit(self))
        row.addWidget(self.edit, 1)
        row.addWidget(self.replace_button)
        row.addWidget(self.test_button)
        row.addWidget(self.remove_button)
        lay.addLayout(row)
        self.note = hint("")
        self.note.setVisible(False)
        self.result = plain_label(error=True)
        self.error = plain_label(error=True)
        lay.addWidget(self.note)
        lay.addWidget(self.result)
        lay.addWidget(self.error)
        self.sender_ = Worker()  # not "sender": that is QObject.sender()
        self.sender_.done.connect(self._sent)
        if target.startswith(channels.KEYRING_PREFIX):
            self.shown = self._display(target)
            self.edit.setText(self.shown)
            self._update()
        else:  # a URL with a secret in it (from a hand-written file) is masked at once
            self.value = self.shown = ""
            self.edit.setText(target)
            self.absorb()

    def _display(self, target: str) -> str:
        if not target.startswith(channels.KEYRING_PREFIX):
            return target
        name = target[len(channels.KEYRING_PREFIX) :].strip()
        self.old_name = name
        try:
            shown = unquote(channels.describe_target(escalation.resolve_target(target)))
        except escalation.DeliveryError:
            self._note(
                _("Kept in the keyring as {name}, but the keyring has no such entry.").format(
                    name=repr(name)
                )
            )
            return target
        self._note(_(KEPT).format(name=repr(name)))
        return shown

    def _note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def _kept(self) -> bool:
        """Whether the field shows a secret URL (masked) rather than what was typed."""
        return bool(self.secret_url) or self.value.startswith(channels.KEYRING_PREFIX)

    def _update(self) -> None:
        kept = self._kept() and self.edit.text() == self.shown
        self.edit.setReadOnly(kept)
        self.replace_button.setVisible(kept)
        self.test_button.setEnabled(bool(self.edit.text().strip()))
        if self.value == channels.OWNER_DESKTOP and not self.secret_url:
            self.test_button.setEnabled(False)
            self.test_button.setToolTip(_("The owner's own Ticketbell shows these itself."))
        else:
            self.test_button.setToolTip(_("Send a short test message there now."))

    def _replace(self) -> None:
        self.secret_url, self.value, self.shown = "", "", ""
        self.edit.clear()
        self.edit.setPlaceholderText(_("Type the whole address again, with its password or token"))
        self._note("")
        self._update()
        self.edit.setFocus()

    def absorb(self) -> None:
        """Take what was typed: a URL carrying a secret is masked and kept for the keyring."""
        text = self.edit.text().strip()
        if text == self.shown:
            self._update()
            return
        show(self.result, "")
        if channels.carries_secret(text):
            self.secret_url, self.value = text, ""
            self.shown = unquote(channels.describe_target(text))
            self.edit.setText(self.shown)
            self._note(
                _(
                    "The password or token in it will be kept in the keyring when you save, "
                    "not in the settings file."
                )
            )
        else:
            self.secret_url, self.value, self.shown = "", text, text
            self._note("")
        self._update()

    def target(self) -> str:
        """What a test message is sent to (a typed secret URL before it is saved)."""
        self.absorb()
        return self.secret_url or self.value

    def is_empty(self) -> bool:
        return not self.target()

    def config_value(self, place: str, taken: set[str]) -> tuple[str, tuple[str, str] | None]:
        """The config's value for this target and, for a typed secret URL, (keyring name, URL)
        to store on saving. ``taken`` holds the keyring names used elsewhere; it is updated."""
        self.absorb()
        if not self.secret_url:
            return self.value, None
        name = self.old_name
        if not name or name.casefold() in {t.casefold() for t in taken}:
            name = escalation.keyring_name(self.secret_url, place, taken)
        taken.add(name)
        return channels.KEYRING_PREFIX + name, (name, self.secret_url)

    def stored(self, value: str) -> None:
        """The row's secret was saved to the keyring as ``value`` (``keyring:NAME``)."""
        self.value, self.secret_url = value, ""
        self.old_name = value[len(channels.KEYRING_PREFIX) :]
        self._note(_(KEPT).format(name=repr(self.old_name)))
        self._update()

    def send_test(self) -> None:
        target = self.target()
        if not target:
            return
        self.test_button.setEnabled(False)
        show(self.result, _("Sending a test message…"), ok=True)
        self.result.setStyleSheet("")
        self.sender_.run(lambda: _send_test(target))

    def _sent(self, error: object) -> None:
        self._update()
        if error is None:
            show(self.result, _("Test message sent. Check that it arrived."), ok=True)
        else:
            show(self.result, _("Not sent: {problem}").format(problem=error), ok=False)


class TargetList(QWidget):
    """A list of targets with "Add a place"."""

    def __init__(self, targets: list[str], add_text: str = "") -> None:
        super().__init__()
        self.rows: list[TargetRow] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.rows_box = QVBoxLayout()
        lay.addLayout(self.rows_box)
        bottom = QHBoxLayout()
        self.add_button = QPushButton(add_text or _("Add a place to tell"))
        self.add_button.clicked.connect(lambda: self.add("").edit.setFocus())
        bottom.addWidget(self.add_button)
        bottom.addStretch(1)
        lay.addLayout(bottom)
        self.error = plain_label(error=True)
        lay.addWidget(self.error)
        for target in targets:
            self.add(target)

    def add(self, target: str) -> TargetRow:
        row = TargetRow(target)
        append_row(self.rows, self.rows_box, row)
        retab(self)
        return row

    def clear_errors(self) -> None:
        show(self.error, "")
        for row in self.rows:
            show(row.error, "")
