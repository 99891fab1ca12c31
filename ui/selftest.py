"""The Qt half of ``ticketbell --self-test``: platform plugin, system tray, chime.

Runs in the child process ``agent.selftest`` starts (``--self-test-qt``); returns the checks.
"""

from __future__ import annotations

import wave

from PySide6.QtCore import QEventLoop, QTimer, QUrl, qVersion
from PySide6.QtMultimedia import QMediaDevices, QSoundEffect
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

import resources
from agent.selftest import FAIL, OK, WARN, Check

CHIME = "chime.wav"


def qt_checks() -> list[Check]:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(["ticketbell"])  # aborts if no plugin starts
    checks = [Check("qt platform", OK, f"{app.platformName()} plugin loaded (Qt {qVersion()})")]
    if QSystemTrayIcon.isSystemTrayAvailable():
        checks.append(Check("tray", OK, "system tray available"))
    else:
        checks.append(
            Check(
                "tray",
                WARN,
                "no system tray on this desktop; Ticketbell still notifies and opens its "
                "window from the application menu",
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
        return Check("sound", FAIL, f"the chime {CHIME} cannot be read ({exc})")
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
    if status == QSoundEffect.Status.Ready:
        device = QMediaDevices.defaultAudioOutput().description()
        return Check("sound", OK, f"{CHIME} ({seconds:.1f} s) ready to play on {device}")
    if not QMediaDevices.audioOutputs():
        return Check(
            "sound", WARN, f"{CHIME} ({seconds:.1f} s) is fine, but there is no audio output here"
        )
    return Check("sound", FAIL, f"Qt cannot play {CHIME} (status {status.name})")
