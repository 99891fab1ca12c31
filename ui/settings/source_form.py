"""One helpdesk's form: its kind, name, the kind's own fields (from its declared options), its
token (to the keyring, never the file), categories, "Test connection" and "Sign in…"."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent import secrets as secret_store
from agent.config import ConfigError, schema
from agent.connection import ConnectionTest, source_to_sign_in, try_connection, try_sign_in
from agent.i18n import _
from agent.sources import KINDS, source_class
from agent.sources.base import Option
from ui.access import plain
from ui.settings.widgets import (
    DEMO,
    KeyValueEditor,
    Worker,
    accept_token_file,
    clear,
    hint,
    kind_text,
    plain_label,
    retab,
    show,
    with_error,
)

#: the rows every kind has; the kind's own rows go between name and token
FIXED_ROWS = ("kind", "name", "token", "interval")


class SignInRow(QWidget):
    """**Sign in…** for an ``auth = "oauth"`` source: runs ``agent.signin.sign_in`` off the
    main thread, shows the device code or opens the browser, and says what to do. A sign-in
    still under way when the row is deleted is cancelled: nobody sees its code any more, and
    its end reaches no deleted row (the thread talks to a :class:`Worker`; its own emits on a
    deleted row failed with "Signal source has been deleted")."""

    said = Signal(str)
    done = Signal(bool, str)

    def __init__(self, table: Callable[[], dict[str, Any]]) -> None:
        super().__init__()
        self.table = table
        self.cancel: threading.Event | None = None
        self.button = QPushButton(_("Sign in…"))
        self.button.clicked.connect(self.sign_in)
        self.text = plain_label()
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addWidget(self.text, 1)
        self.said.connect(lambda text: show(self.text, text, True))
        self.worker = Worker()
        self.worker.said.connect(self.said)
        self.worker.done.connect(self._done)

    def sign_in(self) -> None:
        if self.cancel is not None:  # the button says "Cancel" while a sign-in runs
            self.cancel.set()
            return
        source = source_to_sign_in(self.table())
        if isinstance(source, str):
            show(self.text, source, False)
            return
        cancel = self.cancel = threading.Event()
        self.destroyed.connect(cancel.set)
        self.button.setText(_("Cancel"))
        retab(self)  # its Alt-letter: one of "Cancel"'s
        show(self.text, _("Asking the sign-in server…"), True)
        say = self.worker.said.emit
        self.worker.run(lambda: try_sign_in(source, say, cancel), name="ticketbell-sign-in")

    def _done(self, result: ConnectionTest) -> None:
        self.cancel = None
        self.button.setText(_("Sign in…"))
        retab(self)
        show(self.text, result.message, result.ok)
        self.done.emit(result.ok, result.message)


def _option_widget(opt: Option, value: object) -> QWidget:
    """The field for one declared option: a checkbox, a key-value table, or a line."""
    if opt.type is bool:
        check = QCheckBox()
        check.setChecked(bool(value))
        return check
    if opt.type is dict:
        return KeyValueEditor(value)
    line = QLineEdit()
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    line.setText("" if value is None else str(value))
    return line


def _field_value(opt: Option, widget: QWidget | None) -> object:
    """What the field of ``opt`` says, as the file writes it (None: an empty number)."""
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, KeyValueEditor):
        return widget.value()
    if isinstance(widget, QLineEdit):
        text = widget.text().strip()
        return _line_value(opt, text) if text or opt.type is not int else None
    return None


def _line_value(opt: Option, text: str) -> object:
    if opt.type is list:
        return [p.strip() for p in text.split(",") if p.strip()]
    if opt.type is int:
        return int(text) if text.lstrip("-").isdigit() else text
    return text


STORED_LOOKUP_MS = 300  # "stored in the keyring" is looked up once the name is left this long


def store_secret(parent: QWidget, name: str, token: str) -> None:
    """Put ``token`` in the keyring under the source ``name`` (never in the config). Without a
    keyring, the person is warned and may keep it in the private file instead; if not,
    NoKeyring goes up with its advice."""
    try:
        secret_store.set(name, token)
    except secret_store.NoKeyring as exc:
        if not accept_token_file(parent, str(exc)):
            raise
        secret_store.set(name, token, to_file=True)


def unused_name(title: str, taken: set[str]) -> str:
    """``title``, or ``title 2``, ``title 3``… when another source has it already."""
    number = 1
    name = title
    while name in taken:
        number += 1
        name = f"{title} {number}"
    return name


class SourceForm(QWidget):
    """One source: kind, name, the kind's own fields, token, categories, test."""

    #: a connection test's result, once the form shows it (the wizard's page moves on then,
    #: in the same turn: a second receiver of the worker's signal would come a turn later)
    tested = Signal(object)

    def __init__(
        self,
        table: dict[str, Any] | None = None,
        kinds: list[str] | None = None,
        with_categories: bool = True,
    ):
        super().__init__()
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.form = QFormLayout()
        # a field too wide beside a long translated label ("Anmeldename (meist die Adresse des
        # Postfachs)") goes under it: the form stays as wide as its page, nothing cut off
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.layout_.addLayout(self.form)
        self.kind = QComboBox()
        # a long description must not make the whole form wider than a small screen
        self.kind.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.kind.setMinimumContentsLength(24)
        for kind in kinds or list(KINDS):
            self.kind.addItem(kind_text(kind), kind)
        self.name = QLineEdit()
        #: the name the form gave a new source (its kind's title), which follows the kind
        #: until the person types another
        self.given_name = ""
        #: the other sources' names, which a given name does not repeat ("GitHub 2")
        self.other_names: set[str] = set()
        self.interval = QLineEdit()
        self.set_role("assistant")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.errors: dict[str, QLabel] = {}
        self.fields: dict[str, QWidget] = {}
        self.extra_rows: list[QWidget] = []
        self.categories_label = QLabel(_("My categories (none ticked: all of them)"))
        self.categories = QListWidget()
        self.categories.setMinimumHeight(80)
        self.test_button = QPushButton(_("Test connection"))
        self.test_result = plain_label()
        self.tester = Worker()
        self.tester.done.connect(self._tested)
        self.test_button.clicked.connect(self.test)
        self._row("kind", self.kind)
        self._row("name", self.name)
        self.token_row = self._row("token", self._token_box(), label=_("Token"))
        self._row("interval", self.interval)
        self._add_bottom(with_categories)
        self.kind.currentIndexChanged.connect(lambda: self._kind_changed({}))
        self.stored_lookup = self._stored_follows_name()
        #: the name store_token() last stored a token under: a rename moves it along
        self.stored_as = ""
        #: the table and token box of the last test started, its answer the next ``tested``
        self.tried: dict[str, Any] | None = None
        #: where the categories listed came from (the wizard lists them on a page of their
        #: own, out of sight while the address or token is changed): see _server()
        self.with_categories = with_categories
        self.listed_for: tuple[dict[str, Any], str] | None = None
        self.load(table or {"kind": self.kind.currentData()})

    def _stored_follows_name(self) -> QTimer:
        """The token box's "stored in the keyring" follows the name, looked up once typing
        pauses: the keyring is a D-Bus call (Secret Service), not one for the UI thread at
        every key."""
        lookup = QTimer(self)
        lookup.setSingleShot(True)
        lookup.setInterval(STORED_LOOKUP_MS)
        lookup.timeout.connect(self.show_stored)
        self.name.textChanged.connect(lambda: lookup.start())
        return lookup

    def _token_box(self) -> QWidget:
        """The token field with "How do I get this?", which shows the kind's steps below it."""
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.token, 1)
        self.token_help = QPushButton(_("How do I get this?"))
        self.token_help.setCheckable(True)
        row.addWidget(self.token_help)
        lay.addLayout(row)
        self.token_steps = hint("")
        self.token_steps.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.token_steps.setVisible(False)
        lay.addWidget(self.token_steps)
        self.token_help.toggled.connect(self.token_steps.setVisible)
        return box

    def _add_bottom(self, with_categories: bool) -> None:
        if with_categories:
            self.layout_.addWidget(self.categories_label)
            self.layout_.addWidget(self.categories, 1)
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addWidget(self.test_result, 1)
        self.layout_.addLayout(row)
        self.test_row = row
        self.sign_in = SignInRow(self.table)
        self.layout_.addWidget(self.sign_in)

    def set_role(self, role: str) -> None:
        """The "empty: every N minutes" of the interval follows the role's declared default."""
        example = schema.DEFAULT_INTERVAL["assistant"]
        if role not in schema.ROLES:  # a file's misspelt role, shown as an error until mended
            role = schema.default("", "role")
        means = schema.empty_means("sources", "interval", role)
        self.interval.setPlaceholderText(
            _("e.g. {example} (empty: {means})").format(example=example, means=means)
        )

    def _row(
        self, key: str, widget: QWidget, help_: str = "", at: int = -1, label: str = ""
    ) -> QWidget:
        box, error = with_error(widget, help_)
        self.errors[key] = error
        self.fields[key] = widget
        self.form.insertRow(at, label or _(schema.declared("sources", key).label), box)
        return box

    def load(self, table: dict[str, Any]) -> None:
        self.loaded = dict(table)
        self.stored_as = ""  # another source's token is not this one's
        self.listed_for = None
        kind = table.get("kind", DEMO)
        index = self.kind.findData(kind)
        self.kind.blockSignals(True)
        self.kind.setCurrentIndex(max(0, index))
        self.kind.blockSignals(False)
        self.name.setText(str(table.get("name", "")))
        self.given_name = ""
        self.interval.setText(str(table.get("interval", "")))
        self.token.clear()
        self._kind_changed(table)
        self.show_stored()

    def _kind_changed(self, table: dict[str, Any]) -> None:
        for box in self.extra_rows:
            # taken out and deleted later, not at once (removeRow): an event still on its way
            # to one of its widgets (a click, a layout request) would reach a deleted object
            taken = self.form.takeRow(box)
            for item in (taken.labelItem, taken.fieldItem):
                if item is not None and (widget := item.widget()) is not None:
                    widget.hide()
                    widget.deleteLater()
        self.extra_rows = []
        for key in [k for k in self.fields if k not in FIXED_ROWS]:
            self.fields.pop(key)
            self.errors.pop(key, None)
        cls = source_class(self.kind.currentData())
        if self.name.text() in ("", self.given_name):
            self.given_name = unused_name(_(cls.title), self.other_names)
            self.name.setText(self.given_name)
        options: list[tuple[Option, bool]] = [(o, True) for o in cls.required]
        options += [(o, False) for o in cls.optional if not (cls.kind == DEMO and o.key == "url")]
        for opt, required in options:
            widget = _option_widget(opt, table.get(opt.key, opt.default))
            label = _(opt.label) if required else _("{label} (optional)").format(label=_(opt.label))
            at = 2 + len(self.extra_rows)  # after kind and name, before token and interval
            help_ = _(opt.help) if opt.help else ""
            self.extra_rows.append(self._row(opt.key, widget, help_, at, label))
        self.sign_in.setVisible(any(o.key == "auth" for o in cls.optional))
        self.token_row.setVisible(cls.needs_secret)
        token_label = self.form.labelForField(self.token_row)
        assert isinstance(token_label, QLabel)  # the form made the row with a text label
        token_label.setText(_(cls.secret_label))
        token_label.setVisible(cls.needs_secret)
        self.token_help.setChecked(False)
        self.token_help.setVisible(bool(cls.credential_steps))
        self.token_steps.setText(
            _(cls.credential_steps).rstrip(".")
            + ". "
            + _("Paste it here: Ticketbell keeps it in the keyring, never in the settings file.")
        )
        self.categories_label.setText(_(cls.category_label))
        cats = [str(c) for c in table.get("categories", [])]
        self.set_categories(cats, cats)
        show(self.test_result, "")
        retab(self)

    def set_categories(self, known: list[str], ticked: list[str]) -> None:
        self.categories.clear()
        for name in dict.fromkeys([*known, *ticked]):
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in ticked else Qt.CheckState.Unchecked)
            self.categories.addItem(item)

    def ticked(self) -> list[str]:
        items = (self.categories.item(i) for i in range(self.categories.count()))
        return [i.text() for i in items if i.checkState() == Qt.CheckState.Checked]

    def table(self) -> dict[str, Any]:
        """The source as the form shows it, with the keys it has no field for (``secret_env``,
        ``verify``, ``proxy``, ``timeout``...) as they were loaded: a save through the form
        changes only what the person changed."""
        cls = source_class(self.kind.currentData())
        table: dict[str, Any] = {"name": self.name.text().strip(), "kind": cls.kind}
        if self.interval.text().strip():
            table["interval"] = self.interval.text().strip()
        same_kind = self.loaded.get("kind", DEMO) == cls.kind
        shown = {*FIXED_ROWS, "categories", *self.fields}
        common = {opt.key for opt in schema.SOURCE}
        for key, value in self.loaded.items():
            if key not in shown and (same_kind or key in common):
                table[key] = value
        for opt in [o for o in cls.required + cls.optional if o.key in self.fields]:
            value = _field_value(opt, self.fields[opt.key])
            if opt.key in self.loaded or value not in (None, "", [], {}, opt.default):
                table[opt.key] = value
        if self.ticked():
            table["categories"] = self.ticked()
        return table

    def show_error(self, key: str, message: str) -> bool:
        label = self.errors.get(key)
        if label is None:
            return False
        show(label, message)
        return True

    def field_label(self, key: str) -> str:
        """The label of the field of ``key`` as the form shows it, in words ("Zendesk
        address"); "" when the form has no such field."""
        field = self.fields.get(key)
        row = field.parentWidget() if field is not None else None  # with its hint and error
        label = self.form.labelForField(row) if row is not None else None
        return plain(label.text()) if isinstance(label, QLabel) else ""

    def show_config_error(self, exc: ConfigError) -> bool:
        """``exc`` (about this source) under its field, naming a key inside it ("created:
        is missing" under the field mapping)."""
        inner = f"{exc.parts[3]}: " if exc.parts[3:] else ""
        return self.show_error(str(exc.parts[2]) if exc.parts[2:] else "name", inner + exc.message)

    def clear_errors(self) -> None:
        clear(*self.errors.values())

    def test(self) -> None:
        """Test the connection as the agent will make it (``agent.connection.try_connection``),
        off the main thread; the answer comes back by ``tester.done``."""
        show(self.test_result, _("Testing the connection…"), ok=True)
        self.test_result.setStyleSheet("")
        self.test_button.setEnabled(False)
        if not self.with_categories and self.listed_for not in (None, self._server()):
            self.set_categories([], [])  # another helpdesk's, unseen: not a filter for this one
        table, token = self.table(), self.token.text() or self._stored_before()
        self.tried = {"table": table, "token": self.token.text()}
        self.tester.run(lambda: try_connection(table, token or None))

    def _server(
        self, table: dict[str, Any] | None = None, token: str | None = None
    ) -> tuple[dict[str, Any], str]:
        """The helpdesk a table and token reach: all but the name, interval and categories."""
        table = self.table() if table is None else table
        token = self.token.text() if token is None else token
        return {
            k: v for k, v in table.items() if k not in ("name", "interval", "categories")
        }, token

    def _stored_before(self) -> str:
        """The token store_token() kept under the name the source had before a rename (moved
        to the new name on the next store), else "" (the keyring's under the name, if any)."""
        if self.stored_as in ("", self.name.text().strip()):
            return ""
        try:
            return secret_store.get(self.stored_as)
        except secret_store.SecretUnavailable:
            return ""

    def _tested(self, result: ConnectionTest) -> None:
        self.test_button.setEnabled(True)
        show(self.test_result, result.message, result.ok)
        if isinstance(result.categories, list):
            self.set_categories([str(c) for c in result.categories], self.ticked())
            if self.tried is not None:
                self.listed_for = self._server(self.tried["table"], self.tried["token"])
        self.tested.emit(result)

    def store_token(self) -> None:
        """Put a typed token in the keyring under the source's name (never in the config); one
        this form stored under an earlier name moves to the new one. Without a keyring, the
        person is warned and may keep it in the private file instead; if not, NoKeyring goes
        up with its advice."""
        name = self.name.text().strip()
        if not source_class(self.kind.currentData()).needs_secret:
            return
        if self.token.text():
            store_secret(self, name, self.token.text())
            if self.listed_for is not None and self.listed_for[1] == self.token.text():
                self.listed_for = (self.listed_for[0], "")  # the same token, now stored
            if self.stored_as not in ("", name):  # stored earlier under the name it had
                secret_store.delete(self.stored_as)
        elif self.stored_as not in ("", name):
            # the token this form stored under the name the source had: it is the one the
            # person gave (and tested), so it goes to the new name over any left there
            moved = self._stored_before()
            if not moved:
                return
            store_secret(self, name, moved)
            secret_store.delete(self.stored_as)
        else:
            return
        self.stored_as = name
        self.token.clear()
        self.show_stored()

    def show_stored(self) -> None:
        """The empty token box says when a token is stored for this source."""
        where = secret_store.stored(self.name.text().strip()) if self.name.text().strip() else ""
        if where == secret_store.IN_KEYRING:
            said = _("stored in the keyring — type to replace")
        else:  # "a private file" (no keyring on this computer), or nowhere
            said = _("stored in a private file — type to replace") if where else ""
        self.token.setPlaceholderText(said)
