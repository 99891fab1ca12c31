"""The Qt half of ``ticketbell --self-test``: platform plugin, system tray, chime.

Runs in the child process ``agent.selftest`` starts (``--self-test-qt``); returns the checks.
"""

from __future__ import annotations

import wave

from babel.numbers import format_decimal
from PySide6.QtCore import QEventLoop, QTimer, QUrl, qVersion
from PySide6.QtMultimedia import QMediaDevices, QSoundEffect
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

import resources
from agent import i18n
from agent.i18n import _
from agent.selftest import FAIL, OK, WARN, Check

CHIME = "chime.wav"


def qt_checks() -> list[Check]:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(["ticketbell"])  # aborts if no plugin starts
    loaded = _("{plugin} plugin loaded (Qt {version})")
    checks = [
        Check("qt platform", OK, loaded.format(plugin=app.platformName(), version=qVersion()))
    ]
    if QSystemTrayIcon.isSystemTrayAvailable():
        checks.append(Check("tray", OK, _("system tray available")))
    else:
        checks.append(
            Check(
                "tray",
                WARN,
                _(
                    "no system tray on this desktop; Ticketbell still notifies and opens its "
                    "window from the application menu"
                ),
            )
        )
    checks.append(check_sound())
    return checks


def check_sound(timeout_ms: int = 5000) -> Check:
    try:
        path = resources.path(CHIME)
        with wave.open(str(path), "rb") as wav:
            seconds = wav.getnframes() / wav.getframerate()
    except (OSError, wave.Error, EOFError) as exc:
        said = _("the chime {file} cannot be read ({error})")
        return Check("sound", FAIL, said.format(file=CHIME, error=exc))
    effect = QSoundEffect()
    loop = QEventLoop()
    effect.statusChanged.connect(
        lambda: loop.quit() if effect.status() != QSoundEffect.Status.Loading else None
    )
    QTimer.singleShot(timeout_ms, loop.quit)
    effect.setSource(QUrl.fromLocalFile(str(path)))
    if effect.status() in (QSoundEffect.Status.Null, QSoundEffect.Status.Loading):
        loop.exec()
    status = effect.status()
    length = format_decimal(seconds, "0.0", locale=i18n.current().formats)  # "1,2" in German
    if status == QSoundEffect.Status.Ready:
        device = QMediaDevices.defaultAudioOutput().description()
        said = _("{file} ({seconds} s) ready to play on {device}")
        return Check("sound", OK, said.format(file=CHIME, seconds=length, device=device))
    if not QMediaDevices.audioOutputs():
        said = _("{file} ({seconds} s) is fine, but there is no audio output here")
        return Check("sound", WARN, said.format(file=CHIME, seconds=length))
    said = _("Qt cannot play {file} (status {status})")
    return Check("sound", FAIL, said.format(file=CHIME, status=status.name))
