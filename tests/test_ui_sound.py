"""Sounds: the WAVs we ship, one sound per burst, mute, quiet hours, off."""

from __future__ import annotations

import wave
from datetime import datetime, time, timedelta, timezone

import pytest
from PySide6.QtCore import QSettings, QUrl
from PySide6.QtMultimedia import QMediaDevices, QSoundEffect

import resources
from agent import i18n
from agent.config import Alerts
from agent.model import Alert
from ui.sound import SoundPlayer, sound_for

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def alert(kind: str, n: int = 0) -> Alert:
    return Alert(kind, NOW, f"{kind}{n}", "Demo", str(n), f"Subject {n}", "Billing")


@pytest.fixture
def player(qapp, tmp_path) -> SoundPlayer:
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    return SoundPlayer(settings, Alerts(), local_now=lambda now: now)  # local time = UTC here


@pytest.mark.parametrize("name", ["chime.wav", "urgent.wav"])
def test_sounds_are_real_wavs_of_our_own(name: str) -> None:
    with wave.open(str(resources.path(name)), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        seconds = w.getnframes() / w.getframerate()
        frames = w.readframes(w.getnframes())
    assert 0.5 <= seconds <= 2.0
    peak = max(
        abs(int.from_bytes(frames[i : i + 2], "little", signed=True))
        for i in range(0, len(frames), 2)
    )
    assert peak > 10_000  # audible, not silence


def test_chime_and_urgent_differ() -> None:
    chime = resources.path("chime.wav").read_bytes()
    assert chime != resources.path("urgent.wav").read_bytes()


def test_the_chime_plays_or_the_player_says_why_not(qtbot, player) -> None:
    """In this process Qt sees whatever audio the machine has; tests/test_ui_sound_server.py
    proves the chime reaches a real sound server in any case."""
    effect = QSoundEffect()
    effect.setSource(QUrl.fromLocalFile(str(resources.path("chime.wav"))))
    qtbot.waitUntil(lambda: effect.status() != QSoundEffect.Status.Loading, timeout=5000)
    if QMediaDevices.audioOutputs():
        assert player.problem == ""
        assert effect.status() == QSoundEffect.Status.Ready
        effect.play()
        qtbot.waitUntil(effect.isPlaying, timeout=5000)
    else:
        assert player.problem.startswith("no audio output device")


def test_one_sound_per_burst_urgent_wins() -> None:
    assert sound_for([alert("new", i) for i in range(5)]) == "chime"
    assert sound_for([alert("new", 1), alert("overdue", 2)]) == "urgent"
    assert sound_for([alert("due_soon")]) == "urgent"
    assert sound_for([alert("reminder")]) == "chime"
    assert sound_for([alert("summary")]) == "chime"  # a first sync: one chime
    assert sound_for([alert("answered")]) is None


def test_five_new_tickets_chime_once(player) -> None:
    assert player.play_for(tuple(alert("new", i) for i in range(5)), NOW) == "chime"
    assert player.requested == ["chime"]


def test_mute_for_a_while_then_sound_again(player) -> None:
    player.mute_for(timedelta(minutes=15), NOW)
    assert player.play_for((alert("new"),), NOW + timedelta(minutes=14)) is None
    assert player.note(NOW + timedelta(minutes=4)) == "Sound muted for 11 min"
    assert player.play_for((alert("overdue"),), NOW + timedelta(minutes=15)) == "urgent"
    assert player.requested == ["urgent"]


def test_mute_until_tomorrow_says_when_it_ends(player) -> None:
    """The tooltip said "Sound muted for 13 h 26 min" after "Until tomorrow"; a mute of more
    than an hour now says when it ends, and the last hour counts down as before."""
    player.mute_until_tomorrow(NOW)
    assert player.note(NOW) == f"Sound muted until {i18n.weekday_time(player.muted_until())}"
    assert "for" not in player.note(NOW)
    assert player.note(NOW + timedelta(hours=20, minutes=30)) == "Sound muted for 30 min"


def test_mute_survives_a_restart_and_unmute(player, tmp_path) -> None:
    player.mute_until_tomorrow(NOW)
    again = SoundPlayer(
        QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat),
        Alerts(),
        local_now=lambda now: now,
    )
    assert again.muted_until() == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert again.play_for((alert("new"),), NOW + timedelta(hours=20)) is None
    again.unmute()
    assert again.play_for((alert("new"),), NOW + timedelta(hours=20)) == "chime"


def test_quiet_hours_silence_sound_only_inside_them(player) -> None:
    player.configure(Alerts(quiet_hours=(time(22, 0), time(7, 0))))
    night = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert player.play_for((alert("overdue"),), night) is None
    assert player.silenced(night) == "quiet hours"
    morning = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert player.play_for((alert("overdue"),), morning) == "urgent"


def test_sound_off_and_custom_wav(player, tmp_path) -> None:
    player.configure(Alerts(sound="off"))
    assert player.play_for((alert("new"),), NOW) is None
    custom = tmp_path / "ding.wav"
    custom.write_bytes(resources.path("urgent.wav").read_bytes())
    player.configure(Alerts(sound=str(custom), volume=0.3))
    assert player.effects["chime"].source().toLocalFile() == str(custom)
    assert player.effects["chime"].volume() == pytest.approx(0.3, abs=0.01)
    assert player.play_for((alert("new"),), NOW) == "chime"


@pytest.mark.parametrize("name", ["bell", "knock", "urgent"])
def test_a_built_in_sound_by_name_plays_for_new_tickets(player, name: str) -> None:
    """``sound = "bell"`` passed the config's check and was then looked for as a file named
    "bell": new tickets rang nothing."""
    player.configure(Alerts(sound=name))
    assert player.effects["chime"].source().toLocalFile() == str(resources.path(f"{name}.wav"))
    assert player.play_for((alert("new"),), NOW) == "chime"


def test_a_burst_before_the_sounds_are_loaded_loads_them(qapp, tmp_path) -> None:
    """The tray app loads its sounds after the icon is up; an alert that comes first still
    gets its chime's sound set up (not silently dropped for a missing effect)."""
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    later = SoundPlayer(settings, Alerts(), load=False)
    assert later.effects == {}
    later.play_for((alert("new"),))
    assert later.requested == ["chime"]
    assert later.effects["chime"].source().toLocalFile().endswith("chime.wav")
    assert later.effects["urgent"].source().toLocalFile().endswith("urgent.wav")
