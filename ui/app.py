"""The tray application: QApplication, one instance per data folder, and the agent bridge.

The agent calls its subscribers on its scheduler thread; :class:`Bridge` turns those calls into
Qt signals of an object living on the main thread, so Qt queues them and every widget is touched
on the main thread only. UI actions go back to the agent as commands.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import zlib
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QLibraryInfo,
    QLocale,
    QObject,
    QSettings,
    QTimer,
    QTranslator,
    QUrl,
    Signal,
)
from PySide6.QtGui import QDesktopServices, QIcon
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QApplication

import resources
from agent import config as config_module
from agent import i18n
from agent.commands.common import config_path, data_dir, open_agent, setup_logging
from agent.config import Config, ConfigError
from agent.i18n import _
from agent.model import Alert, Status
from agent.presence import PresenceWatcher
from agent.quiet import follow_desktop

log = logging.getLogger(__name__)


class Bridge(QObject):
    """Agent callbacks (any thread) in, Qt signals (delivered on this object's thread) out."""

    status_changed = Signal(object)
    alerts_raised = Signal(object)
    first_look = Signal(object)  # the agent whose first look at the desktop is done

    def on_status(self, status: Status) -> None:
        self.status_changed.emit(status)

    def on_alerts(self, alerts: tuple[Alert, ...]) -> None:
        self.alerts_raised.emit(alerts)


def dashboard_status(status: Status) -> None:
    """The bridge's status for the dashboard when it is open. ``ui.dashboard`` (the owner's
    charts, QtCharts) is imported when its window is first opened, not by the tray's start;
    until then there is nothing to redraw."""
    dashboard = sys.modules.get("ui.dashboard")
    if dashboard is not None:
        dashboard.show_status(status)


# --------------------------------------------------------------------------- single instance


def instance_name(data_dir: Path) -> str:
    """One Ticketbell per data folder (the queue's folder): the demo and a real setup can run
    side by side, two copies on the same queue cannot. (Two checksums, not a cryptographic hash:
    ``hashlib`` would load OpenSSL into the tray's memory for a name.)"""
    path = str(data_dir.resolve()).encode()
    return f"ticketbell-{zlib.crc32(path):08x}{zlib.adler32(path):08x}"


def signal_running(name: str, timeout_ms: int = 1000) -> bool:
    """Ask a running instance to show itself; True when one answered."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(timeout_ms):
        return False
    socket.write(b"show\n")
    socket.flush()
    socket.waitForBytesWritten(timeout_ms)
    socket.disconnectFromServer()
    return True


class InstanceServer(QObject):
    """Listens for later starts; each one emits :attr:`activated`."""

    activated = Signal()

    def __init__(self, name: str) -> None:
        super().__init__()
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self.server.listen(name):
            # A socket left behind by a crashed instance: nobody answered signal_running().
            QLocalServer.removeServer(name)
            if not self.server.listen(name):
                log.warning("single-instance socket unavailable: %s", self.server.errorString())
        self.server.newConnection.connect(self._connection)

    def _connection(self) -> None:
        """Any connection is a later start asking us forward (the socket is this user's only);
        it is closed by the sender, we just let it go."""
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.disconnectFromServer()
            socket.deleteLater()
            self.activated.emit()

    def close(self) -> None:
        self.server.close()


# --------------------------------------------------------------------------- languages


def qt_translations_dirs() -> list[Path]:
    """Where Qt's own catalogues are: Qt's translations path, and PySide6's folder (the bundle
    keeps ``PySide6/Qt/translations/qtbase_<code>.qm`` for the languages we ship)."""
    import PySide6

    qt = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath))
    return [qt, Path(PySide6.__file__).parent / "Qt" / "translations"]


def speak(app: QApplication, language: str) -> QTranslator | None:
    """Speak ``language`` ("": the system's) from now on: our texts (``agent.i18n``) and Qt's
    own, the standard dialogs' buttons (``qtbase_<code>.qm``). Replaces the translator of an
    earlier call; returns the one installed (None: English, or Qt has no catalogue for it)."""
    chosen = i18n.use(language)
    code = chosen.code
    # what Qt writes itself (the dashboard's dates: "3 Dez.") in that language too, not in
    # the system's when Settings chose another
    QLocale.setDefault(QLocale(chosen.tag) if chosen.tag else QLocale.system())
    for old in app.findChildren(QTranslator, "ticketbell-qt"):
        app.removeTranslator(old)
        old.setObjectName("")  # deleted later: not found again before then
        old.deleteLater()
    if code == i18n.SOURCE_LANGUAGE:
        return None
    translator = QTranslator(app)
    translator.setObjectName("ticketbell-qt")
    if not any(translator.load(f"qtbase_{code}", str(d)) for d in qt_translations_dirs()):
        log.info("no Qt translations for %s", code)
        translator.deleteLater()
        return None
    app.installTranslator(translator)
    return translator


# --------------------------------------------------------------------------- the application


class TicketbellApp(QObject):
    """Owns the agent, the bridge, the tray and the dialogs for one run."""

    def __init__(self, args: argparse.Namespace, settings: QSettings | None = None) -> None:
        super().__init__()
        from ui.sound import SoundPlayer

        self.args = args
        self.qsettings = settings or QSettings("Ticketbell", "Ticketbell")
        self.agent: Any = None
        self.tray: Any = None
        self.config: Config | None = None
        self.bridge = Bridge()
        self.sound = SoundPlayer(self.qsettings, load=False)  # loaded once the icon is up
        self.dialog: Any = None
        self.setup_needed: Any = None  # the icon saying what is missing, before any config
        self.presence: PresenceWatcher | None = None
        self.bridge.first_look.connect(self._start_agent)

    # -- start-up

    def start(self) -> None:
        """Run on the demo, the config file, or guide the user to one."""
        if getattr(self.args, "demo", False):
            self.run_with(config_module.demo_config())
            return
        path = config_path(self.args)
        if not path.exists():
            self.open_wizard()
            return
        try:
            config = config_module.load(path)
        except ConfigError as exc:
            log.error("%s", exc)
            self.open_settings(error=exc)
            return
        self.run_with(config)

    def run_with(self, config: Config) -> None:
        """Start (or reconfigure) the agent and show the tray for ``config``.

        The icon comes first, with its tooltip; the agent's first poll, then the menu, then the
        sounds follow once the event loop runs (:meth:`_begin`), so a start shows the bell
        without waiting for them.
        """
        from ui.notifications import DesktopNotifier, session_bus_reachable
        from ui.tray import Tray

        self._close_setup_needed()
        self.config = config
        speak(_application([]), config.language)
        if self.agent is not None:
            self.sound.configure(config.alerts)
            self.agent.reconfigure(config)
            self.tray.config = config
            return
        self.agent = open_agent(config, self.args)
        group_by = str(self.qsettings.value("menu/group_by", "category"))
        icon = str(resources.path("ticketbell.svg"))
        notifier = DesktopNotifier(icon=icon) if session_bus_reachable() else None
        self.tray = Tray(
            self.agent,
            config,
            self.sound,
            group_by=group_by,
            status=self.agent.status,
            notifier=notifier,
            menu_later=True,
        )
        self.tray.settings_requested.connect(self.open_settings)
        self.tray.source_settings_requested.connect(self.open_source_settings)
        self.tray.quit_requested.connect(self.quit)
        self.tray.log_folder_requested.connect(self.open_log_folder)
        self.bridge.status_changed.connect(self.tray.show_status)
        self.bridge.status_changed.connect(dashboard_status)
        self.bridge.alerts_raised.connect(self.tray.show_alerts)
        self.agent.subscribe(self.bridge.on_status, self.bridge.on_alerts)
        self.tray.show()
        QTimer.singleShot(0, self._begin)
        if self.tray.tray is None:
            log.warning("no system tray on this desktop: showing the Ticketbell window instead")

    def _begin(self) -> None:
        """Right after the icon is up: look at the desktop (do-not-disturb, away: the first
        poll goes by them) on the presence thread; the agent starts once that look is done
        (:meth:`_start_agent`), and the event loop runs meanwhile."""
        if self.agent is None or self.config is None:
            return  # quit before the event loop ran
        agent = self.agent
        self.presence = follow_desktop(
            agent.quiet, agent.check_now, first_look=lambda: self.bridge.first_look.emit(agent)
        )

    def _start_agent(self, agent: Any) -> None:
        """The first look at the desktop is done: start the agent, then build the menu in the
        next turn of the event loop and load the sounds in the turn after (a burst that comes
        first loads them itself: SoundPlayer.play; opening the menu first builds it)."""
        if agent is not self.agent or self.config is None:
            return  # quit, or started again on other settings, meanwhile
        self.agent.start()
        log.info("ticketbell started with %d source(s)", len(self.config.sources))
        QTimer.singleShot(0, self._first_menu)

    def _first_menu(self) -> None:
        if self.tray is not None:
            self.tray.rebuild_menu()
        QTimer.singleShot(0, self._load_sounds)

    def _load_sounds(self) -> None:
        if self.config is not None and not self.sound.effects:
            self.sound.configure(self.config.alerts)

    # -- dialogs

    def open_wizard(self) -> None:
        from ui.settings import FirstRunWizard

        self.dialog = FirstRunWizard(config_path(self.args))
        self.dialog.finished_with.connect(self._wizard_done)
        self.dialog.show()

    def _wizard_done(self, config: object) -> None:
        if isinstance(config, Config):
            if self.dialog is not None and self.dialog.demo:
                self.args.demo = True  # the demo's own queue; nothing saved as the config
            self.run_with(config)
        elif self.agent is None:
            self.show_setup_needed(_("no helpdesk is set up yet (the set-up was closed)"))

    def show_setup_needed(self, missing: str) -> None:
        """No usable settings and no dialog: an icon that says so and offers the set-up."""
        from ui.settings.wizard import SetupNeeded

        self._close_setup_needed()
        self.setup_needed = SetupNeeded(missing)
        self.setup_needed.set_up.connect(self.start)
        self.setup_needed.quit_requested.connect(self.quit)

    def _close_setup_needed(self) -> None:
        if self.setup_needed is not None:
            self.setup_needed.close()
            self.setup_needed = None

    def _saved(self, config: Config) -> None:
        """Settings saved. The person's own settings saved from the demo: leave the demo."""
        if getattr(self.args, "demo", False) and not self.dialog.demo:
            self.shutdown()
            self.tray = None
            self.args.demo = False
        self.run_with(config)

    def open_settings(self, error: ConfigError | None = None) -> None:
        from ui.settings import SettingsDialog

        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.raise_()
            self.dialog.activateWindow()
            return
        path = config_path(self.args)
        demo = bool(getattr(self.args, "demo", False))
        self.dialog = SettingsDialog(
            path, self.config, error=error, sound_problem=self.sound.problem_shown, demo=demo
        )
        self.dialog.saved.connect(self._saved)
        self.dialog.test_sound.connect(lambda: self.sound.play("chime"))
        if self.agent is None:
            self.dialog.rejected.connect(
                lambda: self.show_setup_needed(
                    _("its settings cannot be used: {error}").format(error=error)
                )
            )
        self.dialog.show()

    def open_source_settings(self, name: str) -> None:
        """Settings, at the helpdesk ``name`` (a click on its error line or notification)."""
        self.open_settings()
        show_source = getattr(self.dialog, "show_source", None)
        if show_source is not None:
            show_source(name)

    def open_log_folder(self) -> None:
        folder = config_module.default_log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def activate(self) -> None:
        """Another start asked us to come forward."""
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.raise_()
            self.dialog.activateWindow()
        elif self.tray is not None:
            self.tray.popup()

    def quit(self) -> None:
        self.shutdown()
        QApplication.quit()

    def shutdown(self) -> None:
        self._close_setup_needed()
        if self.tray is not None:
            self.qsettings.setValue("menu/group_by", self.tray.group_by)
            self.tray.hide()
        if self.agent is not None:
            if self.presence is not None:
                self.presence.stop()
            self.agent.stop()
            self.agent = None


def _application(argv: list[str]) -> QApplication:
    """The QApplication (a test's, when one runs already)."""
    app = QApplication.instance()
    return app if isinstance(app, QApplication) else QApplication(argv)


def run_app(args: argparse.Namespace) -> int:
    """``ticketbell [--demo]``: the tray app. Returns the process exit code."""
    setup_logging(getattr(args, "verbose", 0))
    app = _application([sys.argv[0] if sys.argv else "ticketbell"])
    app.setApplicationName("Ticketbell")
    app.setOrganizationName("Ticketbell")
    app.setDesktopFileName("ticketbell")
    app.setWindowIcon(QIcon(str(resources.path("ticketbell.svg"))))
    app.setQuitOnLastWindowClosed(False)
    speak(app, "")  # the wizard's language, before there is a config
    name = instance_name(data_dir(args))
    if signal_running(name):
        print(_("ticketbell: already running; brought it forward"), file=sys.stderr)
        return 0
    server = InstanceServer(name)
    shell = TicketbellApp(args)
    server.activated.connect(shell.activate)
    app.aboutToQuit.connect(shell.shutdown)
    shell.start()
    # Ctrl+C and SIGTERM stop the agent cleanly: Python runs signal handlers only between
    # bytecodes, so a timer lets the interpreter in while Qt's loop waits. The handler only
    # asks the loop to quit: run in the handler, the quit came between any two bytecodes of
    # the main thread (inside code holding a lock the agent's stop then waits for), and one
    # that came before the loop ran was lost (QApplication.quit does nothing then), leaving
    # the app running after it was told to stop.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: QTimer.singleShot(0, shell.quit))
    ticker = QTimer()
    ticker.timeout.connect(lambda: None)
    ticker.start(500)
    try:
        return app.exec()
    finally:
        shell.shutdown()
        server.close()
