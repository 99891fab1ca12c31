"""The tray honours the agent's quiet decision (the real sound player, as test_ui_sound.py):
no sound for held alerts, an alert's own sound (VIP, priority, helpdesk) over its kind's, the
built-in sounds real WAVs."""

from __future__ import annotations

import wave
from datetime import datetime, timezone

import pytest
from PySide6.QtCore import QSettings

import resources
from agent.config import Alerts
from agent.config.schema import BUILT_IN_SOUNDS
from agent.model import Alert
from ui.sound import SoundPlayer, sound_for

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)


def alert(kind: str, hold: str = "", sound: str = "") -> Alert:
    return Alert(
        kind, NOW, f"{kind}-{hold}-{sound}", "Shop", "1", "Subject", hold=hold, sound=sound
    )


@pytest.fixture
def player(qapp, tmp_path) -> SoundPlayer:
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    return SoundPlayer(settings, Alerts(), local_now=lambda now: now)


@pytest.mark.parametrize("name", BUILT_IN_SOUNDS)
def test_every_built_in_sound_is_a_real_wav(name: str) -> None:
    with wave.open(str(resources.path(f"{name}.wav")), "rb") as w:
        frames = w.readframes(w.getnframes())
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
    peak = max(
        abs(int.from_bytes(frames[i : i + 2], "little", signed=True))
        for i in range(0, len(frames), 2)
    )
    assert peak > 10_000


def test_held_alerts_ask_for_no_sound() -> None:
    assert sound_for([alert("new", hold="do not disturb")]) is None
    assert sound_for([alert("overdue", hold="away"), alert("new", hold="away")]) is None
    # what broke through still sounds, as its kind says
    assert sound_for([alert("overdue"), alert("new", hold="do not disturb")]) == "urgent"
    assert sound_for([alert("while_away")]) is None  # the summary when back is silent
    assert sound_for([alert("gathered")]) == "chime"


def test_an_alerts_own_sound_wins() -> None:
    assert sound_for([alert("new", sound="bell")]) == "bell"
    assert sound_for([alert("overdue", sound="knock")]) == "knock"
    assert sound_for([alert("new", sound="off")]) is None
    assert sound_for([alert("new", hold="gathered", sound="bell")]) is None


def test_player_plays_nothing_for_held_and_the_own_sound_otherwise(player, tmp_path) -> None:
    assert player.play_for((alert("new", hold="do not disturb"),), NOW) is None
    assert player.requested == []
    assert player.play_for((alert("new", sound="bell"),), NOW) == "bell"
    wav = tmp_path / "ding.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 800)
    assert player.play_for((alert("new", sound=str(wav)),), NOW) == str(wav)
    assert player.requested == ["bell", str(wav)]
    assert str(wav) in player.effects  # loaded once, kept for the next time
