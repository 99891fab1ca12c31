"""The audible alert: which sound a burst of alerts gets, and when to stay silent.

One sound per burst (five new tickets in one poll chime once): the chime for new tickets and
reminders, the urgent sound when anything is due soon, overdue or escalated. Silence while muted
(until a time, which the tooltip counts down), during the configured quiet hours (the badge and
escalation go on) or with ``sound = "off"``. Sounds play through QSoundEffect; when no audio
device works, that is logged once and shown in Settings (:attr:`SoundPlayer.problem`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, QUrl

import resources
from agent import i18n
from agent.config import Alerts
from agent.config.schema import BUILT_IN_SOUNDS
from agent.i18n import N_, _
from agent.model import UTC, Alert, parse_time, utcnow
from agent.policy import in_quiet_hours, tomorrow_morning

if TYPE_CHECKING:
    from PySide6.QtMultimedia import QSoundEffect

log = logging.getLogger(__name__)

CHIME, URGENT = "chime", "urgent"


def chime_path(sound: str) -> Path:
    """The file of ``[alerts] sound``, which plays for new tickets: a built-in sound's name
    ("bell" was taken for a file named bell in the working folder, and never played), "off"
    (the chime stays loaded for the Settings' Play button), or a .wav file of one's own."""
    if sound in BUILT_IN_SOUNDS:
        return resources.path(f"{sound}.wav")
    return resources.path("chime.wav") if sound in ("off", "") else Path(sound).expanduser()


URGENT_KINDS = ("due_soon", "overdue", "escalated")
CHIME_KINDS = ("new", "summary", "reminder", "source_down", "gathered")
MUTE_KEY = "sound/muted_until"


def sound_for(alerts: tuple[Alert, ...] | list[Alert]) -> str | None:
    """Which sound a burst gets: ``"urgent"``, ``"chime"`` or None (nothing worth a sound).

    Held alerts (do-not-disturb, away, gathered: ``Alert.hold``) ask for none; an alert's own
    sound (its VIP rule's, its priority's, its helpdesk's: ``Alert.sound``) wins over its kind's.
    """
    heard = [a for a in alerts if not a.hold and a.kind in (*URGENT_KINDS, *CHIME_KINDS)]
    kinds = {a.kind for a in heard}
    name = URGENT if kinds & set(URGENT_KINDS) else CHIME if heard else None
    own = next((a.sound for a in heard if a.sound), "")
    return None if own == "off" else own or name


class SoundPlayer(QObject):
    """Plays the chime and the urgent sound; owns mute (kept in QSettings across restarts)."""

    def __init__(
        self,
        settings: QSettings,
        alerts: Alerts | None = None,
        *,
        local_now: Callable[[datetime], datetime] = lambda now: now.astimezone(),
        load: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.local_now = local_now
        self.alerts = alerts or Alerts()
        self.effects: dict[str, QSoundEffect] = {}
        self.problem = ""  # a sentence for the log when sounds cannot play here
        self.problem_shown = ""  # the same for Settings, in the person's language
        self.requested: list[str] = []  # every sound this player was asked to play, in order
        if load:  # the tray app loads the sounds once its icon is up (see configure)
            self.configure(self.alerts)

    # -- configuration

    def configure(self, alerts: Alerts) -> None:
        # QtMultimedia is imported here, not at the top: the tray app loads the sounds after
        # its icon is up, so a start does not wait for the multimedia stack
        from PySide6.QtMultimedia import QMediaDevices, QSoundEffect

        self.alerts = alerts
        paths = {CHIME: chime_path(alerts.sound), URGENT: resources.path("urgent.wav")}
        paths.update({name: resources.path(f"{name}.wav") for name in ("bell", "knock")})
        for name, path in paths.items():
            effect = self.effects.get(name)
            if effect is None:
                effect = QSoundEffect(self)
                effect.statusChanged.connect(lambda n=name: self._status_changed(n))
                self.effects[name] = effect
            url = QUrl.fromLocalFile(str(path))
            if effect.source() != url:
                effect.setSource(url)
            effect.setVolume(alerts.volume)
        if not QMediaDevices.audioOutputs():
            self._report(N_("no audio output device was found, so Ticketbell cannot play sounds"))

    def _status_changed(self, name: str) -> None:
        from PySide6.QtMultimedia import QMediaDevices, QSoundEffect

        effect = self.effects[name]
        if effect.status() == QSoundEffect.Status.Error:
            if not QMediaDevices.audioOutputs():
                self._report(
                    N_("no audio output device was found, so Ticketbell cannot play sounds")
                )
            else:
                path = effect.source().toLocalFile()
                self._report(
                    N_("the sound {path} cannot be played (not a readable WAV file?)"), path
                )

    def _report(self, problem: str, path: str = "") -> None:
        """``problem``: an English text, with ``{path}`` where it names the file."""
        self.problem_shown = _(problem).format(path=path)
        problem = problem.format(path=path)
        if problem != self.problem:
            self.problem = problem
            log.warning("sound: %s; Ticketbell goes on without it", problem)

    # -- mute

    def muted_until(self) -> datetime | None:
        value = self.settings.value(MUTE_KEY, "")
        try:
            return parse_time(str(value)) if value else None
        except ValueError:
            return None

    def muted(self, now: datetime) -> bool:
        until = self.muted_until()
        return until is not None and now < until

    def mute_for(self, span: timedelta, now: datetime) -> None:
        self._set_mute(now + span)

    def mute_until_tomorrow(self, now: datetime) -> None:
        """Until tomorrow morning, local time (the rule: ``policy.tomorrow_morning``)."""
        self._set_mute(tomorrow_morning(self.local_now(now)))

    def unmute(self) -> None:
        self.settings.remove(MUTE_KEY)
        self.settings.sync()

    def _set_mute(self, until: datetime) -> None:
        self.settings.setValue(MUTE_KEY, until.astimezone(UTC).isoformat())
        self.settings.sync()

    def silenced(self, now: datetime) -> str:
        """Why no sound plays now ("" when it would)."""
        if self.alerts.sound == "off":
            return "sound is off"
        until = self.muted_until()
        if until is not None and now < until:
            return f"muted for {_left(until - now)}"
        if in_quiet_hours(self.local_now(now), self.alerts.quiet_hours):
            return "quiet hours"
        return ""

    def note(self, now: datetime) -> str:
        """For the tooltip and the menu: "Sound muted for 12 min" or "" (in the person's
        language; :meth:`silenced` is the log's English)."""
        why, until = self.silenced(now), self.muted_until()
        if why.startswith("muted") and until is not None and until - now > timedelta(hours=1):
            # "until tomorrow" reads as the time it ends, not "for 13 h 26 min"
            return _("Sound muted until {time}").format(time=i18n.weekday_time(until))
        if why.startswith("muted") and until is not None:
            return _("Sound muted for {duration}").format(duration=_left(until - now))
        if why == "quiet hours":
            return _("Sound off: quiet hours")
        return _("Sound off: sound is off") if why else ""

    # -- playing

    def play_for(self, alerts: tuple[Alert, ...], now: datetime | None = None) -> str | None:
        """Play one sound for this burst; returns which one, or None when it stays silent."""
        name = sound_for(alerts)
        if name is None:
            return None
        now = now or utcnow()
        why = self.silenced(now)
        if why:
            log.debug("no sound for %d alert(s): %s", len(alerts), why)
            return None
        self.play(name)
        return name

    def play(self, name: str) -> bool:
        """Start ``name``; False when it cannot play here or another sound is still playing."""
        self.requested.append(name)
        if not self.effects:  # made with load=False and not configured yet
            self.configure(self.alerts)
        effect = self.effects.get(name) or self._wav(name)
        if effect is None or effect.status() == effect.Status.Error:
            return False
        if any(e.isPlaying() for e in self.effects.values()):
            return False  # one sound at a time: a second burst does not stack on the first
        effect.play()
        return True

    def _wav(self, name: str) -> QSoundEffect | None:
        """A .wav file an alert asks for (a source's or VIP's own sound), loaded once."""
        from PySide6.QtMultimedia import QSoundEffect

        path = Path(name).expanduser()
        if path.suffix.lower() != ".wav" or not path.is_file():
            return None
        effect = QSoundEffect(self)
        self.effects[name] = effect  # before setSource, whose status change looks it up
        effect.statusChanged.connect(lambda: self._status_changed(name))
        effect.setSource(QUrl.fromLocalFile(str(path)))
        effect.setVolume(self.alerts.volume)
        return effect


def _left(delta: timedelta) -> str:
    minutes = max(1, int((delta.total_seconds() + 59) // 60))
    if i18n.current().code != i18n.SOURCE_LANGUAGE:
        return i18n.duration(timedelta(minutes=minutes))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
